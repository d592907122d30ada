// aplus-partner-gateway: the daemon at a partner. Flags and output are specified in
// docs/PROGRAMS.md. The start-up both gateways share is gateway/gateway_main.h.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>

#include "common/clock.h"
#include "gateway/gateway_main.h"
#include "gateway/webhook_schedule.h"
#include "gateway/webhook_signature.h"
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
  aplus::GatewayHttpFlags http;
  http.listen = "127.0.0.1:7421";
  std::string webhook_url, webhook_secret_file;
  std::string webhook_schedule = aplus::kDefaultWebhookSchedule;
  std::string webhook_failing_after;
  int webhook_timeout_ms = 10000;
  app.add_option("--partner", partner_id, "partner id (from the network config)")->required();
  app.add_option("--territory", territory, "territory served, for per-territory partners");
  start.AddCommonFlags(app, flags, "config endpoints.partner_gateway",
                       "./aplus-data/partner-gateway-<ID>");
  app.add_option("--window", window, "credit window: deliveries in flight at most")
      ->check(CLI::Range(1u, 100000u));
  app.add_option("--spool-dir", spool_dir,
                 "write each delivered escalation there as <case id>.json (and each SLA "
                 "reminder as <case id>.alert-<warning|breach>.json) before acking it");
  aplus::GatewayMain::AddHttpFlags(app, http, "the partner's systems");
  app.add_option("--webhook-url", webhook_url,
                 "POST every event of the partner's feed there (Standard Webhooks)");
  app.add_option("--webhook-secret-file", webhook_secret_file,
                 "the whsec_ secret(s) signing webhooks, one per line (two during a rotation); "
                 "refused when group or others may read or write it");
  app.add_option("--webhook-schedule", webhook_schedule,
                 "retry schedule, e.g. \"0s,1s,2s;every=2s;until=1m;jitter=0\" (default: at "
                 "once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then every 10 h for 3 days)");
  app.add_option("--webhook-failing-after", webhook_failing_after,
                 "report failing webhooks after this long (default \"1 jours-ouvres\"; e.g. "
                 "\"24 heures\", \"3 seconds\")");
  app.add_option("--webhook-timeout-ms", webhook_timeout_ms,
                 "one webhook attempt's time limit (connect to response)")
      ->check(CLI::Range(100, 600000));
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

  auto http_server = aplus::GatewayMain::ResolveHttp(http);
  if (!http_server.ok()) return start.Fail(http_server.status().message());
  options.http = std::move(http_server).value();
  options.token_dir = http.token_dir;
  if (!webhook_url.empty() || !webhook_secret_file.empty()) {
    if (webhook_url.empty() || webhook_secret_file.empty()) {
      return start.Fail("--webhook-url and --webhook-secret-file go together");
    }
    // The secret signs what the partner trusts: a file others may read would let them forge
    // webhooks, so group/other permissions are refused outright (as ssh does for keys).
    struct stat info {};
    if (::stat(webhook_secret_file.c_str(), &info) != 0) {
      return start.Fail("cannot read --webhook-secret-file " + webhook_secret_file);
    }
    if ((info.st_mode & 077) != 0) {
      return start.Fail("--webhook-secret-file " + webhook_secret_file +
                        " may be read or written by group or others (chmod 600 it)");
    }
    std::ifstream in(webhook_secret_file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return start.Fail("cannot read --webhook-secret-file " + webhook_secret_file);
    auto secrets = aplus::ParseWebhookSecrets(text.str());
    if (!secrets.ok()) return start.Fail("--webhook-secret-file: " + secrets.status().message());
    options.webhook_url = webhook_url;
    options.webhook_secrets = std::move(secrets).value();
  }
  std::string schedule_text = webhook_schedule;
  if (!webhook_failing_after.empty()) schedule_text += ";report=" + webhook_failing_after;
  auto schedule = aplus::WebhookSchedule::Parse(schedule_text);
  if (!schedule.ok()) return start.Fail("--webhook-schedule: " + schedule.status().message());
  options.webhook_schedule = std::move(schedule).value();
  options.webhook_timeout_ms = webhook_timeout_ms;

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
  if ((*gateway)->http_port() != 0) {
    std::printf("aplus-partner-gateway %s HTTP API on %s\n", partner_id.c_str(),
                (*gateway)->http_url().c_str());
  }
  std::fflush(stdout);
  return start.Serve(std::move(gateway).value());
}
