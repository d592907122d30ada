// Test support: a real A+ program started as a child process, with its stdout and stderr in a
// log file, killed (SIGKILL) or stopped (SIGTERM) on demand and always reaped.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <sstream>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace aplus::testing {

// The programs under test: build/bin, or APLUS_BIN_DIR from the environment (a long soak runs
// against a copy of the binaries, so that a rebuild meanwhile cannot pull them from under it).
inline std::string BinPath(const std::string& program) {
  const char* dir = std::getenv("APLUS_BIN_DIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : APLUS_BIN_DIR) + "/" + program;
}

// A fresh directory under /tmp, removed when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& label) {
    std::random_device device;
    path_ = std::filesystem::temp_directory_path() /
            ("aplus-" + label + "-" + std::to_string(::getpid()) + "-" + std::to_string(device()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string Sub(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Claims `port` among the test processes of this machine until this process exits: an flock
// on a file named after the port, in a directory every suite shares, released by the kernel
// when the process ends (a crash included). A port picked ahead of time is often bound only
// later (a standby's replication endpoint once it leads): under `ctest -j4` another suite could
// pick it meanwhile, and one of the two failed with "Address already in use". True when the
// port is now ours, or when the directory cannot be used (the listening check alone, as before).
inline bool ClaimPortAmongSuites(int port) {
  static const std::filesystem::path directory = [] {
    auto path = std::filesystem::temp_directory_path() / "aplus-test-ports";
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    // Any user's suites share it (sticky, like /tmp); best effort.
    std::filesystem::permissions(path, std::filesystem::perms::all | std::filesystem::perms::sticky_bit,
                                 ec);
    return path;
  }();
  // Read-only: flock needs no more, so another user's suites can claim a file root created.
  // O_CLOEXEC: the programs a suite starts must not inherit (and so extend) its claims.
  // O_NOFOLLOW: the directory is shared; a link planted there is not followed.
  int fd = ::open((directory / std::to_string(port)).c_str(),
                  O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0) return true;
  ::fchmod(fd, 0666);  // past the umask, for other users' suites; fails harmlessly if not ours
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false;  // another suite holds it
  }
  return true;  // the descriptor stays open, and the claim held, until this process exits
}

// A loopback TCP port that was free a moment ago, and that no other suite running meanwhile
// can pick (ClaimPortAmongSuites).
inline int FreePort() {
  static std::mt19937 random(static_cast<unsigned>(::getpid()) * 7919u +
                             static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
  // Below the kernel's ephemeral range (32768-60999), so no outgoing connection takes it.
  std::uniform_int_distribution<int> pick(20000, 32767);
  // A port handed out earlier in this process may not be bound yet: never hand it out twice.
  static std::set<int> handed_out;
  for (int tries = 0; tries < 200; ++tries) {
    int port = pick(random);
    if (handed_out.count(port)) continue;
    std::string check = "ss -ltnH 'sport = :" + std::to_string(port) + "' 2>/dev/null | grep -q .";
    if (std::system(check.c_str()) != 0 && ClaimPortAmongSuites(port)) {
      handed_out.insert(port);
      return port;
    }
  }
  return pick(random);
}

inline std::string Endpoint(int port) { return "tcp://127.0.0.1:" + std::to_string(port); }

class ChildProcess {
 public:
  // Starts `program` (a name in build/bin, or an absolute path such as /usr/bin/etcd) with
  // `args`; output goes to `log_path`.
  // `environment` ("NAME=value" entries, e.g. LD_PRELOAD of the fsync shim) is added to this
  // process's own environment, overriding a variable of the same name.
  ChildProcess(const std::string& program, std::vector<std::string> args, std::string log_path,
               std::vector<std::string> environment = {})
      : log_path_(std::move(log_path)) {
    std::vector<std::string> argv_storage;
    argv_storage.push_back(!program.empty() && program.front() == '/' ? program
                                                                        : BinPath(program));
    for (auto& arg : args) argv_storage.push_back(std::move(arg));
    // Built before fork: the child of a threaded process may only make async-signal-safe calls.
    std::vector<std::string> env_storage;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      std::string text = *entry;
      std::string name = text.substr(0, text.find('='));
      bool overridden = false;
      for (const auto& extra : environment) overridden |= extra.substr(0, extra.find('=')) == name;
      if (!overridden) env_storage.push_back(std::move(text));
    }
    for (auto& extra : environment) env_storage.push_back(std::move(extra));
    std::vector<char*> envp;
    for (auto& entry : env_storage) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::vector<char*> argv;
    for (auto& arg : argv_storage) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* log = std::fopen(log_path_.c_str(), "a");
      if (log) {
        ::dup2(fileno(log), 1);
        ::dup2(fileno(log), 2);
      }
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
  }
  ~ChildProcess() { Kill(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Waits until the log contains `text` (e.g. the ready line). False on timeout or exit.
  bool WaitForLog(const std::string& text, int timeout_ms = 15000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Log().find(text) != std::string::npos) return true;
      if (!Running()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
  }
  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exit_status_ = status;
      pid_ = -1;
      return false;
    }
    return true;
  }
  // SIGKILL: the crash the durability guarantees are about.
  void Kill() { Signal(SIGKILL); }
  // SIGTERM and wait: a clean stop. Returns the exit code (or -1).
  int Stop() {
    Signal(SIGTERM);
    return WIFEXITED(exit_status_) ? WEXITSTATUS(exit_status_) : -1;
  }
  // SIGSTOP / SIGCONT: the process freezes (its sockets stay open, nothing answers) and
  // resumes; neither reaps it. Pause returns once every thread of it has stopped: the kernel
  // hands a SIGSTOP to one thread, which then stops the others, so on a busy machine the rest
  // can go on running (answering requests) for a while after kill() returned. etcd_client_test
  // once got an answer from a member it had just stopped, under ctest -j4.
  // False when the process is not running or did not stop within 5 s: callers REQUIRE it.
  [[nodiscard]] bool Pause() {
    if (pid_ <= 0) return false;
    ::kill(pid_, SIGSTOP);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!EveryThreadStopped(pid_)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
  void Resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }
  pid_t pid() const { return pid_; }
  // Whether every thread of `pid` shows state T (stopped; t under a debugger) in /proc, or has
  // ended.
  static bool EveryThreadStopped(pid_t pid) {
    std::error_code ec;
    const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
    for (std::filesystem::directory_iterator task(tasks, ec), end; !ec && task != end;
         task.increment(ec)) {
      std::ifstream in(task->path() / "stat");
      std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      // "tid (comm) S ...": the state follows the last ')' (comm may hold parentheses).
      size_t close = stat.rfind(')');
      if (close == std::string::npos || close + 2 >= stat.size()) continue;  // exited meanwhile
      const char state = stat[close + 2];
      if (state != 'T' && state != 't' && state != 'Z' && state != 'X') return false;  // Z, X: ended
    }
    return true;
  }
  // Once the process ended (Running() returned false, or Kill/Stop): its exit code, or -N
  // when signal N ended it.
  int ExitCode() const {
    if (WIFEXITED(exit_status_)) return WEXITSTATUS(exit_status_);
    if (WIFSIGNALED(exit_status_)) return -WTERMSIG(exit_status_);
    return -1;
  }

 private:
  void Signal(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exit_status_ = status;
    pid_ = -1;
  }
  std::string log_path_;
  pid_t pid_ = -1;
  int exit_status_ = 0;
};

}  // namespace aplus::testing
