// A program the benchmark starts besides its broker (the agent gateway of `--mode http`), as a
// child process with its output in a log file. Like BrokerProcess: the child dies with the
// benchmark (PR_SET_PDEATHSIG) and the destructor stops it, so nothing outlives a run.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace aplus::bench {

// Thread rules: one thread (the benchmark's main thread).
class ChildProgram {
 public:
  // Nothing runs until Start(). `binary` is a path; `args` exclude argv[0].
  ChildProgram(std::string binary, std::vector<std::string> args, std::string log_path);
  ~ChildProgram();
  ChildProgram(const ChildProgram&) = delete;
  ChildProgram& operator=(const ChildProgram&) = delete;

  // fork + exec; returns as soon as the child exists. INVALID_ARGUMENT when the binary cannot
  // be executed or the log cannot be written.
  Status Start();
  // Waits until the log contains `ready_text`, up to `timeout_ms`. UNAVAILABLE when the child
  // exits or stays silent; the message quotes the end of its log.
  Status WaitForLog(const std::string& ready_text, int timeout_ms);
  // SIGTERM, then SIGKILL after `timeout_ms`; the exit status as the shell shows it.
  int Stop(int timeout_ms);

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  std::string LogTail(size_t bytes) const;

 private:
  const std::string binary_;
  const std::vector<std::string> args_;
  const std::string log_path_;
  pid_t pid_ = -1;
};

}  // namespace aplus::bench
