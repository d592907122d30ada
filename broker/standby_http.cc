// The standby's HTTP listener (docs/AVAILABILITY.md, docs/METRICS.md): GET /health and
// GET /metrics on the broker's --http-listen address while this node is the standby, on the
// front door every program shares (http/http_front_door.h), driven from the standby's loop.
// Once the node leads, the Broker serves the same address with its own routes.
#include <spdlog/spdlog.h>

#include "broker/standby_node.h"
#include "common/clock.h"

namespace aplus {

Status StandbyNode::StartHttp() {
  auto started = StartHttpListener(options_.http, HttpRoutes());
  if (!started.ok()) return started.status();
  http_ = std::move(started).value();
  return Status::Ok();
}

std::vector<HttpRoute> StandbyNode::HttpRoutes() {
  // The broker's two routes, with the same access rules (broker/broker_http.cc).
  return {
      HttpRoute{"GET", "/metrics", [this](HttpCall&& call) { ServeMetrics(std::move(call)); },
                /*needs_token=*/true, /*open_on_loopback=*/true},
      HttpRoute{"GET", "/health", [this](HttpCall&& call) { ServeHealth(std::move(call)); },
                /*needs_token=*/false},
  };
}

void StandbyNode::ServeHealth(HttpCall&& call) {
  // Healthy as a standby: serving, and (when it says so) copying from a leader. It answers no
  // client request but NOT_LEADER: a load balancer keeps clients on the leader (role).
  nlohmann::json body = {{"status", "ok"},
                         {"role", "standby"},
                         {"node", options_.node},
                         {"leader", following_ ? following_->node : ""},
                         {"following", Following()},
                         {"epoch", highest_epoch_},
                         {"applied_sequence", AppliedSequence()},
                         {"program", "aplus-broker"},
                         {"version", APLUS_VERSION}};
  SendJson(call.responder, 200, body);
}

void StandbyNode::ServeMetrics(HttpCall&& call) {
  StandbyMetrics::View view;
  view.following = Following();
  view.epoch = highest_epoch_;
  view.applied_sequence = AppliedSequence();
  http::HttpResponse response;
  response.content_type = ProgramMetrics::kContentType;
  response.body = metrics_.Render(view);
  call.responder.Send(std::move(response));
}

}  // namespace aplus
