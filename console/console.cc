#include "console/console.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "common/clock.h"
#include "common/wire.h"
#include "http/problem.h"

namespace aplus {
namespace {

constexpr int kMaxPollMs = 100;

int64_t UnixNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

Console::~Console() = default;

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
  auto started = HttpFrontDoor::Start(std::move(door), console->Routes());
  if (!started.ok()) return started.status();
  console->door_ = std::move(started).value();
  return console;
}

std::string Console::url() const {
  std::string host = options_.http.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(door_->tls() ? "https" : "http") + "://" + host + ":" +
         std::to_string(door_->port());
}

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

HttpRoute Console::Signed(std::string method, std::string pattern, Handler handler) {
  bool post = method == "POST";
  HttpRoute route;
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  route.needs_token = false;  // people use a session cookie, not a bearer token
  route.handle = [this, post, handler = std::move(handler)](HttpCall&& call) {
    auto session = sessions_.Find(call.request, SteadyNowMs());
    if (!session) {
      SendProblem(call.responder, Status(wire::NOT_AUTHENTICATED, "sign in first"));
      return;
    }
    if (post && call.request.Header("x-csrf-token").value_or("") != session->csrf) {
      SendProblem(call.responder,
                  Status(wire::PERMISSION_DENIED, "missing or wrong X-CSRF-Token header"));
      return;
    }
    handler(std::move(call), *session);
  };
  return route;
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
