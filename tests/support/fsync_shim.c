// LD_PRELOAD shim for durability tests: interposes fsync and fdatasync (what RocksDB calls to
// make its write-ahead log and files durable) to slow them down or make them fail, so that a
// test can tell "acknowledged after the fsync" from "acknowledged before it" at the syscall
// boundary, which SIGKILL alone cannot (the page cache survives a killed process).
//
// Environment, read at each call (so a test may also change a file named by
// APLUS_FSYNC_CONTROL instead, between phases of one process's life):
//   APLUS_FSYNC_DELAY_MS=N   every fsync/fdatasync first sleeps N ms, then syncs for real
//   APLUS_FSYNC_FAIL=1       every fsync/fdatasync fails with EIO without syncing
//   APLUS_FSYNC_CONTROL=PATH when set, the file's content overrides both: "delay N", "fail",
//                            or "ok" (missing or unreadable file = "ok")
//   APLUS_FSYNC_LOG=PATH     appends one line per call ("fsync fd" / "fdatasync fd") to PATH
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int (*sync_fn)(int);

enum mode { kOk, kDelay, kFail };

static enum mode current_mode(long* delay_ms) {
  *delay_ms = 0;
  const char* control = getenv("APLUS_FSYNC_CONTROL");
  if (control && *control) {
    char text[64] = {0};
    int fd = open(control, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return kOk;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0) return kOk;
    if (strncmp(text, "fail", 4) == 0) return kFail;
    if (strncmp(text, "delay", 5) == 0) {
      *delay_ms = strtol(text + 5, NULL, 10);
      return *delay_ms > 0 ? kDelay : kOk;
    }
    return kOk;
  }
  const char* fail = getenv("APLUS_FSYNC_FAIL");
  if (fail && strcmp(fail, "1") == 0) return kFail;
  const char* delay = getenv("APLUS_FSYNC_DELAY_MS");
  if (delay && *delay) {
    *delay_ms = strtol(delay, NULL, 10);
    if (*delay_ms > 0) return kDelay;
  }
  return kOk;
}

static void log_call(const char* name, int fd) {
  const char* path = getenv("APLUS_FSYNC_LOG");
  if (!path || !*path) return;
  int log = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (log < 0) return;
  char line[64];
  int n = snprintf(line, sizeof(line), "%s %d\n", name, fd);
  if (n > 0) (void)!write(log, line, (size_t)n);
  close(log);
}

static int intercept(const char* name, int fd) {
  sync_fn real = (sync_fn)dlsym(RTLD_NEXT, name);
  long delay_ms = 0;
  enum mode mode = current_mode(&delay_ms);
  log_call(name, fd);
  if (mode == kFail) {
    errno = EIO;
    return -1;
  }
  if (mode == kDelay) {
    struct timespec pause = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
  }
  return real ? real(fd) : 0;
}

int fsync(int fd) { return intercept("fsync", fd); }
int fdatasync(int fd) { return intercept("fdatasync", fd); }
