#!/bin/bash
# What operators' reads cost the network: a broker holding a store filled by the bench is
# scraped and asked for SLA boards and reports while an open-loop load runs, for one or two
# builds in turn on copies of the same store (docs/BENCHMARKS.md, "Metrics cost").
#
#   tools/perf/reads-under-load.sh WORK_DIR BIN_DIR [OTHER_BIN_DIR]
#
# WORK_DIR receives the filled store (kept and reused: delete it for a new fill, made by the
# first BIN_DIR's aplus-bench; FILL_SECONDS, default 25), the copies and the logs. Each BIN_DIR
# holds aplus-broker, aplus and aplus-bench. Prints, per build: the time to serve, three
# /metrics scrapes, a board and a report alone, then submit->Accepted at 1,000/s for 10 s,
# quiet, and again while a loop asks for a board and scrapes /metrics every second.
set -u
if [ $# -lt 2 ]; then
  sed -n '2,12p' "$0"
  exit 2
fi
WORK=$1
shift
FIRST=$1
mkdir -p "$WORK"
if [ ! -d "$WORK/fill/broker" ]; then
  "$FIRST/aplus-bench" --mode throughput --seconds "${FILL_SECONDS:-25}" --data-dir "$WORK/fill" \
    --keep-data > "$WORK/fill.txt" 2>&1 || { tail "$WORK/fill.txt"; exit 1; }
  grep "submits sent" "$WORK/fill.txt"
fi
KEYS=$WORK/fill/keys
n=0
for bin in "$@"; do
  n=$((n + 1))
  side="build$n"
  rm -rf "${WORK:?}/$side"
  cp -a "$WORK/fill/broker" "$WORK/$side"
  port=$((30000 + RANDOM % 20000)); http=$((port + 1)); alerts=$((port + 2))
  started=$(date +%s%N)
  "$bin/aplus-broker" --listen tcp://127.0.0.1:$port --alerts tcp://127.0.0.1:$alerts \
    --data-dir "$WORK/$side" --http-listen 127.0.0.1:$http --rate-limit 0 --max-open-cases 0 \
    --key "$KEYS/broker.key" --keyring "$WORK/fill/keyring" > "$WORK/$side.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do curl -sf -o /dev/null http://127.0.0.1:$http/health && break; sleep 0.05; done
  echo "$side ($bin): serving after $(( ($(date +%s%N) - started) / 1000000 )) ms"
  for i in 1 2 3; do
    curl -s -o /dev/null -w "$side: scrape $i %{time_total} s\n" http://127.0.0.1:$http/metrics
  done
  operator=(--broker tcp://127.0.0.1:$port --operator operator --key "$KEYS/op.operator.key"
            --broker-key "$KEYS/broker.pub")
  /usr/bin/time -f "$side: sla-board alone %e s" "$bin/aplus" sla-board "${operator[@]}" > /dev/null
  /usr/bin/time -f "$side: report alone %e s" "$bin/aplus" report "${operator[@]}" > /dev/null
  load=(--mode latency --rate 1000 --seconds 10 --broker tcp://127.0.0.1:$port --keys "$KEYS")
  "$bin/aplus-bench" "${load[@]}" > "$WORK/$side-quiet.txt" 2>&1
  grep "submit->Accepted" "$WORK/$side-quiet.txt" | head -1 | sed "s/^ */$side quiet: /"
  ( until_s=$(( $(date +%s) + 14 ))
    while [ "$(date +%s)" -lt $until_s ]; do
      "$bin/aplus" sla-board "${operator[@]}" > /dev/null 2>&1
      curl -s -o /dev/null http://127.0.0.1:$http/metrics
      sleep 1
    done ) &
  reads=$!
  "$bin/aplus-bench" "${load[@]}" > "$WORK/$side-reads.txt" 2>&1
  wait $reads
  grep "submit->Accepted" "$WORK/$side-reads.txt" | head -1 | sed "s/^ */$side with boards and scrapes: /"
  kill $pid
  wait $pid
  grep -h "at risk counted" "$WORK/$side.log"
done
