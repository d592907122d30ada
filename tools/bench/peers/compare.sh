#!/usr/bin/env bash
# A+ side by side with RabbitMQ (quorum queue) and NATS JetStream (file store), in one run on
# this machine (issue 11). Starts rabbitmq-server and nats-server as the current user on
# loopback, on free ports, with durable storage under a fresh /tmp directory; runs the pinned
# workload on each with aplus-peer-bench (100,000 persistent 1 KB messages, at most 1,000
# unconfirmed, one consumer with prefetch / MaxAckPending 1,000 acknowledging every message;
# then open loop at each --rates rate; a second NATS server set to fsync before the ack where
# nats-server has `sync_interval: always`, 2.10+); stops the servers; runs aplus-bench --mode throughput
# and --mode latency at the same rates; prints one table with A+'s ratios to each peer.
# Servers are stopped and their data removed at the end, also on errors and Ctrl-C.
#
#   bash tools/bench/peers/compare.sh [--install] [--messages N] [--seconds S]
#                                     [--aplus-seconds S] [--rates "1000 5000"] [--out DIR]
#
# --install   apt-get install rabbitmq-server nats-server librabbitmq-dev libnats-dev first
#             (root), then build aplus-peer-bench; without it, what is missing is named.
# --out DIR   keep every JSON result and the table there (default: only printed).
# Takes about 2 minutes with the defaults (RabbitMQ's start ~10 s, each latency run
# warm-up + --seconds, A+'s throughput --aplus-seconds + drain). Not part of .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../../.."
repo=$(pwd)

install=0
messages=100000
seconds=10
aplus_seconds=10
rates="1000 5000"
out=""
per_run_timeout=300
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --install) install=1 ;;
    --messages) messages=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --aplus-seconds) aplus_seconds=$2; shift ;;
    --rates) rates=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

say() { echo "== $*" >&2; }

if [ "$install" -eq 1 ]; then
  say "installing rabbitmq-server nats-server librabbitmq-dev libnats-dev"
  apt-get install -y rabbitmq-server nats-server librabbitmq-dev libnats-dev >&2
  cmake -S . -B build >/dev/null
  cmake --build build -j"$(bash deploy/cpu-count.sh)" --target aplus-peer-bench aplus-bench aplus-broker >&2
fi
missing=()
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
command -v nats-server >/dev/null || missing+=(nats-server)
[ -x build/bin/aplus-peer-bench ] || missing+=("build/bin/aplus-peer-bench (librabbitmq-dev, libnats-dev, then cmake)")
[ -x build/bin/aplus-bench ] && [ -x build/bin/aplus-broker ] || missing+=("build/bin/aplus-bench and aplus-broker")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'compare.sh: missing: %s\n' "${missing[@]}" >&2
  echo "compare.sh: run with --install (as root), or install them and build" >&2
  exit 1
fi

work=$(mktemp -d /tmp/aplus-peers-XXXXXX)
results=$work/results
mkdir -p "$results"
nats_pid=""
nats_sync_pid=""
rabbit_pid=""
rabbit_env=()
epmd_port=""

