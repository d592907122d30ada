// aplus: the command line of contact points, partners and operators (docs/PROGRAMS.md).
// This file only wires CLI11 to the Run* functions; each of them prints its answer and
// returns the exit code.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "common/endpoint_list.h"
#include "sla/civil_time.h"
#include "tools/aplus/agent_commands.h"
#include "tools/aplus/alert_commands.h"
#include "tools/aplus/audit_command.h"
#include "tools/aplus/deadline_command.h"
#include "tools/aplus/dlq_commands.h"
#include "tools/aplus/global_options.h"
#include "tools/aplus/key_commands.h"
#include "tools/aplus/operator_commands.h"
#include "tools/aplus/output.h"
#include "tools/aplus/partner_commands.h"
#include "tools/aplus/report_command.h"
#include "tools/aplus/token_commands.h"

namespace {

using aplus::cli::GlobalOptions;

// A ZeroMQ endpoint the CLI can connect to; anything else is a usage error, not a timeout.
const CLI::Validator kEndpoint(
    [](std::string& value) -> std::string {
      for (const char* scheme : {"tcp://", "ipc://", "inproc://"}) {
        if (value.rfind(scheme, 0) == 0 && value.size() > std::string(scheme).size()) return {};
      }
      return "not a ZeroMQ endpoint (expected tcp://HOST:PORT or ipc://PATH): " + value;
    },
    "ENDPOINT", "endpoint");

// The broker's endpoints: one, or a pair's as a comma-separated list (common/endpoint_list.h),
// each a ZeroMQ endpoint.
const CLI::Validator kEndpointList(
    [](std::string& value) -> std::string {
      auto list = aplus::ParseEndpointList(value);
      if (!list.ok()) return list.status().message();
      for (std::string endpoint : *list) {
        std::string wrong = kEndpoint(endpoint);
        if (!wrong.empty()) return wrong;
      }
      return {};
    },
    "ENDPOINT[,ENDPOINT...]", "endpoint list");

// A calendar date as the report takes it; a typo is a usage error before anything is sent.
const CLI::Validator kDate(
    [](std::string& value) -> std::string {
      return aplus::sla::ParseDate(value).ok() ? std::string()
                                               : "not a date (expected YYYY-MM-DD): " + value;
    },
    "YYYY-MM-DD", "date");

// What `aplus deadline --at` reads (the zone does not change what is well-formed).
const CLI::Validator kSubmissionTime(
    [](std::string& value) -> std::string {
      auto parsed = aplus::cli::ParseSubmissionTime(value, "Europe/Paris", 0);
      return parsed.ok() ? std::string() : parsed.status().message();
    },
    "TIME", "submission time");

void AddGlobalOptions(CLI::App& app, GlobalOptions& options) {
  app.add_flag("--json", options.json, "print exactly one JSON object on stdout");
  app.add_option("--agent-gateway", options.agent_gateway, "the agent gateway's local endpoint")
      ->capture_default_str()
      ->check(kEndpoint);
  app.add_option("--partner-gateway", options.partner_gateway,
                 "the partner gateway's local endpoint")
      ->capture_default_str()
      ->check(kEndpoint);
  app.add_option("--broker", options.broker,
                 "the broker's endpoint, or a pair's as a list tcp://a:7400,tcp://b:7400 "
                 "(the command follows the leader)")
      ->capture_default_str()
      ->check(kEndpointList);
  app.add_option("--alerts", options.alerts,
                 "the broker's alert publication endpoint, or a pair's as a list (both followed)")
      ->capture_default_str()
      ->check(kEndpointList);
  app.add_option("--config", options.config_path,
                 "network config for local computations (default: the built-in network)")
      ->check(CLI::ExistingFile);
  app.add_option("--operator", options.operator_id, "operator id presented to the broker")
      ->capture_default_str();
  if (const char* key = std::getenv("APLUS_KEY")) options.key_file = key;
  if (const char* key = std::getenv("APLUS_BROKER_KEY")) options.broker_key = key;
  app.add_option("--key", options.key_file,
                 "your CURVE key pair file, for commands sent to the broker (env APLUS_KEY)");
  app.add_option("--broker-key", options.broker_key,
                 "the broker's public key, .pub file or Z85 text (env APLUS_BROKER_KEY)");
  app.add_option("--timeout-ms", options.timeout_ms, "how long to wait for an answer")
      ->capture_default_str()
      ->check(CLI::Range(1, 24 * 3600 * 1000));
}

void AddKeyOption(CLI::App& command, std::string& key) {
  command.add_option("--idempotency-key", key,
                     "makes a retried request count once (default: a fresh random key)");
}

}  // namespace

