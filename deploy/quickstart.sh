#!/usr/bin/env bash
# The main job: installs dependencies, builds, and runs the built-in Perche network on this
# machine: a broker, the agent gateway of the mairie de Perche-en-Nocé and the partner gateway
# of France Travail, all on 127.0.0.1, with data in ./aplus-data. Ctrl-C stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh
mkdir -p aplus-data/logs
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; echo "network stopped"; }
trap cleanup EXIT INT TERM
start() {  # name, ready text, command...
  local name=$1 ready=$2; shift 2
  "$@" > "aplus-data/logs/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "$ready" "aplus-data/logs/$name.log" 2>/dev/null && { grep "$ready" "aplus-data/logs/$name.log"; return; }
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "aplus-data/logs/$name.log"; exit 1; }
    sleep 0.1
  done
  echo "$name did not start; see aplus-data/logs/$name.log"; exit 1
}
start broker "ready on" build/bin/aplus-broker
start agent-gateway "ready on" build/bin/aplus-agent-gateway --contact-point mairie-perche-en-noce
start partner-gateway "ready on" build/bin/aplus-partner-gateway --partner france-travail
cat <<'TRY'

The Perche network is running (logs in aplus-data/logs/). In another terminal, try:

  build/bin/aplus submit --agent agent-noce-1 --partner france-travail \
      --category unemployment-benefits --subject "Allocation suspendue" \
      --body "Versement interrompu depuis octobre" --citizen "Jeanne Martin" \
      --mandate MANDAT-2026-0042
  build/bin/aplus partner inbox
  build/bin/aplus partner ack CASE-ID
  build/bin/aplus partner reply CASE-ID --text "Dossier régularisé"
  build/bin/aplus status CASE-ID
  build/bin/aplus stats

Press Ctrl-C to stop the network.
TRY
wait
