// The data directory's own floor under the latency targets. A broker answers Accepted only
// after its group commit's write-ahead-log record is fdatasync'ed, so no submit->Accepted
// percentile can beat the same percentile of the best possible group commit on the same disk at
// the same rate: records due at start + i / rate; whenever the disk is free, every record due by
// then is appended in one write and fdatasync'ed, and each is timed from its due instant (open
// loop, like the latency runner: a slow sync delays the records behind it and the delay is
// counted). The file is preallocated without changing its size, as RocksDB keeps its WAL, so
// each sync also records the new end of file. Nothing else is done per record: no encoding, no
// memtable, no network, no thread hand-off. The bench runs it in the same run as the broker's
// window, so the two figures share the machine's state (docs/BENCHMARKS.md, "The disk's floor").
#pragma once

#include <cstddef>
#include <string>

#include "common/status.h"
#include "tools/bench/latency_summary.h"

namespace aplus::bench {

struct DiskFloorOptions {
  std::string directory;       // where the probe file is created (and removed)
  double rate = 1000;          // appends per second
  double seconds = 3;          // how long
  size_t record_bytes = 2048;  // one escalation's share of a WAL write, about 2 KB
};

struct DiskFloor {
  LatencySummary append_sync;  // a record's due instant -> the fdatasync covering it returned
  uint64_t syncs = 0;          // group commits (one write + one fdatasync each)
  double sync_ms_total = 0;    // time spent inside fdatasync
};

// Errors: INVALID_ARGUMENT for a rate or duration out of range, INTERNAL when the file cannot be
// created or written (its errno in the message). The probe file is removed in every case.
Result<DiskFloor> MeasureDiskFloor(const DiskFloorOptions& options);

}  // namespace aplus::bench
