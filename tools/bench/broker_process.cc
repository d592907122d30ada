#include "tools/bench/broker_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "common/clock.h"

namespace aplus::bench {

int PickFreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  int port = 0;
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

Result<std::vector<int>> PickFreeLoopbackPorts(int count) {
  std::vector<int> ports;
  for (int tries = 0; static_cast<int>(ports.size()) < count && tries < 50 * count + 50; ++tries) {
    int port = PickFreeLoopbackPort();
    if (port != 0 && std::find(ports.begin(), ports.end(), port) == ports.end()) ports.push_back(port);
  }
  if (static_cast<int>(ports.size()) < count) return Status(wire::INTERNAL, "no free loopback port");
  return ports;
}

BrokerProcess::BrokerProcess(std::string binary, std::string data_dir, std::string endpoint,
                             std::string alerts_endpoint, std::string config_path,
                             std::string log_path)
    : binary_(std::move(binary)),
      data_dir_(std::move(data_dir)),
      endpoint_(std::move(endpoint)),
      alerts_endpoint_(std::move(alerts_endpoint)),
      config_path_(std::move(config_path)),
      log_path_(std::move(log_path)) {}

BrokerProcess::~BrokerProcess() {
  if (running()) Stop(10000);
}

Status BrokerProcess::Start() {
  if (::access(binary_.c_str(), X_OK) != 0) {
    return Status(wire::INVALID_ARGUMENT, "cannot execute broker binary " + binary_);
  }
  // --alerts always: the default PUB port (7401) would collide with any other broker here;
  // likewise the HTTP listener (default 7402): off, or on a port of the run's. The counters
  // count either way: their cost is in the figures.
  std::string http_listen = metrics_port_ > 0 ? "127.0.0.1:" + std::to_string(metrics_port_) : "off";
  std::vector<std::string> args = {binary_,   "--listen",   endpoint_,   "--alerts",
                                   alerts_endpoint_, "--data-dir", data_dir_, "--log-level",
                                   "info", "--http-listen", http_listen,
                                   // The benchmark is one principal per simulated gateway,
                                   // each far above a real contact point's pace.
                                   "--rate-limit", "0", "--max-open-cases", "0"};
  if (metrics_port_ > 0) {
    // The listener's token directory beside the data directory, removed with the run's files
    // (the broker's default is ./aplus-data/tokens-broker, in whatever directory the bench runs).
    args.push_back("--token-dir");
    args.push_back(data_dir_ + ".tokens");
  }
  if (!config_path_.empty()) {
    args.push_back("--config");
    args.push_back(config_path_);
  }
  for (const auto& arg : extra_args_) args.push_back(arg);
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return Status(wire::INVALID_ARGUMENT, "cannot write " + log_path_);
  pid_t parent = ::getpid();
  exec_ns_ = SteadyNowNs();
  exec_wall_ms_ = UnixNowMs();
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

std::string BrokerProcess::LogTail(size_t bytes) const {
  std::ifstream in(log_path_);
  std::stringstream content;
  content << in.rdbuf();
  std::string text = content.str();
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

Status BrokerProcess::WaitReady(int timeout_ms) {
  return WaitForLog("aplus-broker ready on " + endpoint_, timeout_ms);
}

bool BrokerProcess::LogContains(const std::string& text) const {
  std::ifstream in(log_path_);
  std::stringstream content;
  content << in.rdbuf();
  return content.str().find(text) != std::string::npos;
}

Status BrokerProcess::WaitForLog(const std::string& text, int timeout_ms) {
  if (pid_ <= 0) return Status(wire::UNAVAILABLE, "the broker is not running: " + LogTail(400));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (LogContains(text)) return Status::Ok();
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status(wire::UNAVAILABLE, "the broker exited (waiting for \"" + text +
                                           "\"): " + LogTail(400));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Status(wire::UNAVAILABLE,
                "the broker did not log \"" + text + "\" in time: " + LogTail(400));
}

int BrokerProcess::Stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  while (true) {
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
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
