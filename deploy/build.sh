#!/usr/bin/env bash
# Configures and builds into build/ (programs in build/bin/): every target, or only the targets
# named on the command line (deploy/quickstart.sh builds just the programs it runs):
#   bash deploy/build.sh                                   # everything, tests included
#   bash deploy/build.sh aplus-broker aplus                # these targets and what they need
# The full output goes to build.log. On a terminal one line shows the progress (cmake's
# percentage and the file being built); otherwise a line at every tenth of the way.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=()
[ $# -gt 0 ] && targets=(--target "$@")
# ccache, when installed, makes rebuilds of unchanged files free (developers' machines, CI reruns).
# The test suites share a precompiled header (tests/CMakeLists.txt): ccache caches the files
# that use one only with this sloppiness (its manual, "Precompiled headers").
launcher=()
command -v ccache >/dev/null 2>&1 &&
  launcher=("-DCMAKE_CXX_COMPILER_LAUNCHER=env;CCACHE_SLOPPINESS=pch_defines,time_macros;ccache")
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" > build.log 2>&1 || { cat build.log; exit 1; }

# Reads cmake's output, shows "[ NN%] ..." progress: a carriage-return line at most every 0.2 s
# on a terminal, a plain line per 10% otherwise. Everything read is appended to build.log.
show_progress() {
  local tty=0 last_decile=-1 last_draw=0 line percent now
  [ -t 1 ] && tty=1
  while IFS= read -r line; do
    printf '%s\n' "$line" >> build.log
    [[ $line =~ ^\[\ *([0-9]+)%\]\ (.*)$ ]] || continue
    percent=${BASH_REMATCH[1]}
    if [ "$tty" -eq 1 ]; then
      now=$(date +%s%N)
      if [ $((now - last_draw)) -ge 200000000 ] || [ "$percent" -eq 100 ]; then
        last_draw=$now
        # Only the file's name: the line must fit in the terminal.
        local what=${BASH_REMATCH[2]##*/}
        printf '\r\033[K  building [%3d%%] %.60s' "$percent" "$what"
      fi
    elif [ $((percent / 10)) -gt "$last_decile" ]; then
      last_decile=$((percent / 10))
      echo "  building [${percent}%]"
    fi
  done
  [ "$tty" -eq 1 ] && printf '\r\033[K'
  return 0
}
if ! cmake --build build -j"$(bash deploy/cpu-count.sh)" "${targets[@]}" 2>&1 | show_progress; then
  tail -50 build.log
  exit 1
fi
echo "built: $(ls build/bin | grep '^aplus' | tr '\n' ' ')"
