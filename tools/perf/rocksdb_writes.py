#!/usr/bin/env python3
"""Bytes RocksDB wrote per column family, from a store's LOG files: flushed (memtables written
out) and rewritten by compaction (trivial moves write nothing), and their ratio.

    tools/perf/rocksdb_writes.py DATA_DIR/LOG [DATA_DIR/LOG.old.* ...]

A family whose compaction rewrites several times what was flushed takes writes across its key
range (or in interleaved streams): its files overlap and every level merges them again
(store/KEY_LAYOUT.md). Reads the EVENT_LOG_v1 lines (flush_started, compaction_started,
table_file_creation), which RocksDB writes by default.
"""
import collections
import json
import sys


def main(paths):
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    written = collections.Counter()
    for path in paths:
        jobs = {}
        with open(path, errors="replace") as log:
            for line in log:
                at = line.find("EVENT_LOG_v1")
                if at < 0:
                    continue
                try:
                    event = json.loads(line[at + len("EVENT_LOG_v1"):])
                except json.JSONDecodeError:
                    continue
                kind = event.get("event")
                if kind == "flush_started":
                    jobs[event["job"]] = "flush"
                elif kind == "compaction_started":
                    jobs[event["job"]] = "compaction"
                elif kind == "table_file_creation":
                    job = jobs.get(event.get("job"), "other")
                    written[(event.get("cf_name", "?"), job)] += event.get("file_size", 0)
    families = sorted({family for family, _ in written})
    print(f"{'family':<22}{'flushed MB':>12}{'compacted MB':>14}{'ratio':>7}")
    for family in families:
        flushed = written[(family, "flush")] / 1e6
        compacted = written[(family, "compaction")] / 1e6
        ratio = f"{compacted / flushed:.1f}" if flushed else "-"
        print(f"{family:<22}{flushed:>12.1f}{compacted:>14.1f}{ratio:>7}")
    flushed = sum(v for (_, job), v in written.items() if job == "flush") / 1e6
    compacted = sum(v for (_, job), v in written.items() if job == "compaction") / 1e6
    print(f"{'all':<22}{flushed:>12.1f}{compacted:>14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
