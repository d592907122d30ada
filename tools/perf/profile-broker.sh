#!/usr/bin/env bash
# Profiles the broker under a benchmark load: starts `aplus-bench` (which starts its own broker),
# waits for the measured window, then attaches to that broker for N seconds with
#   perf stat -e task-clock,context-switches,cpu-migrations   (CPU used, wakeups)
#   perf record -F 999 -g (or --call-graph dwarf), kernel frames included when allowed
#   strace -c -f (optional, --strace: syscall counts; it slows the broker, so a separate pass)
# and writes into OUT (default build/perf/<name>/):
#   perf.data, stat.txt, strace.txt, bench.txt (the bench's own report),
#   <name>.svg (flame graph) and top.txt (top functions, self and total), via flamegraph.py.
#
#   tools/perf/profile-broker.sh --mode latency --rate 1000 --seconds 5 --name light-1000
#   tools/perf/profile-broker.sh --mode throughput --seconds 5 --dwarf
#   tools/perf/profile-broker.sh --mode latency --rate 1000 --strace -- --threads 1
#
# Arguments after "--" go to aplus-bench as they are. Needs perf (Debian: linux-perf) and, for
# --strace, strace; root or kernel.perf_event_paranoid <= 1 for kernel frames. Everything this
# script starts is stopped by pid at its end (the bench stops its broker).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${APLUS_BIN_DIR:-$repo/build/bin}"

mode=latency rate=1000 seconds=5 name="" out="" dwarf=0 with_strace=0 warmup=2
bench_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --mode) mode="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;   # how long perf listens
    --warmup) warmup="$2"; shift 2 ;;     # seconds of load before perf attaches
    --name) name="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --dwarf) dwarf=1; shift ;;
    --strace) with_strace=1; shift ;;
    --) shift; bench_args=("$@"); break ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$name" ] || name="broker-$mode${rate:+-$rate}"
[ "$mode" = throughput ] && [ "$name" = "broker-throughput-$rate" ] && name=broker-throughput
[ -n "$out" ] || out="$repo/build/perf/$name"
mkdir -p "$out"
command -v perf >/dev/null || { echo "perf not found (Debian: apt-get install linux-perf)" >&2; exit 1; }
[ -x "$bin/aplus-bench" ] || { echo "$bin/aplus-bench not built" >&2; exit 1; }

# The bench runs long enough for warm-up, perf, and strace's pass, whatever its own warm-up.
listen=$seconds
[ "$with_strace" -eq 1 ] && listen=$((seconds * 2 + 1))
bench_seconds=$((warmup + listen + 2))
bench_cmd=("$bin/aplus-bench" --mode "$mode" --seconds "$bench_seconds")
[ "$mode" = latency ] && bench_cmd+=(--rate "$rate")
bench_cmd+=("${bench_args[@]}")

echo "profile: ${bench_cmd[*]}  ->  $out" >&2
"${bench_cmd[@]}" > "$out/bench.txt" 2>&1 &
bench_pid=$!
cleanup() { kill "$bench_pid" 2>/dev/null || true; }
trap cleanup EXIT

# The broker is the bench's child (tools/bench/broker_process.cc); it prints "ready" first.
broker_pid=""
for _ in $(seq 1 300); do
  broker_pid=$(pgrep -P "$bench_pid" -x aplus-broker || true)
  [ -n "$broker_pid" ] && break
  kill -0 "$bench_pid" 2>/dev/null || { cat "$out/bench.txt" >&2; exit 1; }
  sleep 0.1
done
[ -n "$broker_pid" ] || { echo "no broker under the bench (pid $bench_pid)" >&2; exit 1; }
# Connections, Hellos and the bench's own warm-up (1 s) come first.
sleep "$((warmup + 1))"

callgraph=(-g)
[ "$dwarf" -eq 1 ] && callgraph=(--call-graph dwarf,16384)
others=$(ps -eo pid=,pcpu=,comm= | awk -v b="$broker_pid" -v p="$bench_pid" \
  '$1 != b && $1 != p && $2 > 5 {printf "%s(%s%%) ", $3, $2}')
echo "broker pid $broker_pid; other busy processes at the start: ${others:-none}" | tee "$out/others.txt" >&2
perf stat -e task-clock,context-switches,cpu-migrations,page-faults -p "$broker_pid" \
  -o "$out/stat.txt" -- sleep "$seconds" &
stat_pid=$!
perf record -F 999 "${callgraph[@]}" -p "$broker_pid" -o "$out/perf.data" -- sleep "$seconds" \
  > "$out/record.txt" 2>&1
wait "$stat_pid" || true
if [ "$with_strace" -eq 1 ] && command -v strace >/dev/null; then
  timeout -s INT "$seconds" strace -c -f -p "$broker_pid" -o "$out/strace.txt" 2>/dev/null || true
fi
wait "$bench_pid" || echo "aplus-bench exited with $? (see $out/bench.txt)" >&2
trap - EXIT

perf script --no-inline -i "$out/perf.data" 2>/dev/null > "$out/perf.script"
python3 "$here/flamegraph.py" "$out/perf.script" \
  --title "aplus-broker: $mode${rate:+ at $rate/s} ($seconds s)" > "$out/$name.svg"
python3 "$here/flamegraph.py" "$out/perf.script" --top 30 > "$out/top.txt"
rm -f "$out/perf.script"
echo "== $out/stat.txt" >&2; grep -E 'task-clock|context|migrations|elapsed' "$out/stat.txt" >&2 || true
echo "== $out/top.txt (head)" >&2; head -20 "$out/top.txt" >&2
echo "written: $out/$name.svg $out/top.txt $out/stat.txt $out/bench.txt" >&2
