#include "console/alert_feed.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/endpoint_list.h"
#include "console/proto_json.h"

namespace aplus {
namespace {

// Every kind, acknowledged ones too: a browser shows who took an alert.
AlertFilter EveryAlert() {
  AlertFilter filter;
  filter.include_acked = true;
  return filter;
}

}  // namespace

AlertFeed::AlertFeed(zmq::context_t& context, const std::string& endpoint,
                     const std::optional<CurveClientKeys>& curve, BrokerLink& link,
                     int request_timeout_ms, int64_t hold_ms)
    : socket_(context, zmq::socket_type::sub),
      link_(link),
      request_timeout_ms_(request_timeout_ms),
      hold_ms_(hold_ms),
      follower_(EveryAlert()) {
  socket_.set(zmq::sockopt::linger, 0);
  if (curve) ApplyCurveClient(socket_, *curve);
  for (const auto& prefix : AlertTopicPrefixes(AlertFilter{})) {
    socket_.set(zmq::sockopt::subscribe, prefix);
  }
  // A pair of brokers: both publication endpoints (only the leader publishes).
  for (const auto& one : EndpointListOrSelf(endpoint)) socket_.connect(one);
}

void AlertFeed::OnReadable() {
  while (true) {
    std::vector<zmq::message_t> frames;
    try {
      do {
        frames.emplace_back();
        if (!socket_.recv(frames.back(), zmq::recv_flags::dontwait)) {
          frames.pop_back();
          break;
        }
      } while (frames.back().more());
    } catch (const zmq::error_t& e) {
      spdlog::warn("alert stream: {}", e.what());
      return;
    }
    if (frames.empty()) break;
    // Input from the network: anything but topic + Alert is skipped, never fatal.
    wire::Alert alert;
    if (frames.size() != 2 ||
        !alert.ParseFromArray(frames[1].data(), static_cast<int>(frames[1].size()))) {
      continue;
    }
    if (follower_.Offer(alert)) Keep(alert);
  }
  Answer(0, /*only_news=*/true);
}

void AlertFeed::Keep(const wire::Alert& alert) {
  if (alert.sequence() == 0) return;  // an older broker: no cursor to stream it by
  recent_[alert.sequence()] = alert;
  while (recent_.size() > kKeep) recent_.erase(recent_.begin());
}

void AlertFeed::Update(const wire::Alert& alert) {
  auto it = recent_.find(alert.sequence());
  if (it != recent_.end() && it->second.alert_id() == alert.alert_id()) it->second = alert;
}

void AlertFeed::OnTick(int64_t now_ms) {
  Answer(now_ms, /*only_news=*/false);
  if (!waiters_.empty() && now_ms >= next_catch_up_ms_) {
    CatchUp(waiters_.front().person);
    next_catch_up_ms_ = now_ms + kCatchUpEveryMs;
  }
}

void AlertFeed::CatchUp(const std::string& person) {
  if (catching_up_) return;
  catching_up_ = true;
  wire::Envelope request = follower_.CatchUpRequest();
  request.set_on_behalf_of(person);
  link_.Request(std::move(request), request_timeout_ms_,
                [this, person](Result<wire::Envelope> answer) {
                  catching_up_ = false;
                  // A broker that does not answer is asked again at the next round.
                  if (!answer.ok() || !answer->has_alert_list()) return;
                  const auto& list = answer->alert_list();
                  for (const auto& alert : list.alerts()) {
                    if (follower_.OfferCaughtUp(alert)) Keep(alert);
                  }
                  follower_.Advance(list.scanned_to_sequence());
                  Answer(0, /*only_news=*/true);
                  if (list.alerts_size() >= static_cast<int>(AlertFollower::kCatchUpPage)) {
                    CatchUp(person);
                  }
                });
}

void AlertFeed::Wait(http::Responder responder, uint64_t after, const std::string& person,
                     const std::string& session_id, int64_t now_ms) {
  size_t of_session = 0;
  for (const Waiter& waiter : waiters_) of_session += waiter.session_id == session_id ? 1 : 0;
  if (of_session >= kMaxStreamsPerSession) {
    auto oldest = std::find_if(waiters_.begin(), waiters_.end(), [&](const Waiter& waiter) {
      return waiter.session_id == session_id;
    });
    Release(*oldest, After(oldest->after), kEvictedRetryMs);
    waiters_.erase(oldest);
  }
  if (waiters_.size() >= kMaxWaiters) {
    Release(waiters_.front(), After(waiters_.front().after), kEvictedRetryMs);
    waiters_.pop_front();
  }
  waiters_.push_back(Waiter{std::move(responder), after, person, session_id, now_ms + hold_ms_});
  // Known news leaves at once; otherwise ask the broker what this feed may have missed.
  Answer(now_ms, /*only_news=*/true);
  if (!waiters_.empty()) CatchUp(person);
}

void AlertFeed::Forget(const std::string& session_id) {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->session_id == session_id) {
      Release(*it, After(it->after));
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
}

void AlertFeed::Release(Waiter& waiter, const std::vector<wire::Alert>& alerts,
                        int64_t retry_ms) {
  uint64_t cursor = alerts.empty() ? waiter.after : alerts.back().sequence();
  http::HttpResponse response;
  response.content_type = "text/event-stream; charset=utf-8";
  response.headers.emplace_back("Cache-Control", "no-store");
  response.body = EventStreamBody(alerts, cursor, retry_ms);
  waiter.responder.Send(std::move(response));
}

std::vector<wire::Alert> AlertFeed::After(uint64_t after) const {
  std::vector<wire::Alert> alerts;
  for (auto it = recent_.upper_bound(after); it != recent_.end(); ++it) alerts.push_back(it->second);
  return alerts;
}

void AlertFeed::Answer(int64_t now_ms, bool only_news) {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    auto alerts = After(it->after);
    bool expired = !only_news && now_ms >= it->deadline_ms;
    // A browser gone away meanwhile: its responder drops the answer quietly.
    if (!alerts.empty() || expired) {
      Release(*it, alerts);
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
}

std::string AlertFeed::EventStreamBody(const std::vector<wire::Alert>& alerts, uint64_t cursor,
                                       int64_t retry_ms) {
  std::string body = "retry: " + std::to_string(retry_ms) + "\n\n";
  for (const auto& alert : alerts) {
    // One line of JSON: dump() escapes newlines, so the data field cannot be split.
    body += "id: " + std::to_string(alert.sequence()) + "\nevent: alert\ndata: " +
            ProtoJson(alert).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
            "\n\n";
  }
  if (alerts.empty()) body += ": no news\nid: " + std::to_string(cursor) + "\n\n";
  return body;
}

}  // namespace aplus
