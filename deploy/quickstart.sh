#!/usr/bin/env bash
# The main job: installs dependencies, builds, and runs the built-in Perche network on this
# machine: a broker, the agent gateway of the mairie de Perche-en-Nocé and the partner gateway
# of France Travail, all on 127.0.0.1, with data in ./aplus-data. Ctrl-C stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
echo "[1/3] Debian packages this needs (deploy/install-deps.sh; nothing to do when present)"
bash deploy/install-deps.sh --build-only
# Only the programs run below: the tests are built by deploy/run-tests.sh. With ccache a rebuild
# of unchanged files is free; the first build compiles everything once. Measured: a cold build
# of these four targets (clean build dir, CCACHE_DISABLE=1) took 833 s user + 46 s system of CPU,
# about 7.5 minutes on 2 idle cores, before the unity build; 508 s with it (a fresh clone, this
# script), 486 s once the libraries no longer waited for each other's archives: a batch of 8
# files is one compiler run, so the last batches of the chain run one core at a time.
echo "[2/3] building the programs into build/bin (the first build takes about 8-9 minutes on 2 cores)"
build_started=$(date +%s)
bash deploy/build.sh aplus-broker aplus-agent-gateway aplus-partner-gateway aplus
echo "      built in $(( $(date +%s) - build_started )) s"
echo "[3/3] starting the network (keys and data in aplus-data/)"
mkdir -p aplus-data/logs

# CURVE keys for the demo network, made the way README "Keys" describes for a real one: a
# pair per program (secret half mode 0600), and the broker's keyring admitting each public key.
# Kept across runs; nothing to do by hand.
keys=aplus-data/keys keyring=aplus-data/keyring
mkdir -p "$keys" && chmod 700 "$keys"
admit() {  # name, role, principal
  [ -f "$keys/$1.key" ] || build/bin/aplus keygen "$keys/$1" > /dev/null
  [ -f "$keyring/$1.toml" ] || build/bin/aplus keyring add --keyring "$keyring" --name "$1" \
      --role "$2" --principal "$3" --public-key "$keys/$1.pub" > /dev/null
}
[ -f "$keys/broker.key" ] || build/bin/aplus keygen "$keys/broker" > /dev/null
admit mairie-perche-en-noce agent-gateway mairie-perche-en-noce
admit france-travail partner-gateway france-travail
admit operator operator operator
curve=(--broker-key "$keys/broker.pub")

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
start broker "ready on" build/bin/aplus-broker --key "$keys/broker.key" --keyring "$keyring"
start agent-gateway "ready on" build/bin/aplus-agent-gateway --contact-point mairie-perche-en-noce \
    --key "$keys/mairie-perche-en-noce.key" "${curve[@]}"
start partner-gateway "ready on" build/bin/aplus-partner-gateway --partner france-travail \
    --key "$keys/france-travail.key" "${curve[@]}"
echo "ready $(( $(date +%s) - started )) s after the start"
cat <<'TRY'

The Perche network is running with CURVE (logs in aplus-data/logs/, keys in aplus-data/keys/).
In another terminal, try:

  export APLUS_KEY=aplus-data/keys/operator.key APLUS_BROKER_KEY=aplus-data/keys/broker.pub

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
