#!/usr/bin/env bash
# The pair of brokers on this machine (docs/AVAILABILITY.md, deploy/ha/README.md): three etcd
# members, two brokers (nodes a and b), the agent gateway of the mairie de Perche-en-Nocé and the
# partner gateway of France Travail, all on 127.0.0.1 with their data in a temporary directory.
# It submits a few escalations, kills the leader (SIGKILL), shows the standby taking over,
# restarts the old leader, shows it rejoin as the standby (a full copy), submits more, prints what
# it saw and stops everything. At each step it shows what operators see of the pair: the leader's
# line of `aplus stats`, the etcd keys, and the brokers' aplus_replication_* metrics.
#
#   bash deploy/ha-demo.sh [--mode strict|degraded] [--restart-after SECONDS] [--keep]
#
# --mode (default strict): the [availability] mode (deploy/ha/ha.toml). strict: while the old
#   leader is away the new one acknowledges nothing, so the submission made then waits in the
#   agent gateway (QUEUED_LOCALLY) and is forwarded once the old leader has rejoined; degraded:
#   the new leader acknowledges it from its own disk at once.
# --restart-after SECONDS: restart the killed node that long after the kill, as systemd does
#   (deploy/ha/aplus-broker@.service: Restart=always, RestartSec=2), instead of after the
#   submission made while it is away: it then waits as a standby and rejoins as soon as the
#   other node leads, which in strict mode is what the first Accepted waits for.
# --keep: leave the data and logs (the directory is printed) instead of removing them.
# Ports: APLUS_HA_DEMO_PORT (default 27400) and the next 60, so that a quickstart on the default
# ports can run beside it. Needs the programs in build/bin (built when missing) and etcd
# (Debian's etcd-server, installed by deploy/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=strict keep=0 restart_after=""
while [ $# -gt 0 ]; do
  case $1 in
    --mode) mode=${2:-}; shift 2 ;;
    --restart-after) restart_after=${2:-}; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--mode strict|degraded] [--restart-after SECONDS] [--keep]" >&2; exit 2 ;;
  esac
