#!/usr/bin/env bash
# The Debian packages, end to end: builds them (cpack -G DEB in the build directory), runs
# lintian on them, installs them with dpkg -i, runs the INSTALLED programs (/usr/bin/...) as the
# packages' user `aplus` for one round trip (submit, deliver, acknowledge, reply) with keys and
# data in a temporary directory and random loopback ports, then purges them and checks that
# nothing is left: the programs, the units, /etc/aplus (its conffile), /var/lib/aplus, the user.
#
#   package_install_test.sh BUILD_DIR
#
# Needs root (dpkg -i); exits 77 (ctest's skip code, SKIP_RETURN_CODE) with a reason when not
# root, when dpkg is missing, or when A+ packages are already installed here (a real
# deployment is never touched). Whatever happens after the install, a trap purges what this
# test installed and stops what it started. Wall-clock bound: every step runs under `timeout`
# and the whole test gives up by itself (through the trap) well before ctest's TIMEOUT, whose
# SIGKILL would skip the trap and leave the packages installed.
set -euo pipefail

build_dir=$(cd "${1:?usage: package_install_test.sh BUILD_DIR}" && pwd)
packages=(aplus-common aplus-broker aplus-gateways aplus-tools aplus-console)

skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "installing packages needs root (dpkg -i); run as root, as CI does"
for tool in dpkg cpack lintian dpkg-shlibdeps python3 setpriv flock; do
  command -v "$tool" > /dev/null || skip "$tool is not installed (deploy/install-deps.sh installs it)"
done
# Anything dpkg knows of the package (installed, unpacked, half-configured, config files...).
installed() {
  local state
  state=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2> /dev/null) || return 1
  [ -n "$state" ] && [ "$state" != "not-installed" ]
}

# One run at a time on a machine (dpkg has one lock; several build trees may run this test).
exec 9> /tmp/aplus-package-install-test.lock
flock -w 60 9 || { echo "FAIL: another package install test held the lock for 60 s"; exit 1; }
for package in "${packages[@]}"; do
  installed "$package" && skip "$package is already installed on this machine: not touching it"
done
getent passwd aplus > /dev/null && skip "a user 'aplus' already exists here: not touching it"

