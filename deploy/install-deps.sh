#!/usr/bin/env bash
# Installs the Debian 12 packages A+ builds with (nothing else is downloaded). Safe to re-run:
# when everything is already installed it does not touch apt at all.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git iproute2 ccache curl openssl
  libboost-dev libboost-system-dev libssl-dev prometheus-cpp-dev prometheus
  libzmq3-dev cppzmq-dev libsodium-dev
  libprotobuf-dev protobuf-compiler
  librocksdb-dev
  python3 python3-yaml python3-jsonschema python3-requests
  chromium chromium-driver python3-selenium fonts-dejavu-core lintian dpkg-dev fakeroot
  doctest-dev libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