done
case $mode in strict|degraded) ;; *) echo "--mode is strict or degraded" >&2; exit 2 ;; esac
if [ -n "$restart_after" ] && ! [[ $restart_after =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
  echo "--restart-after takes a number of seconds" >&2
  exit 2
fi
if ! command -v etcd > /dev/null || ! command -v etcdctl > /dev/null; then
  echo "etcd is missing: sudo apt-get install etcd-server etcd-client (or deploy/install-deps.sh)" >&2
  exit 1
fi
for program in aplus-broker aplus-agent-gateway aplus-partner-gateway aplus; do
  [ -x "build/bin/$program" ] && continue
  echo "building the programs (deploy/build.sh)"
  bash deploy/build.sh aplus-broker aplus-agent-gateway aplus-partner-gateway aplus
  break
done

base=${APLUS_HA_DEMO_PORT:-27400}
work=$(mktemp -d "${TMPDIR:-/tmp}/aplus-ha-demo.XXXXXX")
mkdir -p "$work/logs"
declare -A pid=() client=() alerts=() replication=() http=()
for node in a b; do
  offset=$([ "$node" = a ] && echo 0 || echo 10)
  client[$node]=tcp://127.0.0.1:$((base + offset))
  alerts[$node]=tcp://127.0.0.1:$((base + offset + 1))
  http[$node]=127.0.0.1:$((base + offset + 2))
  replication[$node]=tcp://127.0.0.1:$((base + offset + 3))
done
agent_endpoint=tcp://127.0.0.1:$((base + 20))
partner_endpoint=tcp://127.0.0.1:$((base + 30))
etcd_urls="" etcd_cluster=""
for i in 1 2 3; do
  etcd_urls+="${etcd_urls:+,}http://127.0.0.1:$((base + 40 + i))"
  etcd_cluster+="${etcd_cluster:+,}e$i=http://127.0.0.1:$((base + 50 + i))"
done
brokers="${client[a]},${client[b]}"
prefix=/aplus/perche

# SIGTERM to everything, up to 15 s to stop cleanly, then SIGKILL: the demo never hangs here.
stop_all() {
  local name alive tries
  trap '' INT TERM  # a second Ctrl-C must not cut the cleanup short
  for name in agent partner a b e1 e2 e3; do
    if [ -n "${pid[$name]:-}" ]; then kill "${pid[$name]}" 2>/dev/null || true; fi
  done
  for tries in $(seq 75); do
    alive=""
    for name in "${!pid[@]}"; do
      if kill -0 "${pid[$name]}" 2>/dev/null; then alive+=" $name"; fi
    done
    [ -z "$alive" ] && break
    sleep 0.2
  done
  for name in $alive; do
    echo "$name did not stop within 15 s: SIGKILL"
    kill -KILL "${pid[$name]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ "$keep" -eq 1 ]; then echo "data and logs kept in $work"; else rm -rf "$work"; fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }
now_ms() { date +%s%3N; }
seconds_since() { awk -v from="$1" -v to="$(now_ms)" 'BEGIN { printf "%.1f", (to - from) / 1000 }'; }
# Runs a program in the background, its output in logs/<name>.log.
launch() {  # name, program, args...
  local name=$1; shift
  "$@" >> "$work/logs/$name.log" 2>&1 &
  pid[$name]=$!
}
# Waits (up to $2 seconds) until the command after it succeeds; when the process named $3 exits
# or the time is up, shows the end of its log and fails (which stops the demo, unless the caller
# says `|| true`).
wait_for() {  # what, seconds, process name (its log), command...
  local what=$1 seconds=$2 log=$3; shift 3
  local deadline=$(( $(date +%s) + seconds )) why=""
  until "$@" > /dev/null 2>&1; do
    if [ -n "${pid[$log]:-}" ] && ! kill -0 "${pid[$log]}" 2>/dev/null; then
      why="$log exited"
    elif [ "$(date +%s)" -ge "$deadline" ]; then
      why="gave up after $seconds s"
    fi
    if [ -n "$why" ]; then
      echo "waiting for $what: $why; the end of logs/$log.log:"
      tail -20 "$work/logs/$log.log" 2>/dev/null || true
      return 1
    fi
    sleep 0.2
  done
}
etcd_ctl() { etcdctl --endpoints="$etcd_urls" --command-timeout=2s "$@"; }
# A key of /aplus/perche/ as "<field of its JSON value> <create revision>", e.g. `etcd_field
# leader node` -> "a 8" (the revision of the leader key is the leader's epoch).
etcd_field() {  # key, field
  etcd_ctl get "$prefix/$1" -w json 2>/dev/null | python3 -c '
import base64, json, sys
kvs = json.load(sys.stdin).get("kvs") or []
if kvs:
    value = json.loads(base64.b64decode(kvs[0]["value"]))
    print(value.get(sys.argv[1], ""), kvs[0]["create_revision"])' "$2"
}
leader_is() { [ "$(etcd_field leader node | cut -d' ' -f1)" = "$1" ]; }
standby_is() { [ "$(etcd_field sync standby | cut -d' ' -f1)" = "$1" ]; }
other() { [ "$1" = a ] && echo b || echo a; }

keys=$work/keys keyring=$work/keyring
aplus=(build/bin/aplus --agent-gateway "$agent_endpoint" --partner-gateway "$partner_endpoint"
       --broker "$brokers" --key "$keys/operator.key" --broker-key "$keys/broker.pub")

step "keys: one client-facing broker key for both nodes, a peer key per node (role broker-peer)"
mkdir -p "$keys" && chmod 700 "$keys"
admit() {  # name, role, principal
  build/bin/aplus keygen "$keys/$1" > /dev/null
  build/bin/aplus keyring add --keyring "$keyring" --name "$1" --role "$2" --principal "$3" \
      --public-key "$keys/$1.pub" > /dev/null
}
build/bin/aplus keygen "$keys/broker" > /dev/null
admit broker-peer.a broker-peer a
admit broker-peer.b broker-peer b
admit mairie-perche-en-noce agent-gateway mairie-perche-en-noce
admit france-travail partner-gateway france-travail
admit operator operator operator
build/bin/aplus keyring list --keyring "$keyring"

step "network config: deploy/perche.toml with [availability] mode = \"$mode\""
{ cat deploy/perche.toml; echo; sed "s/^mode = .*/mode = \"$mode\"/" deploy/ha/ha.toml; } > "$work/network.toml"
sed -n '/^\[availability\]/,$p' "$work/network.toml" | grep -v '^#' | grep .

step "etcd: three members on 127.0.0.1"
for i in 1 2 3; do
  launch "e$i" etcd --name "e$i" --data-dir "$work/etcd-e$i" \
      --listen-client-urls "http://127.0.0.1:$((base + 40 + i))" \
      --advertise-client-urls "http://127.0.0.1:$((base + 40 + i))" \
      --listen-peer-urls "http://127.0.0.1:$((base + 50 + i))" \
      --initial-advertise-peer-urls "http://127.0.0.1:$((base + 50 + i))" \
      --initial-cluster "$etcd_cluster" --initial-cluster-token aplus-ha-demo \
      --initial-cluster-state new
done
wait_for "a healthy etcd cluster" 30 e1 etcd_ctl endpoint health
etcd_ctl endpoint status -w table

broker_start() {  # node
  local node=$1
  mkdir -p "$work/broker-$node"
  launch "$node" build/bin/aplus-broker --config "$work/network.toml" --node "$node" \
      --etcd "$etcd_urls" --replication-listen "${replication[$node]}" \
      --peer-key "$keys/broker-peer.$node.key" --listen "${client[$node]}" \
      --alerts "${alerts[$node]}" --data-dir "$work/broker-$node/db" --key "$keys/broker.key" \
      --keyring "$keyring" --keyring-poll-ms 200 --http-listen "${http[$node]}"
}
# What an operator sees of the pair: the leader's line of `aplus stats`, the etcd keys, and
# each node's aplus_replication_* metrics (the one-hot series at 1 only; the standby serves its
# own view).
pair_view() {
  local line node
  line=$("${aplus[@]}" stats 2>/dev/null | grep '^Pair:') || line="(aplus stats: no answer)"
  echo "  aplus stats: $line"
  echo "  etcd:        leader = $(etcd_field leader node | awk '{ print $1 " (epoch " $2 ")" }')," \
       "sync standby = \"$(etcd_field sync standby | cut -d' ' -f1)\""
  for node in a b; do
    if ! line=$(curl -sf --max-time 3 "http://${http[$node]}/metrics" 2>/dev/null); then
      echo "  $node /metrics:  no answer (down)"
      continue
    fi
    printf '%s\n' "$line" | awk -v node="$node" '
      /^aplus_replication/ && !($0 ~ /[{]/ && $NF == 0) {
        printf "  %s /metrics:  %s\n", node, $0 }'
  done
}
step "brokers: node a first (it wins the first election), then node b (it catches up, becomes the synchronous standby)"
broker_start a
wait_for "node a to lead" 30 a leader_is a
broker_start b
wait_for "node b to be the synchronous standby" 60 b standby_is b
echo "leader: a (epoch $(etcd_field leader node | cut -d' ' -f2)), synchronous standby: b"
pair_view

step "gateways: both take the two brokers (--broker $brokers)"
curve=(--broker-key "$keys/broker.pub")
launch agent build/bin/aplus-agent-gateway --contact-point mairie-perche-en-noce \
    --broker "$brokers" --listen "$agent_endpoint" --data-dir "$work/agent-gateway" \
    --key "$keys/mairie-perche-en-noce.key" "${curve[@]}" --http-listen off
launch partner build/bin/aplus-partner-gateway --partner france-travail \
    --broker "$brokers" --listen "$partner_endpoint" --data-dir "$work/partner-gateway" \
    --key "$keys/france-travail.key" "${curve[@]}" --http-listen off
wait_for "the agent gateway" 30 agent grep -q "ready on" "$work/logs/agent.log"
wait_for "the partner gateway" 30 partner grep -q "ready on" "$work/logs/partner.log"

# Submits one escalation through the agent gateway; prints "<case id or local ref> <state>" (or
# the error). The same idempotency key again gives the same case, or the same queued entry.
submit() {  # subject, idempotency key
  local answer
  answer=$("${aplus[@]}" submit --agent agent-noce-1 --partner france-travail \
      --category unemployment-benefits --subject "$1" --body "Versement interrompu" \
      --citizen "Jeanne Martin" --consent --idempotency-key "$2" 2>&1) || true
  printf '%s\n' "$answer" | awk 'NR == 1 { print $1, $2 }'
}
accepted_by_broker() { [[ $(submit "Pendant la panne" demo-during) == PER-* ]]; }
submitted=0
step "three escalations, acknowledged by a only once b holds a copy"
for n in 1 2 3; do
  echo "  $(submit "Allocation suspendue $n" "demo-before-$n")"
  submitted=$((submitted + 1))
done
pair_view

old=$(etcd_field leader node | cut -d' ' -f1)
new=$(other "$old")
old_epoch=$(etcd_field leader node | cut -d' ' -f2)
step "SIGKILL the leader, node $old (epoch $old_epoch)"
killed_at=$(now_ms)
kill -KILL "${pid[$old]}"
wait "${pid[$old]}" 2>/dev/null || true
if [ -n "$restart_after" ]; then
  sleep "$restart_after"
  restarted_at=$(now_ms)
  broker_start "$old"
  echo "node $old restarted $(seconds_since "$killed_at") s after the kill (as systemd's RestartSec would)"
fi
wait_for "node $new to take over" 60 "$new" leader_is "$new"
takeover_s=$(seconds_since "$killed_at")
new_epoch=$(etcd_field leader node | cut -d' ' -f2)
echo "node $new leads (epoch $new_epoch) $takeover_s s after the kill"

# At once, so that the time to the first Accepted is the pair's, not the demo's.
if [ -z "$restart_after" ]; then
  step "a submission while node $old is away"
else
  step "a submission at once after the takeover (node $old rejoining)"
fi
during=$(submit "Pendant la panne" demo-during)
submitted=$((submitted + 1))
echo "  $during"
first_accepted_s=""
if [[ $during == PER-* ]]; then
  first_accepted_s=$(seconds_since "$killed_at")
elif [ "$mode" = degraded ]; then
  # The new leader clears the standby in etcd, then serves alone: the gateway forwards it.
  wait_for "the new leader to accept it" 30 "$new" accepted_by_broker
  first_accepted_s=$(seconds_since "$killed_at")
  echo "  $(submit "Pendant la panne" demo-during)   (forwarded from the gateway's outbox)"
else
  echo "  (strict: no standby holds a copy, so the agent gateway keeps it until the pair is whole)"
fi
pair_view

if [ -z "$restart_after" ]; then
  step "restart node $old: it rejoins as the standby by a full resync"
  restarted_at=$(now_ms)
  broker_start "$old"
else
  step "node $old, restarted meanwhile, rejoins as the standby by a full resync"
fi
wait_for "node $old to be the synchronous standby" 120 "$old" standby_is "$old"
rejoin_s=$(seconds_since "$restarted_at")
echo "node $old is the synchronous standby again $rejoin_s s after its restart"
grep -h "full copy" "$work/logs/$old.log" | tail -2 | sed 's/^/  /' || true
if [ -z "$first_accepted_s" ]; then
  # The same idempotency key: the gateway answers its queued entry until the broker has it.
  wait_for "the queued submission to be accepted" 60 agent accepted_by_broker
  first_accepted_s=$(seconds_since "$killed_at")
  echo "  $(submit "Pendant la panne" demo-during)   (forwarded from the gateway's outbox)"
fi

step "two more escalations, through the new leader $new"
for n in 1 2; do
  echo "  $(submit "Après la reprise $n" "demo-after-$n")"
  submitted=$((submitted + 1))
done
pair_view
"${aplus[@]}" stats 2>/dev/null || true

step "the partner's inbox"
delivered_count() { "${aplus[@]}" --json partner inbox | python3 -c '
import json, sys
print(len(json.load(sys.stdin).get("escalations", [])))'; }
all_delivered() { [ "$(delivered_count)" -ge "$submitted" ]; }
wait_for "every escalation at the partner" 60 partner all_delivered || true
"${aplus[@]}" partner inbox

step "what the demo saw"
cat <<SUMMARY
  mode                            $mode
  leader before                   $old (epoch $old_epoch), standby $new
  killed                          $old, SIGKILL
  new leader                      $new (epoch $new_epoch), $takeover_s s after the kill
  first Accepted after the kill   $first_accepted_s s after the kill$([ "$mode" = strict ] && echo " (strict: once $old had rejoined)")
  old leader restarted            $([ -n "$restart_after" ] && echo "$restart_after s after the kill (--restart-after)" || echo "after the submission made while it was away")
  old leader rejoined             $old as the synchronous standby, $rejoin_s s after its restart
  escalations submitted           $submitted
  escalations in the inbox        $(delivered_count 2>/dev/null || echo "?")
SUMMARY
step "stopping everything"
