#!/usr/bin/env bash
# Prints how many CPUs the build and the tests may use: the CPUs this process may run on (nproc),
# lowered to its cgroup's CPU quota where one is set, rounded up. A container given 2 CPUs on a
# 64-CPU host sees 64 in nproc alone: compiling 64 files at once (a few hundred MB each) and
# running 8 suites at once on 2 CPUs would starve the suites' timers and leases.
# deploy/build.sh and deploy/run-tests.sh size their parallelism with it.
# Reads cgroup v2 (cpu.max) and v1 (cpu.cfs_quota_us, cpu.cfs_period_us) from this process's
# cgroup up to the root, the lowest quota winning. APLUS_CGROUP_ROOT and APLUS_PROC_CGROUP (in
# place of /sys/fs/cgroup and /proc/self/cgroup) are for tests/deploy/cpu_count_test.py.
set -euo pipefail
root=${APLUS_CGROUP_ROOT:-/sys/fs/cgroup}
root=${root%/}
membership=${APLUS_PROC_CGROUP:-/proc/self/cgroup}
cpus=$(nproc)

# lower_to QUOTA PERIOD: cpus = min(cpus, ceil(QUOTA / PERIOD)) for a numeric quota.
lower_to() {
  [[ $1 =~ ^[0-9]+$ && $2 =~ ^[1-9][0-9]*$ ]] || return 0
  local allowed=$(( ($1 + $2 - 1) / $2 ))
  [ "$allowed" -ge 1 ] && [ "$allowed" -lt "$cpus" ] && cpus=$allowed
  return 0
}

# The directory of the cgroup and each of its parents up to the hierarchy's root.
each_level() {
  local dir=$1
  while :; do
    echo "$dir"
    [ "$dir" = "$2" ] || [ "$dir" = / ] || [ "$dir" = . ] && break
    dir=$(dirname "$dir")
  done
}

if [ -r "$membership" ]; then
  while IFS=: read -r _ controllers path; do
    if [ -z "$controllers" ]; then  # cgroup v2: one unified hierarchy
      while IFS= read -r dir; do
        [ -r "$dir/cpu.max" ] || continue
        read -r quota period < "$dir/cpu.max" || continue
        lower_to "$quota" "${period:-}"
      done < <(each_level "$root${path%/}" "$root")
    elif [[ ,$controllers, == *,cpu,* ]]; then  # cgroup v1: the hierarchy holding "cpu"
      for mount in "$root/$controllers" "$root/cpu"; do
        [ -d "$mount" ] || continue
        while IFS= read -r dir; do
          [ -r "$dir/cpu.cfs_quota_us" ] && [ -r "$dir/cpu.cfs_period_us" ] || continue
          lower_to "$(cat "$dir/cpu.cfs_quota_us")" "$(cat "$dir/cpu.cfs_period_us")"
        done < <(each_level "$mount${path%/}" "$mount")
        break
      done
    fi
  done < "$membership"
fi
echo "$cpus"
