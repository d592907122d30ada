#include "tools/bench/child_program.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace aplus::bench {

ChildProgram::ChildProgram(std::string binary, std::vector<std::string> args,
                           std::string log_path)
    : binary_(std::move(binary)), args_(std::move(args)), log_path_(std::move(log_path)) {}

ChildProgram::~ChildProgram() {
  if (pid_ > 0) Stop(10000);
}

Status ChildProgram::Start() {
  if (::access(binary_.c_str(), X_OK) != 0) {
    return Status(wire::INVALID_ARGUMENT, "cannot execute " + binary_);
  }
  std::vector<std::string> storage = {binary_};
  storage.insert(storage.end(), args_.begin(), args_.end());
  std::vector<char*> argv;
  for (auto& arg : storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return Status(wire::INVALID_ARGUMENT, "cannot write " + log_path_);
  pid_t parent = ::getpid();
  pid_t child = ::fork();
  if (child < 0) {
    ::close(log_fd);
    return Status(wire::INTERNAL, "fork failed");
  }
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);  // the benchmark died before we got here
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  pid_ = child;
  return Status::Ok();
}

std::string ChildProgram::LogTail(size_t bytes) const {
  std::ifstream in(log_path_);
  std::stringstream content;
  content << in.rdbuf();
  std::string text = content.str();
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

Status ChildProgram::WaitForLog(const std::string& ready_text, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (LogTail(1 << 20).find(ready_text) != std::string::npos) return Status::Ok();
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status(wire::UNAVAILABLE, binary_ + " exited at start-up: " + LogTail(600));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Status(wire::UNAVAILABLE, binary_ + " did not get ready in time: " + LogTail(600));
}

int ChildProgram::Stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) != pid_) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace aplus::bench