int main(int argc, char** argv) {
  aplus::cli::InitDisplayTimeZone();
  // stdout carries the answer (one JSON object under --json); logs (a link moving to the
  // leader of a pair) go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("aplus"));

  CLI::App app{"A+: escalate citizens' cases from contact points to partners, and follow them.",
               "aplus"};
  // Inherited by every subcommand: global flags are accepted after the subcommand too.
  app.fallthrough();
  app.require_subcommand(1);
  GlobalOptions options;
  AddGlobalOptions(app, options);

  aplus::cli::SubmitArgs submit_args;
  auto* submit = app.add_subcommand("submit", "escalate a case to a partner");
  submit->add_option("--agent", submit_args.agent, "agent id at the contact point")->required();
  submit->add_option("--partner", submit_args.partner, "partner id")->required();
  submit->add_option("--category", submit_args.category, "e.g. unemployment-benefits")->required();
  submit->add_option("--subject", submit_args.subject, "one line")->required();
  submit->add_option("--body", submit_args.body, "the case, as the partner will read it")
      ->required();
  submit->add_option("--citizen", submit_args.citizen_name, "the citizen's name");
  submit->add_option("--mandate", submit_args.mandate_reference,
                     "reference of the citizen's signed mandate to the agent");
  submit->add_flag("--consent", submit_args.citizen_consent,
                   "the citizen consented to this escalation (when there is no mandate reference)");
  AddKeyOption(*submit, submit_args.idempotency_key);

  std::string case_ref;
  std::string key;
  auto* status = app.add_subcommand("status", "a case's state, details and whole timeline");
  status->add_option("CASE", case_ref, "case id or local ref")->required();

  uint32_t limit = 0;
  std::string after;
  auto* list = app.add_subcommand("list", "this contact point's cases");
  list->add_option("--limit", limit, "at most this many (default 100)");
  list->add_option("--after", after, "paging: cases after this case id");

  auto* close = app.add_subcommand("close", "close an answered case");
  close->add_option("CASE", case_ref, "case id")->required();
  AddKeyOption(*close, key);

  std::string reason;
  auto* cancel = app.add_subcommand("cancel", "withdraw a case before it is answered");
  cancel->add_option("CASE", case_ref, "case id")->required();
  cancel->add_option("--reason", reason, "why, for the partner");
  AddKeyOption(*cancel, key);

  auto* partner = app.add_subcommand("partner", "partner side, through the partner gateway");
  partner->require_subcommand(1);
  auto* inbox = partner->add_subcommand("inbox", "escalations stored by the partner gateway");
  inbox->add_option("--limit", limit, "at most this many");
  std::string note;
  auto* ack = partner->add_subcommand("ack", "take a case");
  ack->add_option("CASE", case_ref, "case id")->required();
  ack->add_option("--note", note, "a note for the contact point");
  AddKeyOption(*ack, key);
  std::string text;
  auto* reply = partner->add_subcommand("reply", "answer a case");
  reply->add_option("CASE", case_ref, "case id")->required();
  reply->add_option("--text", text, "the answer")->required();
  AddKeyOption(*reply, key);

  std::string question;
  auto* ask = partner->add_subcommand("ask", "ask the contact point a question (pauses the clock)");
  ask->add_option("CASE", case_ref, "case id")->required();
  ask->add_option("--question", question, "the question")->required();
  AddKeyOption(*ask, key);
  std::string to_partner;
  auto* transfer = partner->add_subcommand("transfer", "hand the case to the competent partner");
  transfer->add_option("CASE", case_ref, "case id")->required();
  transfer->add_option("--to", to_partner, "the competent partner's id")->required();
  transfer->add_option("--reason", reason, "why, for the contact point")->required();
  AddKeyOption(*transfer, key);

  std::string local_ref;
  auto* retry = app.add_subcommand(
      "retry", "send a FAILED_LOCALLY request of the agent gateway's outbox again");
  retry->add_option("REF", local_ref, "its local ref (LOC-<n>)")->required();
  auto* discard = app.add_subcommand(
      "discard", "drop a FAILED_LOCALLY request from the agent gateway's outbox for good");
  discard->add_option("REF", local_ref, "its local ref (LOC-<n>)")->required();
  auto* partner_retry = partner->add_subcommand(
      "retry", "send a FAILED_LOCALLY request of the partner gateway's outbox again");
  partner_retry->add_option("REF", local_ref, "its local ref (LOC-<n>)")->required();
  auto* partner_discard = partner->add_subcommand(
      "discard", "drop a FAILED_LOCALLY request from the partner gateway's outbox for good");
  partner_discard->add_option("REF", local_ref, "its local ref (LOC-<n>)")->required();

  bool webhooks_failed = false;
  std::string webhook_id;
  auto* webhooks = partner->add_subcommand(
      "webhooks", "the webhooks POSTed to the partner's URL: attempts, status, next try");
  webhooks->add_flag("--failed", webhooks_failed, "only those that failed for good");
  webhooks->add_option("--limit", limit, "at most this many (the newest)");
  auto* webhooks_redeliver =
      webhooks->add_subcommand("redeliver", "send a webhook (or every failed one) again");
  webhooks_redeliver->add_option("ID", webhook_id, "its webhook-id (msg_...)");
  webhooks_redeliver->add_flag("--failed", webhooks_failed, "every failed webhook");

  auto* answer = app.add_subcommand("answer", "answer the partner's question (restarts the clock)");
  answer->add_option("CASE", case_ref, "case id")->required();
  answer->add_option("--text", text, "the answer")->required();
  AddKeyOption(*answer, key);

  aplus::cli::DeadlineArgs deadline_args;
  auto* deadline = app.add_subcommand(
      "deadline", "the deadline of a submission at TIME, computed here from the network config");
  deadline
      ->add_option("--at", deadline_args.at,
                   "now, YYYY-MM-DD or YYYY-MM-DDTHH:MM (the contact point's local time)")
      ->capture_default_str()
      ->check(kSubmissionTime);
  deadline->add_option("--partner", deadline_args.partner, "partner id")->required();
  deadline->add_option("--contact-point", deadline_args.contact_point, "contact point id")
      ->required();
  deadline->add_option("--category", deadline_args.category,
                       "the case's category (some partners have a policy per category)");

  aplus::cli::AlertFilter alert_filter;
  std::string kind;
  bool follow = false;
  int for_seconds = 0;
  auto* alerts = app.add_subcommand("alerts", "SLA alerts (operator session)");
  alerts->add_option("--partner", alert_filter.partner, "only this partner's");
  alerts->add_option("--territory", alert_filter.territory, "only this territory's");
  alerts->add_option("--kind", kind, "warning, breach or dead-letter")
      ->check(CLI::IsMember({"warning", "breach", "dead-letter"}, CLI::ignore_case));
  alerts->add_flag("--all", alert_filter.include_acked, "also the alerts already taken");
  alerts->add_option("--limit", alert_filter.limit, "at most this many (default 100)");
  alerts->add_flag("--follow", follow,
                   "print the open alerts, then each one as the broker raises it (caught up "
                   "after a reconnection or a broker restart), until Ctrl-C");
  alerts->add_option("--for-seconds", for_seconds, "with --follow: stop after N seconds")
      ->check(CLI::Range(1, 365 * 24 * 3600));
  std::string alert_id;
  std::string by;
  auto* alert_ack = alerts->add_subcommand("ack", "record who takes an alert");
  alert_ack->add_option("ID", alert_id, "alert id")->required();
  alert_ack->add_option("--by", by, "who takes it (default: the --operator id)");

  aplus::cli::ReportArgs report_args;
  auto* report = app.add_subcommand(
      "report", "per-partner (or per-contact-point) SLA figures (operator session)");
  report->add_option("--from", report_args.from, "cases submitted from this day (Europe/Paris)")
      ->check(kDate);
  report->add_option("--to", report_args.to, "up to and including this day")->check(kDate);
  report->add_option("--partner", report_args.partner, "only this partner");
  report->add_option("--territory", report_args.territory, "only this territory's cases");
  report->add_option("--by", report_args.by,
                     "one row per partner (default) or per contact-point")
      ->check(CLI::IsMember({"partner", "contact-point"}));

  aplus::cli::SlaBoardArgs sla_board_args;
  auto* sla_board = app.add_subcommand(
      "sla-board", "open cases due within one working day, at risk, breached (operator session)");
  sla_board->add_option("--partner", sla_board_args.partner, "only this partner's cases");
  sla_board->add_option("--territory", sla_board_args.territory, "only this territory's cases");
  sla_board->add_option("--horizon-hours", sla_board_args.horizon_hours,
                        "due soon = deadline within H hours (default: by the end of the next "
                        "working day of each case's partner)")
      ->check(CLI::Range(0.0, 366.0 * 24));
  sla_board->add_option("--limit", sla_board_args.limit, "at most N cases per list (default 100)")
      ->check(CLI::Range(1, 1000));

  auto* stats = app.add_subcommand("stats", "the broker's counters (operator session)");

  auto* case_command = app.add_subcommand(
      "case", "a case's state, details and timeline, from the broker (operator session)");
  case_command->add_option("CASE", case_ref, "case id")->required();

  std::string dlq_partner;
  bool dlq_all = false;
  auto* dlq = app.add_subcommand("dlq", "dead-lettered items (operator session)");
  dlq->require_subcommand(1);
  auto* dlq_list = dlq->add_subcommand("list", "parked items, oldest first");
  dlq_list->add_option("--partner", dlq_partner, "only this partner's queues");
  dlq_list->add_option("--limit", limit, "at most this many (default 100)");
  auto* dlq_requeue = dlq->add_subcommand(
      "requeue", "put a case's parked items (or a partner's, with --all) back at the head of "
                 "their queues");
  dlq_requeue->add_option("CASE", case_ref, "case id");
  dlq_requeue->add_option("--partner", dlq_partner, "with --all: this partner's queues");
  dlq_requeue->add_flag("--all", dlq_all, "with --partner: every parked item of the partner");
  AddKeyOption(*dlq_requeue, key);

  std::string key_prefix;
  bool force = false;
  auto* keygen = app.add_subcommand(
      "keygen", "create a CURVE key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub");
  keygen->add_option("PREFIX", key_prefix, "path of the two files without .key / .pub")
      ->required();
  keygen->add_flag("--force", force, "replace existing files");

  // --keyring belongs to `keyring` and, by fallthrough, is accepted after add/remove/list.
  std::string keyring_dir = aplus::kDefaultKeyringDir;
  auto* keyring = app.add_subcommand("keyring", "the CURVE public keys the broker accepts");
  keyring->require_subcommand(1);
  keyring->add_option("--keyring", keyring_dir, "the keyring directory")->capture_default_str();
  aplus::cli::KeyringAddArgs keyring_add_args;
  auto* keyring_add = keyring->add_subcommand(
      "add", "admit a public key, as whom (with --config: checked against that network)");
  keyring_add->add_option("--name", keyring_add_args.name, "the entry's name (its file name)")
      ->required();
  keyring_add
      ->add_option("--role", keyring_add_args.role,
                   "agent-gateway, partner-gateway, operator, administrator, console or "
                   "broker-peer (the other broker of a pair)")
      ->required()
      ->check(CLI::IsMember({"agent-gateway", "partner-gateway", "operator", "administrator",
                             "console", "broker-peer"}));
  keyring_add
      ->add_option("--principal", keyring_add_args.principal,
                   "contact point id, partner id, operator id, or a broker-peer's node name")
      ->required();
  keyring_add->add_option("--territory", keyring_add_args.territory,
                          "partner gateways of a per-territory partner: one territory only");
  keyring_add
      ->add_option("--public-key", keyring_add_args.public_key,
                   "a Z85 key, a .pub file or a .key file (only its public key is read)")
      ->required();
  std::string key_name;
  auto* keyring_remove = keyring->add_subcommand("remove", "withdraw a key");
  keyring_remove->add_option("NAME", key_name, "the entry's name")->required();
  auto* keyring_list = keyring->add_subcommand("list", "the keys and who holds each");

  // --dir belongs to `tokens` and, by fallthrough, is accepted after add/remove/list.
  std::string token_dir = aplus::kDefaultTokenDir;
  std::vector<std::string> token_agents;
  auto* tokens = app.add_subcommand("tokens", "API tokens of the gateways' HTTP front doors");
  tokens->require_subcommand(1);
  tokens->add_option("--dir", token_dir, "the token directory")->capture_default_str();
  auto* tokens_add =
      tokens->add_subcommand("add", "make a token and print it (the only time it is shown)");
  tokens_add->add_option("NAME", key_name, "the token's name (its file name)")->required();
  tokens_add
      ->add_option("--agents", token_agents,
                   "agent gateway: only these agents (comma-separated; default every agent)")
      ->delimiter(',');
  auto* tokens_remove = tokens->add_subcommand("remove", "withdraw a token");
  tokens_remove->add_option("NAME", key_name, "the token's name")->required();
  auto* tokens_list = tokens->add_subcommand("list", "the tokens: names, agents, dates");
  bool via_agent_gateway = false;
  auto* audit = app.add_subcommand(
      "audit", "who read or changed a case's content, and when (operator session)");
  audit->add_option("CASE", case_ref, "case id")->required();
  audit->add_flag("--via-agent-gateway", via_agent_gateway,
                  "ask through the agent gateway: the contact point's own cases");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help, or CLI11's message on stderr
    return code == 0 ? 0 : aplus::cli::kExitUsage;
  }

  if (*submit) return aplus::cli::RunSubmit(options, submit_args);
  if (*status) return aplus::cli::RunStatus(options, case_ref);
  if (*list) return aplus::cli::RunList(options, limit, after);
  if (*close) return aplus::cli::RunClose(options, case_ref, key);
  if (*cancel) return aplus::cli::RunCancel(options, case_ref, reason, key);
  if (*inbox) return aplus::cli::RunPartnerInbox(options, limit);
  if (*webhooks_redeliver) {
    return aplus::cli::RunPartnerRedeliverWebhooks(options, webhook_id, webhooks_failed);
  }
  if (*webhooks) return aplus::cli::RunPartnerWebhooks(options, webhooks_failed, limit);
  if (*ack) return aplus::cli::RunPartnerAck(options, case_ref, note, key);
  if (*reply) return aplus::cli::RunPartnerReply(options, case_ref, text, key);
  if (*ask) return aplus::cli::RunPartnerAsk(options, case_ref, question, key);
  if (*transfer) return aplus::cli::RunPartnerTransfer(options, case_ref, to_partner, reason, key);
  if (*answer) return aplus::cli::RunAnswer(options, case_ref, text, key);
  if (*retry) return aplus::cli::RunLocalEntry(options, options.agent_gateway, local_ref, true);
  if (*discard) return aplus::cli::RunLocalEntry(options, options.agent_gateway, local_ref, false);
  if (*partner_retry) {
    return aplus::cli::RunLocalEntry(options, options.partner_gateway, local_ref, true);
  }
  if (*partner_discard) {
    return aplus::cli::RunLocalEntry(options, options.partner_gateway, local_ref, false);
  }
  if (*deadline) return aplus::cli::RunDeadline(options, deadline_args);
  if (*alert_ack) return aplus::cli::RunAlertAck(options, alert_id, by);
  if (*alerts) {
    alert_filter.kind = aplus::cli::ParseAlertKind(kind);
    if (follow) return aplus::cli::RunAlertsFollow(options, alert_filter, for_seconds);
    if (for_seconds > 0) {
      std::cerr << "aplus: --for-seconds goes with --follow" << std::endl;
      return aplus::cli::kExitUsage;
    }
    return aplus::cli::RunAlerts(options, alert_filter);
  }
  if (*report) return aplus::cli::RunReport(options, report_args);
  if (*sla_board) return aplus::cli::RunSlaBoard(options, sla_board_args);
  if (*stats) return aplus::cli::RunStats(options);
  if (*case_command) return aplus::cli::RunCase(options, case_ref);
  if (*dlq_list) return aplus::cli::RunDlqList(options, dlq_partner, limit);
  if (*dlq_requeue) {
    // Exactly one form: CASE, or --partner P --all.
    bool by_case = !case_ref.empty() && dlq_partner.empty() && !dlq_all;
    bool by_partner = case_ref.empty() && !dlq_partner.empty() && dlq_all;
    if (!by_case && !by_partner) {
      std::cerr << "aplus: dlq requeue takes a CASE, or --partner P --all" << std::endl;
      return aplus::cli::kExitUsage;
    }
    return aplus::cli::RunDlqRequeue(options, case_ref, dlq_partner, dlq_all, key);
  }
  if (*keygen) return aplus::cli::RunKeygen(options, key_prefix, force);
  if (*keyring_add) {
    keyring_add_args.keyring_dir = keyring_dir;
    return aplus::cli::RunKeyringAdd(options, keyring_add_args);
  }
  if (*keyring_remove) return aplus::cli::RunKeyringRemove(options, keyring_dir, key_name);
  if (*keyring_list) return aplus::cli::RunKeyringList(options, keyring_dir);
  if (*tokens_add) return aplus::cli::RunTokensAdd(options, token_dir, key_name, token_agents);
  if (*tokens_remove) return aplus::cli::RunTokensRemove(options, token_dir, key_name);
  if (*tokens_list) return aplus::cli::RunTokensList(options, token_dir);
  if (*audit) return aplus::cli::RunAudit(options, case_ref, via_agent_gateway);
  std::cerr << "aplus: no command given (see aplus --help)" << std::endl;
  return aplus::cli::kExitUsage;
}
