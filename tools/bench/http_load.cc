#include "tools/bench/http_load.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

#include "tools/bench/broker_process.h"

namespace aplus::bench {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

void SleepUntil(int64_t steady_ns) {
  int64_t now = SteadyNowNs();
  if (steady_ns > now) std::this_thread::sleep_for(std::chrono::nanoseconds(steady_ns - now));
}

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
        due = options_.start_ns + static_cast<int64_t>(static_cast<double>(ticket) * 1e9 /
                                                       options_.rate);
        if (due >= options_.window_end_ns) break;
        SleepUntil(due);
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
    beast::error_code ec;
    if (!stream_) {
      stream_.emplace(io_);
      tcp::endpoint endpoint(boost::asio::ip::make_address(options_.host, ec), options_.port);
      if (!ec) stream_->socket().connect(endpoint, ec);
      if (ec) {
        ++result_.other["connect: " + ec.message()];
        stream_.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return std::nullopt;
      }
      stream_->socket().set_option(tcp::no_delay(true), ec);
    }
    const auto& partner = options_.partners[(ticket + index_) % options_.partners.size()];
    nlohmann::json body = {{"agent", options_.agent},
                           {"partner", partner},
                           {"category", "bench-escalation"},
                           {"subject", "Bench " + std::to_string(ticket)},
                           {"body", std::string(options_.body_bytes, 'x')},
                           {"citizen", "Citoyen Bench"},
                           {"consent", true}};
    http::request<http::string_body> request{http::verb::post, "/v1/cases", 11};
    request.set(http::field::host, options_.host);
    request.set(http::field::authorization, "Bearer " + options_.token);
    request.set(http::field::content_type, "application/json");
    request.set("Idempotency-Key", options_.run_tag + "-" + std::to_string(index_) + "-" +
                                       std::to_string(sequence));
    request.keep_alive(true);
    request.body() = body.dump();
    request.prepare_payload();
    ++result_.sent;
    stream_->expires_after(std::chrono::seconds(30));
    http::write(*stream_, request, ec);
    http::response<http::string_body> response;
    if (!ec) http::read(*stream_, buffer_, response, ec);
    if (ec) {
      ++result_.other["transport: " + ec.message()];
      stream_.reset();
      buffer_.clear();
      return std::nullopt;
    }
    if (!response.keep_alive()) {
      stream_.reset();
      buffer_.clear();
    }
    if (options_.collect_cases && response.result_int() == 201) {
      auto answer = nlohmann::json::parse(response.body(), nullptr, false);
      if (answer.is_object()) *case_id = answer.value("caseId", "");
    }
    return response.result_int();
  }

  const HttpLoadOptions& options_;
  const uint32_t index_;
  std::atomic<uint64_t>& tickets_;
  boost::asio::io_context io_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
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
