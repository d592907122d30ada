// The disk alone at the latency runner's rate, for comparison with the broker's figures: records
// due at start + i / rate; whenever the disk is free, every record due by then is appended in one
// write and fdatasync'ed (the best a group commit can do), and each is timed from its due instant
// (open loop, like the latency runner: a slow sync delays the records behind it and the delay is
// counted). The file is preallocated without changing its size, as RocksDB keeps its WAL, so each
// sync also records the new end of file. Nothing else is done per record: no encoding, memtable,
// network or thread hand-off.
// It runs after the window, on the broker's file system, so it samples another moment of a disk
// that may be shared: a reference, not a bound. The broker's own commit times in the window are
// read from its /metrics (metrics_histogram.h). docs/BENCHMARKS.md, "The disk under the
// latency targets".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "tools/bench/latency_summary.h"

namespace aplus::bench {

struct DiskProbeOptions {
  std::string directory;       // where the probe file is created (and removed)
  double rate = 1000;          // records per second
  double seconds = 3;          // how long
  size_t record_bytes = 2048;  // one escalation's share of a WAL write, about 2 KB
};

struct DiskProbe {
  LatencySummary append_sync;  // a record's due instant -> the fdatasync covering it returned
  uint64_t syncs = 0;          // group commits (one write + one fdatasync each)
  double sync_ms_total = 0;    // time spent inside fdatasync
  bool preallocated = false;   // false where the file system refused fallocate (tmpfs, full)
};

// Errors: INVALID_ARGUMENT for a rate, duration or record count out of range; INTERNAL when the
// file cannot be created or written (the error in the message). The probe file is removed in
// every case but a kill.
Result<DiskProbe> ProbeDisk(const DiskProbeOptions& options);

}  // namespace aplus::bench
