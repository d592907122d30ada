#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test suite (unit, component, system, fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh
ctest --test-dir build --output-on-failure -j2 --timeout 600
