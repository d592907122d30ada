// aplus-agent-gateway: the A+ gateway of one contact point (flags in docs/PROGRAMS.md). The
// start-up both gateways share is gateway/gateway_main.h.
#include <algorithm>
#include <iostream>
#include <string>

#include "agent-gateway/agent_gateway.h"
#include "agent-gateway/agent_gateway_options.h"
#include "gateway/gateway_main.h"

int main(int argc, char** argv) {
  aplus::GatewayMain start("aplus-agent-gateway", "agent-gateway");
  CLI::App app{"A+ agent gateway: the contact point's durable link to the broker"};
  aplus::GatewayCommonFlags flags;
  std::string contact_point;
  aplus::GatewayHttpFlags http;
  http.listen = "127.0.0.1:7411";
  app.add_option("--contact-point", contact_point, "contact point id (from the network config)")
      ->required();
  start.AddCommonFlags(app, flags, "config endpoints.agent_gateway",
                       "./aplus-data/agent-gateway-<ID>");
  aplus::GatewayMain::AddHttpFlags(app, http, "the contact point's software");
  if (auto exit_status = start.Parse(app, argc, argv)) return *exit_status;

  auto config = start.SetUp(flags);
  if (!config.ok()) return start.Fail(config.status().message());
  const aplus::ContactPoint* contact = config->FindContactPoint(contact_point);
  if (contact == nullptr) return start.Fail("unknown contact point " + contact_point);

  aplus::AgentGatewayOptions options;
  options.contact_point = contact_point;
  options.listen_endpoint = flags.listen.empty() ? config->endpoints.agent_gateway : flags.listen;
  options.broker_endpoint = flags.broker.empty() ? config->endpoints.broker : flags.broker;
  auto curve = flags.broker_keys.Resolve(options.broker_endpoint);
  if (!curve.ok()) return start.Fail(curve.status().message());
  options.curve = std::move(curve).value();
  options.data_dir =
      flags.data_dir.empty() ? "./aplus-data/agent-gateway-" + contact_point : flags.data_dir;
  options.forward_timeout_ms = flags.forward_timeout_ms;
  options.outbox_request_timeout_ms = std::max(flags.forward_timeout_ms, 5000);

  aplus::Status created = start.CreateDirectory(options.data_dir, "data directory");
  if (!created.ok()) return start.Fail(created.message());
  // Checks the address and makes the token directory (0700) when missing.
  auto http_server = aplus::GatewayMain::ResolveHttp(http);
  if (!http_server.ok()) return start.Fail(http_server.status().message());
  if (http_server->has_value()) {
    options.http_listen = http.listen;
    options.http_tls_cert_file = http.tls_cert;
    options.http_tls_key_file = http.tls_key;
    options.token_dir = http.token_dir;
  }

  auto gateway = aplus::AgentGateway::Open(options, *config);
  if (!gateway.ok()) return start.Fail(gateway.status().message());
  if (!(*gateway)->http_url().empty()) {
    std::cout << "HTTP API on " << (*gateway)->http_url() << std::endl;
  }
  std::cout << "aplus-agent-gateway " << contact_point << " ready on "
            << (*gateway)->bound_endpoint() << " (broker: " << options.broker_endpoint << ")"
            << std::endl;
  return start.Serve(std::move(gateway).value());
}
