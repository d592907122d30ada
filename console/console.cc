#include "console/console.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "common/clock.h"
#include "common/wire.h"
#include "http/problem.h"

namespace aplus {
namespace {

constexpr int kMaxPollMs = 100;

// With CURVE the broker takes the role and principal from the key (the Hello restates
// nothing, as `aplus` does); a broker run with --insecure takes them from the Hello.
wire::Hello ConsoleHello(const std::string& console_id, bool curve) {
  wire::Hello hello;
  if (!curve) {
    hello.set_role(wire::CONSOLE);
    hello.set_principal(console_id);
  }
  hello.set_software("aplus-console");
  return hello;
}

}  // namespace

Console::Console(ConsoleOptions options, NetworkConfig config)
    : options_(std::move(options)),
      config_(std::move(config)),
      tokens_(options_.token_dir),
      metrics_("aplus-console", APLUS_VERSION, UnixNowMs()) {}

Console::~Console() {
  // Responders still held (an open tab's alert stream, a report being computed, requests
  // waiting for the broker) answer when their last copy goes, and that answer is counted
  // (http_requests_) and may read report_cache_: they must go while those members live. So the
  // HTTP door first (no new requests), then the feed and the link, before the members declared
  // after them are destroyed.
  door_.reset();
  feed_.reset();
  link_.reset();
}

Result<std::unique_ptr<Console>> Console::Open(ConsoleOptions options, NetworkConfig config) {
  std::unique_ptr<Console> console(new Console(std::move(options), std::move(config)));
  Status tokens = console->tokens_.Start();
  if (!tokens.ok()) return tokens;
  const ConsoleOptions& o = console->options_;
  try {
    // window 0: the console takes no deliveries, it only asks.
    console->link_ = std::make_unique<BrokerLink>(console->context_, o.broker_endpoint,
                                                  ConsoleHello(o.console_id, o.curve.has_value()), 0, o.curve);
    console->feed_ = std::make_unique<AlertFeed>(console->context_, o.alerts_endpoint, o.curve,
                                                 *console->link_, o.request_timeout_ms,
                                                 o.stream_hold_ms);
  } catch (const zmq::error_t& e) {
    return Status(wire::INVALID_ARGUMENT, std::string("cannot use the broker's endpoints: ") +
                                              e.what());
  }
  HttpFrontDoorOptions door;
  door.server = o.http;
  door.token_dir = o.token_dir;
  door.count_answer = console->http_requests_.Hook();
  auto started = HttpFrontDoor::Start(std::move(door), console->Routes());
  if (!started.ok()) return started.status();
  console->door_ = std::move(started).value();
  return console;
}

std::string Console::url() const { return door_->Url(); }

void Console::Run(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    zmq::pollitem_t items[] = {{link_->socket().handle(), 0, ZMQ_POLLIN, 0},
                               {feed_->socket().handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, door_->fd(), ZMQ_POLLIN, 0}};
    int wait = std::clamp(link_->NextWakeInMs(), 0, kMaxPollMs);
    try {
      zmq::poll(items, 3, std::chrono::milliseconds(wait));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) spdlog::error("poll failed: {}", e.what());
      continue;
    }
    if (items[0].revents & ZMQ_POLLIN) link_->OnReadable();
    if (items[1].revents & ZMQ_POLLIN) feed_->OnReadable();
    if (items[2].revents & ZMQ_POLLIN) door_->Dispatch();
    link_->OnTick();
    feed_->OnTick(SteadyNowMs());
  }
}

namespace {

// Compares two secrets without telling, by its timing, how much of a guess was right.
bool SameSecret(const std::string& given, const std::string& expected) {
  return given.size() == expected.size() &&
         CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

}  // namespace

HttpRoute Console::Signed(std::string method, std::string pattern, Handler handler) {
  bool post = method == "POST";
  HttpRoute route;
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  route.needs_token = false;  // people use a session cookie, not a bearer token
  // The live alert stream reconnects by itself every ~20 s: it must not keep a tab signed in.
  bool touch = route.pattern != "/api/alerts/stream";
  route.handle = [this, post, touch, handler = std::move(handler)](HttpCall&& call) {
    int64_t now = SteadyNowMs();
    auto session = sessions_.Find(call.request, now, touch);
    if (!session) {
      SendProblem(call.responder, Status(wire::NOT_AUTHENTICATED, "sign in first"));
      return;
    }
    if (now >= next_token_check_ms_) {
      tokens_.ReloadIfChanged();
      next_token_check_ms_ = now + 1000;
    }
    if (!TokenStillValid(*session)) {
      // The person's token was removed or replaced: the session it opened ends now.
      sessions_.Close(session->id);
      feed_->Forget(session->id);
      SendProblem(call.responder, Status(wire::NOT_AUTHENTICATED, "token revoked: sign in again"));
      return;
    }
    if (post && !SameSecret(call.request.Header("x-csrf-token").value_or(""), session->csrf)) {
      SendProblem(call.responder,
                  Status(wire::PERMISSION_DENIED, "missing or wrong X-CSRF-Token header"));
      return;
    }
    handler(std::move(call), *session);
  };
  return route;
}

bool Console::TokenStillValid(const ConsoleSession& session) const {
  auto snapshot = tokens_.Snapshot();
  for (const TokenEntry& entry : snapshot->entries()) {
    if (entry.name == session.person && entry.sha256_hex == session.token_sha256) return true;
  }
  return false;
}

void Console::Ask(const ConsoleSession& session, wire::Envelope request,
                  const http::Responder& responder, wire::Envelope::BodyCase expected,
                  std::function<void(const wire::Envelope&)> on_answer) {
  request.set_on_behalf_of(session.person);
  link_->Request(std::move(request), options_.request_timeout_ms,
                 [responder, expected, on_answer = std::move(on_answer)](
                     Result<wire::Envelope> answer) {
                   if (!answer.ok()) {
                     SendProblem(responder, answer.status());
                     return;
                   }
                   Status refused = StatusOf(*answer);
                   if (!refused.ok()) {
                     SendProblem(responder, refused);
                     return;
                   }
                   if (answer->body_case() != expected) {
                     SendProblem(responder, Status(wire::INTERNAL, "unexpected answer " +
                                                                       BodyName(*answer)));
                     return;
                   }
                   on_answer(*answer);
                 });
}

}  // namespace aplus