work=$(mktemp -d /tmp/aplus-package-test.XXXXXX)
chmod 755 "$work"
pids=()
we_installed=0
watchdog=""
cleanup() {
  local status=$?
  [ -n "$watchdog" ] && kill "$watchdog" 2> /dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  if [ "$we_installed" -eq 1 ]; then
    local present=()
    for package in "${packages[@]}"; do installed "$package" && present+=("$package"); done
    if [ ${#present[@]} -gt 0 ]; then
      echo "cleanup: purging ${present[*]}"
      timeout 60 dpkg --purge --force-remove-reinstreq --force-depends "${present[@]}" \
        > "$work/cleanup-purge.log" 2>&1 || cat "$work/cleanup-purge.log"
    fi
  fi
  if [ "$status" -ne 0 ]; then
    for log in "$work"/logs/*.log; do [ -f "$log" ] && { echo "--- $log"; tail -20 "$log"; }; done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# Our own deadline, inside ctest's 240 s: TERM reaches the trap (each step is bounded by
# `timeout`, so bash is never stuck in a foreground command for long).
# (`wait` is interrupted by the TERM trap, so the watchdog itself ends at once when cleanup
# stops it.)
(
  sleep 170 &
  sleeper=$!
  trap 'kill $sleeper 2> /dev/null; exit 0' TERM
  wait $sleeper
  echo "FAIL: the package test took over 170 s; giving up (cleanup follows)"
  kill -TERM $$
) &
watchdog=$!
fail() { echo "FAIL: $*"; exit 1; }
step() { echo "[$(date +%T)] $*"; }

step "cpack -G DEB in $build_dir"
(cd "$build_dir" && timeout 100 cpack -G DEB -B "$work/debs" > "$work/cpack.log" 2>&1) \
  || { cat "$work/cpack.log"; fail "cpack failed"; }
debs=("$work"/debs/*.deb)
[ -f "${debs[0]}" ] || fail "cpack made no .deb"
for package in aplus-common aplus-broker aplus-gateways aplus-tools aplus-console; do
  ls "$work"/debs/"${package}"_*.deb > /dev/null 2>&1 || fail "no $package package"
done
printf '  %s\n' "${debs[@]##*/}"

step "lintian"
# Errors and warnings fail; every accepted exception is in deploy/debian/*.lintian-overrides
# with its reason (installed into the package, where lintian reads it).
timeout 100 lintian --fail-on error,warning --tag-display-limit 0 "${debs[@]}" > "$work/lintian.log" 2>&1 \
  || { cat "$work/lintian.log"; fail "lintian found problems"; }
cat "$work/lintian.log"

step "dpkg -i"
we_installed=1
timeout 60 dpkg -i "${debs[@]}" > "$work/dpkg-install.log" 2>&1 || { cat "$work/dpkg-install.log"; fail "dpkg -i failed"; }
for program in aplus-broker aplus-agent-gateway aplus-partner-gateway aplus aplus-bench aplus-console; do
  [ -x "/usr/bin/$program" ] || fail "/usr/bin/$program is not installed"
done
getent passwd aplus > /dev/null || fail "the user aplus was not created"
[ -f /etc/aplus/network.toml ] || fail "/etc/aplus/network.toml is missing"
grep -qx /etc/aplus/network.toml /var/lib/dpkg/info/aplus-common.conffiles \
  || fail "/etc/aplus/network.toml is not a conffile"
[ "$(stat -c %U /var/lib/aplus)" = aplus ] || fail "/var/lib/aplus is not owned by aplus"
for unit in aplus-broker.service aplus-agent-gateway@.service aplus-partner-gateway@.service aplus-console.service; do
  [ -f "/usr/lib/systemd/system/$unit" ] || fail "unit $unit is not installed"
  grep -q '^ExecStart=/usr/bin/' "/usr/lib/systemd/system/$unit" || fail "$unit does not start /usr/bin/..."
done

step "round trip with the installed programs, as user aplus"
# Free loopback ports, picked by the kernel (held together so that they differ).
read -r broker_port alerts_port agent_port partner_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(4)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
mkdir -p "$work/logs" "$work/run"
chown aplus:aplus "$work/run"
# setpriv execs the program itself (no PAM session, no shell): $! is the program's pid.
as_user=(setpriv --reuid=aplus --regid=aplus --init-groups --)
as_aplus() { "${as_user[@]}" "$@"; }
keys=$work/run/keys keyring=$work/run/keyring
as_aplus mkdir -m 700 "$keys"
as_aplus /usr/bin/aplus keygen "$keys/broker" > /dev/null
admit() {  # name, role, principal
  as_aplus /usr/bin/aplus keygen "$keys/$1" > /dev/null
  as_aplus /usr/bin/aplus --config /etc/aplus/network.toml keyring add --keyring "$keyring" \
    --name "$1" --role "$2" --principal "$3" --public-key "$keys/$1.pub" > /dev/null
}
admit mairie-perche-en-noce agent-gateway mairie-perche-en-noce
admit france-travail partner-gateway france-travail

# --http-listen off when the program has it (the default port would clash on a busy machine).
no_http() {
  local help
  help=$("/usr/bin/$1" --help 2>&1 || true)
  if [[ $help == *--http-listen* ]]; then echo "--http-listen off"; fi
}
start() {  # name, program, flags...
  local name=$1; shift
  "${as_user[@]}" "$@" > "$work/logs/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 150); do
    grep -qs "ready on" "$work/logs/$name.log" && return 0
    kill -0 "${pids[-1]}" 2> /dev/null || fail "$name exited at start"
    sleep 0.1
  done
  fail "$name did not say 'ready on' within 15 s"
}
broker=tcp://127.0.0.1:$broker_port
# shellcheck disable=SC2046  # no_http prints two words or nothing
start broker /usr/bin/aplus-broker --config /etc/aplus/network.toml --data-dir "$work/run/broker" \
  --listen "$broker" --alerts "tcp://127.0.0.1:$alerts_port" --key "$keys/broker.key" \
  --keyring "$keyring" $(no_http aplus-broker)
# shellcheck disable=SC2046
start agent-gateway /usr/bin/aplus-agent-gateway --config /etc/aplus/network.toml \
  --contact-point mairie-perche-en-noce --broker "$broker" --listen "tcp://127.0.0.1:$agent_port" \
  --data-dir "$work/run/agent-gateway" --token-dir "$work/run/agent-tokens" \
  --key "$keys/mairie-perche-en-noce.key" --broker-key "$keys/broker.pub" $(no_http aplus-agent-gateway)
# shellcheck disable=SC2046
start partner-gateway /usr/bin/aplus-partner-gateway --config /etc/aplus/network.toml \
  --partner france-travail --broker "$broker" --listen "tcp://127.0.0.1:$partner_port" \
  --data-dir "$work/run/partner-gateway" --token-dir "$work/run/partner-tokens" \
  --key "$keys/france-travail.key" --broker-key "$keys/broker.pub" $(no_http aplus-partner-gateway)

cli() { /usr/bin/aplus --json --agent-gateway "tcp://127.0.0.1:$agent_port" \
          --partner-gateway "tcp://127.0.0.1:$partner_port" "$@"; }
field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d" + sys.argv[1]))' "$1"; }
wait_for() {  # description, command...: retried for 20 s until it succeeds
  local what=$1; shift
  for _ in $(seq 1 100); do "$@" > /dev/null 2>&1 && return 0; sleep 0.2; done
  fail "$what within 20 s"
}
case_id=$(cli submit --agent agent-noce-1 --partner france-travail --category unemployment-benefits \
  --subject "Allocation suspendue" --body "Versement interrompu depuis octobre" --consent | field '["caseId"]') || fail "aplus submit failed"
[ -n "$case_id" ] || fail "submit printed no case id"
echo "  submitted $case_id"
in_inbox() { local inbox; inbox=$(cli partner inbox) && [[ $inbox == *"$case_id"* ]]; }
wait_for "$case_id never reached the partner's inbox" in_inbox
state_is() { [ "$(cli status "$case_id" | field '["summary"]["state"]')" = "$1" ]; }
wait_for "$case_id was never DELIVERED" state_is DELIVERED
[ "$(cli partner ack "$case_id" --note "pris en charge" | field '["state"]')" = ACKNOWLEDGED ] \
  || fail "ack did not answer ACKNOWLEDGED"
[ "$(cli partner reply "$case_id" --text "Dossier régularisé" | field '["state"]')" = ANSWERED ] \
  || fail "reply did not answer ANSWERED"
wait_for "the reply never reached the agent gateway" state_is ANSWERED
[ "$(cli status "$case_id" | field '["replyText"]')" = "Dossier régularisé" ] || fail "wrong reply text"
echo "  $case_id answered through the installed programs"

for pid in "${pids[@]}"; do kill "$pid"; done
for pid in "${pids[@]}"; do wait "$pid" || fail "a program did not stop cleanly on SIGTERM"; done
pids=()

step "dpkg --purge"
rm -rf "$work/run"  # files owned by aplus: a purge keeps the user while such files remain elsewhere
present=()
for package in "${packages[@]}"; do installed "$package" && present+=("$package"); done
timeout 60 dpkg --purge "${present[@]}" > "$work/dpkg-purge.log" 2>&1 || { cat "$work/dpkg-purge.log"; fail "dpkg --purge failed"; }
for package in "${packages[@]}"; do installed "$package" && fail "$package is still known to dpkg"; done
for program in aplus-broker aplus-agent-gateway aplus-partner-gateway aplus aplus-bench aplus-console; do
  [ ! -e "/usr/bin/$program" ] || fail "/usr/bin/$program is still there"
done
[ ! -e /etc/aplus ] || fail "/etc/aplus is still there after purge"
[ ! -e /var/lib/aplus ] || fail "/var/lib/aplus is still there after purge"
[ ! -e /usr/lib/systemd/system/aplus-broker.service ] || fail "the broker unit is still there"
getent passwd aplus > /dev/null && fail "the user aplus is still there after purge"
getent group aplus > /dev/null && fail "the group aplus is still there after purge"
we_installed=0
step "PASS: built, lintian-clean, installed, round trip, purged"
