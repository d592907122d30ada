#!/usr/bin/env bash
# Installs the Debian 12 packages A+ builds with (nothing else is downloaded). Safe to re-run:
# when everything is already installed it does not touch apt at all.
#
#   install-deps.sh               what the build and every test need (deploy/run-tests.sh)
#   install-deps.sh --build-only  what building the programs needs (deploy/quickstart.sh): no
#                                 browser, promtool, lintian or Python test modules
set -euo pipefail
packages=(
  build-essential cmake pkg-config git iproute2 ccache curl openssl
  libboost-dev libboost-system-dev libssl-dev prometheus-cpp-dev
  libzmq3-dev cppzmq-dev libsodium-dev
  libprotobuf-dev protobuf-compiler
  librocksdb-dev libjemalloc-dev
  python3 dpkg-dev
  doctest-dev libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
)
if [ "${1:-}" != "--build-only" ]; then
  packages+=(
    prometheus python3-yaml python3-jsonschema python3-requests
    chromium chromium-driver python3-selenium fonts-dejavu-core lintian fakeroot
    etcd-server etcd-client
  )
fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${#missing[@]} Debian packages (and what they need): ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  # apt's own progress: a line per index and per package fetched, unpacked and set up (-q drops
  # only the redrawn bars, which a log would garble); on a terminal also dpkg's progress bar.
  fancy=()
  [ -t 1 ] && fancy=(-o Dpkg::Progress-Fancy=1)
  echo "  apt-get update"
  $SUDO apt-get update -q
  echo "  apt-get install (the first time: a few minutes, mostly downloads)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${fancy[@]}" "${missing[@]}"
fi
