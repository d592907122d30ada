// Exit statuses shared by the A+ programs, so that supervisors (systemd units in deploy/) and
// tests can tell why a process stopped.
#pragma once

namespace aplus {

inline constexpr int kExitOk = 0;
// Bad flags, config, keys or data directory at start-up: restarting will not help.
inline constexpr int kExitStartupError = 1;
// A write could not be made durable (a failed fsync or commit). The process stopped at once,
// without retrying the fsync and without acknowledging anything more; a restart recovers from
// the write-ahead log (what was acknowledged is there). Same number as sysexits' EX_TEMPFAIL,
// which systemd's Restart=on-failure restarts.
inline constexpr int kExitDurabilityLost = 75;
// A broker of a pair lost its leadership (its etcd lease could not be renewed in time, or a
// newer leader exists): it acknowledged nothing more and stopped. Restarted, it rejoins as a
// standby by a full copy of the new leader's data (docs/AVAILABILITY.md).
inline constexpr int kExitDemoted = 76;

}  // namespace aplus
