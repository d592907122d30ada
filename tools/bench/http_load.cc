#include "tools/bench/http_load.h"

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

#include "tools/bench/broker_process.h"
#include "tools/bench/keep_alive_client.h"
#include "tools/bench/steady_clock.h"

namespace aplus::bench {
namespace {

namespace http = boost::beast::http;

// One connection's share of the load, merged into the result at the end (no shared state on
// the hot path but the open loop's ticket counter).
class Connection {
 public:
  Connection(const HttpLoadOptions& options, uint32_t index, std::atomic<uint64_t>& tickets)
      : options_(options), index_(index), tickets_(tickets) {}

  void Run() {
    for (uint64_t sequence = 0;; ++sequence) {
      int64_t due;
      uint64_t ticket;
      if (options_.open_loop) {
        ticket = tickets_.fetch_add(1, std::memory_order_relaxed);
        due = OpenLoopSchedule(options_.start_ns, options_.rate).DueNs(ticket);
        if (due >= options_.window_end_ns) break;
        SleepUntilNs(due);
      } else {
        ticket = sequence;
        due = SteadyNowNs();
        if (due >= options_.window_end_ns) break;
      }
      int64_t sent = SteadyNowNs();
      std::string case_id;
      std::optional<int> status = Send(ticket, sequence, &case_id);
      int64_t answered = SteadyNowNs();
      result_.last_answer_ns = answered;
      if (!status) continue;  // counted in Send
      if (*status == 201) {
        ++result_.created_total;
        if (options_.collect_cases) result_.cases.push_back({std::move(case_id), sent});
        if (due >= options_.window_start_ns) {
          ++result_.created;
          result_.latencies_ns.push_back(answered - due);
        }
      } else {
        ++result_.other["status " + std::to_string(*status)];
      }
    }
  }

  HttpLoadResult& result() { return result_; }

 private:
  // One request and its answer; nullopt on a transport error (counted, connection reset).
  // With collect_cases, `case_id` gets the answer's caseId.
  std::optional<int> Send(uint64_t ticket, uint64_t sequence, std::string* case_id) {
    const auto& partner = options_.partners[(ticket + index_) % options_.partners.size()];
    nlohmann::json body = {{"agent", options_.agent},
                           {"partner", partner},
                           {"category", "bench-escalation"},
                           {"subject", "Bench " + std::to_string(ticket)},
                           {"body", std::string(options_.body_bytes, 'x')},
                           {"citizen", "Citoyen Bench"},
                           {"consent", true}};
    std::string error;
    auto response = client_.Call(http::verb::post, "/v1/cases", body.dump(),
                                 options_.run_tag + "-" + std::to_string(index_) + "-" +
                                     std::to_string(sequence),
                                 &error);
    if (!response) {
      ++result_.other[error];
      // Not sent when the connection could not be made: a pause, not a busy loop.
      if (error.rfind("connect: ", 0) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      } else {
        ++result_.sent;
      }
      return std::nullopt;
    }
    ++result_.sent;
    if (options_.collect_cases && response->result_int() == 201) {
      auto answer = nlohmann::json::parse(response->body(), nullptr, false);
      if (answer.is_object()) *case_id = answer.value("caseId", "");
    }
    return response->result_int();
  }

  const HttpLoadOptions& options_;
  const uint32_t index_;
  std::atomic<uint64_t>& tickets_;
  KeepAliveClient client_{options_.host, options_.port, options_.token};
  HttpLoadResult result_;
};

}  // namespace

Result<HttpLoadResult> RunHttpLoad(const HttpLoadOptions& options) {
  if (options.port == 0 || options.connections == 0 || options.partners.empty() ||
      (options.open_loop && options.rate <= 0)) {
    return Status(wire::INVALID_ARGUMENT, "http load: no port, connection, partner or rate");
  }
  std::atomic<uint64_t> tickets{0};
  std::vector<std::unique_ptr<Connection>> connections;
  for (uint32_t i = 0; i < options.connections; ++i) {
    connections.push_back(std::make_unique<Connection>(options, i, tickets));
  }
  std::vector<std::thread> threads;
  for (auto& connection : connections) threads.emplace_back([&connection] { connection->Run(); });
  for (auto& thread : threads) thread.join();
  HttpLoadResult total;
  total.first_due_ns = options.start_ns;
  for (auto& connection : connections) {
    auto& part = connection->result();
    total.sent += part.sent;
    total.created += part.created;
    total.created_total += part.created_total;
    for (auto& created : part.cases) total.cases.push_back(std::move(created));
    for (const auto& [kind, count] : part.other) total.other[kind] += count;
    total.latencies_ns.insert(total.latencies_ns.end(), part.latencies_ns.begin(),
                              part.latencies_ns.end());
    total.last_answer_ns = std::max(total.last_answer_ns, part.last_answer_ns);
  }
  return total;
}

}  // namespace aplus::bench
