#include "tools/bench/partner_software.h"

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>

#include "tools/bench/broker_process.h"
#include "tools/bench/keep_alive_client.h"

namespace aplus::bench {

namespace http = boost::beast::http;

PartnerSoftware::PartnerSoftware(PartnerSoftwareOptions options) : options_(std::move(options)) {}

PartnerSoftware::~PartnerSoftware() { Stop(); }

void PartnerSoftware::Start() {
  running_ = true;
  threads_.emplace_back([this] { ReadFeed(); });
  for (uint32_t i = 0; i < options_.ack_connections; ++i) {
    threads_.emplace_back([this] { AckCases(); });
  }
}

void PartnerSoftware::Stop() {
  running_ = false;
  work_.notify_all();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

PartnerSoftwareSnapshot PartnerSoftware::Snapshot() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

void PartnerSoftware::CountError(const std::string& kind) {
  std::lock_guard lock(mutex_);
  ++counts_.errors[kind];
}

void PartnerSoftware::ReadFeed() {
  KeepAliveClient client(options_.host, options_.port, options_.token);
  std::string cursor;
  while (running_) {
    std::string error;
    auto response = client.Call(http::verb::get,
                                "/v1/events?wait=1&limit=1000&after=" + cursor, "", "", &error);
    int64_t now = SteadyNowNs();
    if (!response) {
      CountError("feed " + error);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (response->result_int() != 200) {
      CountError("feed status " + std::to_string(response->result_int()));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    auto page = nlohmann::json::parse(response->body(), nullptr, false);
    if (page.is_discarded() || !page.contains("events") || !page["events"].is_array()) {
      CountError("feed: malformed page");
      continue;
    }
    std::lock_guard lock(mutex_);
    ++counts_.feed_requests;
    for (const auto& event : page["events"]) {
      if (event.value("type", "") != "case.delivered") {
        ++counts_.other_events;
        continue;
      }
      std::string case_id = event.value("caseId", "");
      if (!read_ns_.emplace(case_id, now).second) {
        ++counts_.duplicate_deliveries;
        continue;
      }
      ++counts_.delivered;
      to_ack_.push_back(std::move(case_id));
    }
    if (page.contains("nextCursor") && page["nextCursor"].is_string()) {
      cursor = page["nextCursor"].get<std::string>();
    }
    work_.notify_all();
  }
}

void PartnerSoftware::AckCases() {
  KeepAliveClient client(options_.host, options_.port, options_.token);
  while (true) {
    std::string case_id;
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [this] { return !running_ || !to_ack_.empty(); });
      if (!running_) return;  // stopped: what is still queued is not taken
      case_id = std::move(to_ack_.front());
      to_ack_.pop_front();
    }
    std::string error;
    auto response = client.Call(http::verb::post, "/v1/cases/" + case_id + "/ack", "{}",
                                options_.run_tag + "-ack-" + case_id, &error);
    int64_t now = SteadyNowNs();
    std::lock_guard lock(mutex_);
    if (!response) {
      ++counts_.errors["ack " + error];
    } else if (response->result_int() == 200 || response->result_int() == 202) {
      ++(response->result_int() == 200 ? counts_.acked : counts_.acked_queued);
      acked_ns_[case_id] = now;
    } else {
      ++counts_.errors["ack status " + std::to_string(response->result_int())];
    }
  }
}

}  // namespace aplus::bench
