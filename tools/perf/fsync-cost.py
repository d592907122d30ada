#!/usr/bin/env python3
"""What one fdatasync costs in CPU on this machine's disk (not only in time).

A broker's Accepted waits for its group commit's fdatasync; at a light load every submission
has a commit of its own, so this cost is a floor under the broker's CPU per escalation (issue
11's "under 0.15 cores at 1,000/s"). On a virtual machine the flush goes through the
hypervisor, and the kernel's share of it is charged to the process that asked.

    python3 tools/perf/fsync-cost.py [--dir DIR] [--count N] [--bytes B]

Appends B bytes N times without syncing, then N times with an fdatasync after each append, in
a file of DIR (default: the current directory; give the broker's data directory's file system),
and prints the CPU (user + system, from getrusage) and the wall time per operation. The file is
removed at the end.
"""
import argparse
import os
import resource
import time


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=".", help="where the probe file is written")
    parser.add_argument("--count", type=int, default=3000, help="appends per phase")
    parser.add_argument("--bytes", type=int, default=2048, help="bytes per append")
    args = parser.parse_args()
    path = os.path.join(args.dir, ".fsync-cost-probe.%d" % os.getpid())
    record = b"x" * args.bytes
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        start_cpu, start_wall = cpu_seconds(), time.monotonic()
        for _ in range(args.count):
            os.write(fd, record)
        appended_cpu = cpu_seconds()
        synced_wall = time.monotonic()
        for _ in range(args.count):
            os.write(fd, record)
            os.fdatasync(fd)
        end_cpu, end_wall = cpu_seconds(), time.monotonic()
    finally:
        os.close(fd)
        os.unlink(path)
    append_us = (appended_cpu - start_cpu) / args.count * 1e6
    synced_us = (end_cpu - appended_cpu) / args.count * 1e6
    print("%d appends of %d bytes in %s" % (args.count, args.bytes, os.path.abspath(args.dir)))
    print("  append alone:        %6.1f us CPU" % append_us)
    print("  append + fdatasync:  %6.1f us CPU, %.3f ms wall" %
          (synced_us, (end_wall - synced_wall) / args.count * 1e3))
    print("  fdatasync's own CPU: %6.1f us" % (synced_us - append_us))


if __name__ == "__main__":
    main()