stop_pid() {
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill "$1" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
  fi
}
stop_nats() {
  stop_pid "$nats_pid"
  stop_pid "$nats_sync_pid"
  nats_pid=""
  nats_sync_pid=""
}
stop_rabbit() {
  if [ -n "$rabbit_pid" ] && kill -0 "$rabbit_pid" 2>/dev/null; then
    env "${rabbit_env[@]}" timeout 60 /usr/lib/rabbitmq/bin/rabbitmqctl -n "$rabbit_node" stop \
      >/dev/null 2>&1 || true
    for _ in $(seq 100); do kill -0 "$rabbit_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$rabbit_pid" 2>/dev/null || true
  fi
  rabbit_pid=""
  # The node's own epmd (on its own port): asked to stop, never another one. It refuses while
  # the node is still registered, so asked again for a few seconds.
  if [ -n "$epmd_port" ]; then
    for _ in $(seq 50); do
      timeout 5 epmd -port "$epmd_port" -kill >/dev/null 2>&1 || true
      timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$epmd_port" 2>/dev/null || break
      sleep 0.1
    done
    epmd_port=""
  fi
}
child=""
cleanup() {
  local status=$?
  # A run under way (timeout forwards the signal to it), then the servers.
  if [ -n "$child" ]; then kill "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; fi
  stop_nats
  stop_rabbit
  if [ -n "$out" ] && [ -d "$results" ]; then
    mkdir -p "$out"
    cp "$results"/* "$out"/ 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_ports() {  # N distinct free TCP ports on 127.0.0.1
  python3 - "$1" <<'EOF'
import socket, sys
sockets = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    sockets.append(s)
print(" ".join(str(s.getsockname()[1]) for s in sockets))
EOF
}
wait_port() {  # PORT SECONDS NAME PID: until the port accepts a connection
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$4" 2>/dev/null; then
      echo "compare.sh: $3 exited before listening" >&2
      return 1
    fi
    if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "compare.sh: $3 did not listen on 127.0.0.1:$1 within $2 s" >&2
  return 1
}

read -r amqp_port dist_port epmd_port nats_port nats_sync_port < <(free_ports 5)

# A system instance the packages may have started uses its own node name, ports and epmd: it is
# not in the way and is left alone, but it shares the cores, so it is named.
others=$(ps -eo pid=,comm= | awk '$2 == "beam.smp" || $2 == "nats-server" {print $1 " " $2}')
[ -n "$others" ] && say "already running, left alone (their CPU is in 'other processes'): $others"

say "NATS: nats-server $(nats-server --version | awk '{print $2}') on 127.0.0.1:$nats_port, JetStream store $work/nats"
mkdir -p "$work/nats"
nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$work/nats" -l "$work/nats.log" &
nats_pid=$!
# A second NATS row, set to fsync before the ack, where the server has the setting (2.10+).
mkdir -p "$work/nats-sync"
cat > "$work/nats-sync.conf" <<EOF
listen: 127.0.0.1:$nats_sync_port
jetstream {
  store_dir: "$work/nats-sync"
  sync_interval: always
}
EOF
no_sync_note=""
if probe=$(nats-server -c "$work/nats-sync.conf" -t 2>&1); then
  say "NATS set to sync before the ack (sync_interval: always) on 127.0.0.1:$nats_sync_port"
  nats-server -c "$work/nats-sync.conf" -l "$work/nats-sync.log" &
  nats_sync_pid=$!
else
  no_sync_note="No synced NATS row: nats-server $(nats-server --version | awk '{print $2}') refuses \`jetstream { sync_interval: always }\` ($(echo "$probe" | head -1 | sed 's/^.*: //')); the setting came in 2.10."
  say "$no_sync_note"
fi

rabbit_dir=$work/rabbitmq
mkdir -p "$rabbit_dir/mnesia" "$rabbit_dir/log" "$rabbit_dir/home"
cat > "$rabbit_dir/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$amqp_port
loopback_users.guest = true
disk_free_limit.absolute = 50MB
log.file.level = warning
EOF
echo "[]." > "$rabbit_dir/enabled_plugins"
: > "$rabbit_dir/rabbitmq-env.conf"
rabbit_node="aplus_peers_$$@localhost"
rabbit_env=(HOME="$rabbit_dir/home" RABBITMQ_NODENAME="$rabbit_node"
            RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$amqp_port"
            RABBITMQ_DIST_PORT="$dist_port" ERL_EPMD_PORT="$epmd_port"
            ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE="$rabbit_dir/mnesia"
            RABBITMQ_LOG_BASE="$rabbit_dir/log" RABBITMQ_CONFIG_FILE="$rabbit_dir/rabbitmq.conf"
            RABBITMQ_ENABLED_PLUGINS_FILE="$rabbit_dir/enabled_plugins"
            RABBITMQ_CONF_ENV_FILE="$rabbit_dir/rabbitmq-env.conf"
            RABBITMQ_PID_FILE="$rabbit_dir/pid")
rabbit_version=$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo "?")
say "RabbitMQ: rabbitmq-server $rabbit_version as $(id -un), node $rabbit_node on 127.0.0.1:$amqp_port, data $rabbit_dir"
env "${rabbit_env[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server > "$rabbit_dir/server.out" 2>&1 &
rabbit_pid=$!

wait_port "$nats_port" 30 nats-server "$nats_pid" || exit 1
if [ -n "$nats_sync_pid" ]; then wait_port "$nats_sync_port" 30 nats-server "$nats_sync_pid" || exit 1; fi
if ! wait_port "$amqp_port" 120 rabbitmq-server "$rabbit_pid"; then
  tail -20 "$rabbit_dir/server.out" >&2
  exit 1
fi
# The Erlang VM (beam.smp) is the process whose CPU counts: the pid file, else the exec'd pid.
[ -s "$rabbit_dir/pid" ] && rabbit_pid=$(cat "$rabbit_dir/pid")

failures=0
run() {  # NAME COMMAND...: JSON to $results/NAME.json; a failure is counted, not fatal
  local name=$1
  shift
  say "$name: $*"
  # In the background and waited for, so that Ctrl-C or a TERM stops it at once (bash runs a
  # trap only after the foreground command it waits for has ended).
  timeout "$per_run_timeout" "$@" --json > "$results/$name.json" 2> "$results/$name.err" &
  child=$!
  local status=0
  wait "$child" || status=$?
  child=""
  if [ "$status" -ne 0 ]; then
    failures=$((failures + 1))
    echo "compare.sh: $name FAILED:" >&2
    tail -5 "$results/$name.err" >&2
    # A peer that did not answer may still have printed its result (with "failure").
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$results/$name.json" 2>/dev/null \
      || rm -f "$results/$name.json"
  fi
}

peer_bench=build/bin/aplus-peer-bench
systems="rabbitmq nats"
[ -n "$nats_sync_pid" ] && systems="$systems nats-synced"
for system in $systems; do
  extra=()
  case "$system" in
    rabbitmq) peer=rabbitmq; url=amqp://127.0.0.1:$amqp_port; pid=$rabbit_pid ;;
    nats) peer=nats; url=nats://127.0.0.1:$nats_port; pid=$nats_pid ;;
    nats-synced) peer=nats; url=nats://127.0.0.1:$nats_sync_port; pid=$nats_sync_pid
                 extra=(--server-syncs) ;;
  esac
  run "$system-throughput" "$peer_bench" throughput --peer "$peer" --url "$url" \
    --messages "$messages" --server-pid "$pid" "${extra[@]}"
  for rate in $rates; do
    run "$system-latency-$rate" "$peer_bench" latency --peer "$peer" --url "$url" \
      --rate "$rate" --seconds "$seconds" --server-pid "$pid" "${extra[@]}"
  done
done
# The peers' servers are stopped before A+ runs: their idle CPU is not A+'s to share.
stop_nats
stop_rabbit

run aplus-throughput build/bin/aplus-bench --mode throughput --seconds "$aplus_seconds"
for rate in $rates; do
  run "aplus-latency-$rate" build/bin/aplus-bench --mode latency --rate "$rate" --seconds "$seconds"
done

echo
echo "A+ vs RabbitMQ $rabbit_version (quorum queue) and NATS $(nats-server --version | awk '{print $2}') (JetStream, file) — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "Workload: $messages persistent 1 KB messages (A+: ${aplus_seconds} s closed loop, CURVE and audit on), at most 1,000 unconfirmed, consumer prefetch 1,000 acking each; open loop ${seconds} s at each of: $rates msg/s"
echo
"$peer_bench" table "$results"/*.json | tee "$results/table.md"
[ -n "$no_sync_note" ] && echo "$no_sync_note" | tee -a "$results/table.md"
if [ "$failures" -gt 0 ]; then
  echo "compare.sh: $failures run(s) failed (see above); their rows or cells are missing" >&2
  exit 1
fi
