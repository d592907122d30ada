// aplus-partner-gateway: the daemon at a partner. Flags and output are specified in
// docs/PROGRAMS.md. The start-up both gateways share is gateway/gateway_main.h.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <string>

#include "common/clock.h"
#include "gateway/gateway_main.h"
#include "partner-gateway/partner_gateway.h"

int main(int argc, char** argv) {
  aplus::GatewayMain start("aplus-partner-gateway", "partner-gateway");
  CLI::App app{
      "A+ partner gateway: receives escalations for one partner and sends back its "
      "acknowledgements and replies"};
  aplus::GatewayCommonFlags flags;
  std::string partner_id;
  std::string territory;
  std::string spool_dir;
  uint32_t window = 64;
  app.add_option("--partner", partner_id, "partner id (from the network config)")->required();
  app.add_option("--territory", territory, "territory served, for per-territory partners");
  start.AddCommonFlags(app, flags, "config endpoints.partner_gateway",
                       "./aplus-data/partner-gateway-<ID>");
  app.add_option("--window", window, "credit window: deliveries in flight at most")
      ->check(CLI::Range(1u, 100000u));
  app.add_option("--spool-dir", spool_dir,
                 "write each delivered escalation there as <case id>.json (and each SLA "
                 "reminder as <case id>.alert-<warning|breach>.json) before acking it");
  if (auto exit_status = start.Parse(app, argc, argv)) return *exit_status;

  auto config = start.SetUp(flags);
  if (!config.ok()) return start.Fail(config.status().message());
  const aplus::Partner* partner = config->FindPartner(partner_id);
  if (partner == nullptr) return start.Fail("unknown partner " + partner_id);
  if (!territory.empty() && config->FindTerritory(territory) == nullptr) {
    return start.Fail("unknown territory " + territory);
  }

  aplus::PartnerGatewayOptions options;
  options.partner = partner_id;
  options.territory = territory;
  options.broker_endpoint = flags.broker.empty() ? config->endpoints.broker : flags.broker;
  auto curve = flags.broker_keys.Resolve(options.broker_endpoint);
  if (!curve.ok()) return start.Fail(curve.status().message());
  options.curve = std::move(curve).value();
  options.listen_endpoint =
      flags.listen.empty() ? config->endpoints.partner_gateway : flags.listen;
  options.data_dir =
      flags.data_dir.empty() ? "./aplus-data/partner-gateway-" + partner_id : flags.data_dir;
  options.spool_dir = spool_dir;
  options.window = window;
  options.forward_timeout_ms = flags.forward_timeout_ms;
  options.max_frame_bytes = config->broker.max_frame_bytes;
  options.retention = config->retention;

  aplus::Status created = start.CreateDirectory(options.data_dir, "data directory");
  if (!created.ok()) return start.Fail(created.message());
  if (!spool_dir.empty()) {
    created = start.CreateDirectory(spool_dir, "spool directory");
    if (!created.ok()) return start.Fail(created.message());
  }

  zmq::context_t context(1);
  aplus::SystemClock clock;
  auto gateway = aplus::PartnerGateway::Open(context, options, clock);
  if (!gateway.ok()) return start.Fail(gateway.status().message());

  auto queues = aplus::PartnerQueuesFor(*config, *partner, territory);
  spdlog::info("partner {} ({} queue(s)), data in {}", partner_id, queues.size(),
               options.data_dir);
  std::printf("aplus-partner-gateway %s ready on %s (broker: %s)\n", partner_id.c_str(),
              (*gateway)->local_endpoint().c_str(), options.broker_endpoint.c_str());
  std::fflush(stdout);
  return start.Serve(std::move(gateway).value());
}
