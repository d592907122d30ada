// The `aplus` command line, run as a real subprocess against fake gateways and a fake broker:
// each fake is a ROUTER socket on 127.0.0.1 served by a thread of this test, answering with
// canned envelopes and recording what it was asked.
#include <doctest/doctest.h>

#include "tests/support/aplus_process.h"
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "aplus.pb.h"
#include "common/case_id.h"
#include "common/clock.h"
#include "common/wire.h"
#include "tests/support/fake_endpoint.h"

extern char** environ;

namespace {

using aplus::testing::BindSomewhere;
using aplus::testing::ErrorAnswer;
using aplus::testing::FakeEndpoint;

using aplus::wire::Envelope;

// Wall times chosen so that the Europe/Paris rendering is checkable: winter is UTC+1,
// summer UTC+2.
constexpr int64_t kDeadlineMs = 1796165940000;        // 2026-12-01 22:59:00 UTC = 23:59 Paris
constexpr int64_t kSubmittedMs = 1795772412000;       // 2026-11-27 09:40:12 UTC = 10:40:12 Paris
constexpr int64_t kDeliveredMs = 1795773900000;       // 2026-11-27 10:05:00 UTC = 11:05:00 Paris
constexpr int64_t kSummerDeadlineMs = 1784023200000;  // 2026-07-14 10:00 UTC = 12:00 Paris

const std::string& KnownCase() {
  static const std::string id = aplus::FormatCaseId("PER", 4242);
  return id;
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}



aplus::wire::CaseSummary Summary(const std::string& case_id) {
  aplus::wire::CaseSummary summary;
  summary.set_case_id(case_id);
  summary.set_state(aplus::wire::DELIVERED);
  summary.set_contact_point("mairie-perche-en-noce");
  summary.set_agent("agent-noce-1");
  summary.set_partner("france-travail");
  summary.set_category("unemployment-benefits");
  summary.set_subject("Allocation suspendue");
  summary.set_submitted_at_ms(kSubmittedMs);
  summary.set_deadline_ms(kDeadlineMs);
  summary.set_delivery_attempts(1);
  return summary;
}

// The agent gateway: Submit, GetCase (one known case), ListCases.
Envelope AgentGateway(const Envelope& request) {
  Envelope answer;
  switch (request.body_case()) {
    case Envelope::kSubmit: {
      auto* accepted = answer.mutable_accepted();
      if (request.submit().subject() == "broker down") {
        accepted->set_state(aplus::wire::QUEUED_LOCALLY);
        accepted->set_local_ref("LOCAL-0001");
      } else {
        accepted->set_case_id(KnownCase());
        accepted->set_state(aplus::wire::SUBMITTED);
        accepted->set_deadline_ms(kDeadlineMs);
      }
      return answer;
    }
    case Envelope::kGetCase: {
      if (request.get_case().case_id() != KnownCase()) {
        return ErrorAnswer(aplus::wire::UNKNOWN_CASE, "no case " + request.get_case().case_id());
      }
      auto* view = answer.mutable_case_view();
      *view->mutable_summary() = Summary(KnownCase());
      view->set_body("Mme Martin ne perçoit plus son allocation depuis octobre.");
      view->set_citizen_name("Jeanne Martin");
      auto* submitted = view->add_timeline();
      submitted->set_sequence(1);
      submitted->set_at_ms(kSubmittedMs);
      submitted->set_kind("SUBMITTED");
      submitted->set_actor("mairie-perche-en-noce");
      submitted->set_state_after(aplus::wire::SUBMITTED);
      auto* delivered = view->add_timeline();
      delivered->set_sequence(2);
      delivered->set_at_ms(kDeliveredMs);
      delivered->set_kind("DELIVERED");
      delivered->set_actor("broker");
      delivered->set_detail("attempt 1");
      delivered->set_state_after(aplus::wire::DELIVERED);
      return answer;
    }
    case Envelope::kListCases: {
      auto* list = answer.mutable_case_list();
      *list->add_cases() = Summary(KnownCase());
      auto summer = Summary(aplus::FormatCaseId("PER", 7));
      summer.set_deadline_ms(kSummerDeadlineMs);
      summer.set_subject(std::string(60, 'x'));
      *list->add_cases() = summer;
      return answer;
    }
    case Envelope::kCloseCase: {
      // As when the broker is down: the gateway keeps the close in its outbox.
      answer.mutable_case_updated()->set_case_id(request.close_case().case_id());
      answer.mutable_case_updated()->set_state(aplus::wire::ANSWERED);
      answer.mutable_case_updated()->set_queued_locally(true);
      return answer;
    }
    default:
      return ErrorAnswer(aplus::wire::UNKNOWN_MESSAGE, "not served here");
  }
}

// The partner gateway: GetInbox, AcknowledgeCase.
Envelope PartnerGateway(const Envelope& request) {
  Envelope answer;
  if (request.has_get_inbox()) {
    auto* escalation = answer.mutable_inbox()->add_escalations();
    escalation->set_case_id(KnownCase());
    escalation->set_contact_point("mairie-perche-en-noce");
    escalation->set_category("unemployment-benefits");
    escalation->set_subject("Allocation suspendue");
    escalation->set_deadline_ms(kDeadlineMs);
    answer.mutable_inbox()->add_states(aplus::wire::DELIVERED);
    return answer;
  }
  if (request.has_acknowledge_case()) {
    answer.mutable_case_updated()->set_case_id(request.acknowledge_case().case_id());
    answer.mutable_case_updated()->set_state(aplus::wire::ACKNOWLEDGED);
    return answer;
  }
  return ErrorAnswer(aplus::wire::UNKNOWN_MESSAGE, "not served here");
}

// The broker, as an operator sees it: Hello first (checking the role), then GetStats.
Envelope Broker(const Envelope& request) {
  Envelope answer;
  if (request.has_hello()) {
    if (request.hello().role() != aplus::wire::OPERATOR) {
      return ErrorAnswer(aplus::wire::BAD_CREDENTIAL, "not an operator");
    }
    answer.mutable_welcome()->set_broker_id("perche");
    return answer;
  }
  if (request.has_get_stats()) {
    auto* stats = answer.mutable_stats();
    (*stats->mutable_cases_by_state())["SUBMITTED"] = 12;
    (*stats->mutable_cases_by_state())["ANSWERED"] = 3;
    auto* queue = stats->add_queues();
    queue->set_queue("partner/france-travail");
    queue->set_depth(5);
    queue->set_in_flight(2);
    queue->set_dead_lettered(1);
    stats->set_in_flight(2);
    stats->set_dead_lettered(1);
    stats->set_sessions(4);
    return answer;
  }
  return ErrorAnswer(aplus::wire::UNKNOWN_MESSAGE, "not served here");
}

using Run = aplus::testing::AplusRun;

Run RunAplus(const std::vector<std::string>& args) { return aplus::testing::RunAplusBinary(args); }

// A 127.0.0.1 port nothing listens on (bound, read back, released).
int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  socklen_t length = sizeof(address);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  close(fd);
  return ntohs(address.sin_port);
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("submit prints the case id, state and deadline in Paris time") {
  FakeEndpoint gateway(AgentGateway);
  Run run = RunAplus({"submit", "--agent-gateway", gateway.endpoint(), "--agent", "agent-noce-1",
                      "--partner", "france-travail", "--category", "unemployment-benefits",
                      "--subject", "Allocation suspendue", "--body", "Plus de versement",
                      "--citizen", "Jeanne Martin", "--mandate", "MANDAT-2026-0042"});
  CHECK(run.exit_code == 0);
  CHECK(run.out == KnownCase() + "  SUBMITTED  deadline 2026-12-01 23:59 (Europe/Paris)\n");

  auto requests = gateway.requests();
  REQUIRE(requests.size() == 1);
  REQUIRE(requests[0].has_submit());
  const auto& submit = requests[0].submit();
  CHECK(submit.agent() == "agent-noce-1");
  CHECK(submit.partner() == "france-travail");
  CHECK(submit.category() == "unemployment-benefits");
  CHECK(submit.subject() == "Allocation suspendue");
  CHECK(submit.body() == "Plus de versement");
  CHECK(submit.mandate_reference() == "MANDAT-2026-0042");
  CHECK_FALSE(submit.citizen_consent());
  CHECK(submit.citizen_name() == "Jeanne Martin");
  CHECK(!submit.idempotency_key().empty());  // generated when not given
}

TEST_CASE("submit passes the given idempotency key and --json prints the Accepted message") {
  FakeEndpoint gateway(AgentGateway);
  // Global flags after the subcommand.
  Run run = RunAplus({"submit", "--agent", "a", "--partner", "p", "--category", "c", "--subject",
                      "s", "--body", "b", "--idempotency-key", "key-1", "--json", "--agent-gateway",
                      gateway.endpoint()});
  CHECK(run.exit_code == 0);
  auto json = nlohmann::json::parse(run.out);
  CHECK(json["caseId"] == KnownCase());
  CHECK(json["state"] == "SUBMITTED");
  CHECK(json["deadlineMs"] == std::to_string(kDeadlineMs));  // int64 maps to a JSON string
  CHECK(json["duplicate"] == false);                         // defaults are printed
  CHECK(json["localRef"] == "");
  REQUIRE(gateway.requests().size() == 1);
  CHECK(gateway.requests()[0].submit().idempotency_key() == "key-1");
}

TEST_CASE("submit held by the agent gateway shows the local ref") {
  FakeEndpoint gateway(AgentGateway);
  Run run = RunAplus({"--agent-gateway", gateway.endpoint(), "submit", "--agent", "a", "--partner",
                      "p", "--category", "c", "--subject", "broker down", "--body", "b"});
  CHECK(run.exit_code == 0);
  CHECK(Contains(run.out, "LOCAL-0001  QUEUED_LOCALLY"));
  CHECK(Contains(run.out,
                 "held by the agent gateway; it will be forwarded when the broker is reachable"));
}

TEST_CASE("status shows the header and the timeline in Paris time") {
  FakeEndpoint gateway(AgentGateway);
  // Typed in lower case: the CLI sends the canonical id.
  Run run = RunAplus({"--agent-gateway", gateway.endpoint(), "status", Lower(KnownCase())});
  CHECK(run.exit_code == 0);
  CHECK(Contains(run.out, KnownCase()));
  CHECK(Contains(run.out, "DELIVERED"));
  CHECK(Contains(run.out, "mairie-perche-en-noce"));
  CHECK(Contains(run.out, "france-travail"));
  CHECK(Contains(run.out, "Allocation suspendue"));
  CHECK(Contains(run.out, "2026-12-01 23:59 (Europe/Paris)"));
  CHECK(Contains(run.out, "Jeanne Martin"));
  CHECK(Contains(run.out, "ne perçoit plus son allocation"));
  CHECK(Contains(run.out, "  #1  2026-11-27 10:40:12  SUBMITTED     by mairie-perche-en-noce\n"));
  CHECK(Contains(run.out, "  #2  2026-11-27 11:05:00  DELIVERED     by broker"));
  CHECK(Contains(run.out, "attempt 1"));
  CHECK(!Contains(run.out, "local view"));
  REQUIRE(gateway.requests().size() == 1);
  CHECK(gateway.requests()[0].get_case().case_id() == KnownCase());
}

TEST_CASE("status --json prints the CaseView with camelCase names") {
  FakeEndpoint gateway(AgentGateway);
  Run run = RunAplus({"status", KnownCase(), "--agent-gateway", gateway.endpoint(), "--json"});
  CHECK(run.exit_code == 0);
  auto json = nlohmann::json::parse(run.out);
  CHECK(json["summary"]["caseId"] == KnownCase());
  CHECK(json["summary"]["state"] == "DELIVERED");
  CHECK(json["summary"]["deadlineMs"] == std::to_string(kDeadlineMs));
  CHECK(json["fromLocalCache"] == false);
  REQUIRE(json["timeline"].size() == 2);
  CHECK(json["timeline"][0]["kind"] == "SUBMITTED");
  CHECK(json["timeline"][1]["kind"] == "DELIVERED");
  CHECK(json["timeline"][1]["stateAfter"] == "DELIVERED");
}

TEST_CASE("an unknown case is an error answer: exit 1") {
  FakeEndpoint gateway(AgentGateway);
  std::string missing = aplus::FormatCaseId("PER", 99);

  Run human = RunAplus({"status", missing, "--agent-gateway", gateway.endpoint()});
  CHECK(human.exit_code == 1);
  CHECK(human.out.empty());
  CHECK(human.err == "aplus: UNKNOWN_CASE: no case " + missing + "\n");

  Run json = RunAplus({"status", missing, "--agent-gateway", gateway.endpoint(), "--json"});
  CHECK(json.exit_code == 1);
  auto parsed = nlohmann::json::parse(json.out);
  CHECK(parsed["error"]["code"] == "UNKNOWN_CASE");
  CHECK(parsed["error"]["message"] == "no case " + missing);
}

TEST_CASE("nothing listening: exit 3, UNREACHABLE") {
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(UnusedPort());
  Run human = RunAplus({"status", KnownCase(), "--agent-gateway", endpoint, "--timeout-ms", "300"});
  CHECK(human.exit_code == 3);
  CHECK(Contains(human.err, "aplus: UNREACHABLE"));

  Run json = RunAplus(
      {"--json", "--timeout-ms", "300", "--partner-gateway", endpoint, "partner", "inbox"});
  CHECK(json.exit_code == 3);
  CHECK(nlohmann::json::parse(json.out)["error"]["code"] == "UNREACHABLE");
}

TEST_CASE("usage errors: exit 2") {
  Run missing_flag = RunAplus({"submit", "--agent", "a", "--partner", "p", "--category", "c",
                               "--subject", "s"});  // no --body
  CHECK(missing_flag.exit_code == 2);
  CHECK(Contains(missing_flag.err, "--body"));
  CHECK(RunAplus({}).exit_code == 2);
  CHECK(RunAplus({"status"}).exit_code == 2);
  CHECK(RunAplus({"frobnicate"}).exit_code == 2);
  CHECK(RunAplus({"list", "--agent-gateway", "not-an-endpoint"}).exit_code == 2);
  CHECK(RunAplus({"--help"}).exit_code == 0);
}

TEST_CASE("list shows a table with truncated subjects and local deadlines") {
  FakeEndpoint gateway(AgentGateway);
  Run run = RunAplus({"list", "--agent-gateway", gateway.endpoint()});
  CHECK(run.exit_code == 0);
  CHECK(Contains(run.out, "CASE"));
  CHECK(Contains(run.out, KnownCase()));
  CHECK(Contains(run.out, aplus::FormatCaseId("PER", 7)));
  CHECK(Contains(run.out, "2026-07-14 12:00"));  // summer time: UTC+2
  CHECK(Contains(run.out, std::string(37, 'x') + "..."));
  CHECK(!Contains(run.out, std::string(38, 'x')));
}

TEST_CASE("partner inbox and ack go to the partner gateway") {
  FakeEndpoint partner(PartnerGateway);
  Run inbox = RunAplus({"partner", "inbox", "--partner-gateway", partner.endpoint()});
  CHECK(inbox.exit_code == 0);
  CHECK(Contains(inbox.out, "CONTACT POINT"));
  CHECK(Contains(inbox.out, KnownCase()));
  CHECK(Contains(inbox.out, "DELIVERED"));

  Run ack = RunAplus({"partner", "ack", KnownCase(), "--note", "pris en charge", "--json",
                      "--partner-gateway", partner.endpoint()});
  CHECK(ack.exit_code == 0);
  auto json = nlohmann::json::parse(ack.out);
  CHECK(json["caseId"] == KnownCase());
  CHECK(json["state"] == "ACKNOWLEDGED");
  auto requests = partner.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[1].acknowledge_case().note() == "pris en charge");
}

TEST_CASE("stats says Hello as an operator") {
  FakeEndpoint broker(Broker);
  Run run = RunAplus({"stats", "--broker", broker.endpoint(), "--operator", "ops-1"});
  CHECK(run.exit_code == 0);
  CHECK(Contains(run.out, "SUBMITTED"));
  CHECK(Contains(run.out, "partner/france-travail"));
  CHECK(run.out.find("SUBMITTED") < run.out.find("ANSWERED"));  // lifecycle order
  auto requests = broker.requests();
  REQUIRE(requests.size() == 2);
  REQUIRE(requests[0].has_hello());
  CHECK(requests[0].hello().role() == aplus::wire::OPERATOR);
  CHECK(requests[0].hello().principal() == "ops-1");
  CHECK(requests[1].has_get_stats());

  // A key file that is not there is named, and nothing is sent.
  Run refused = RunAplus({"stats", "--broker", broker.endpoint(), "--json", "--key",
                          "/nonexistent/ops.key", "--broker-key", "/nonexistent/broker.pub"});
  CHECK(refused.exit_code == 1);
  CHECK(nlohmann::json::parse(refused.out)["error"]["code"] == "INVALID_ARGUMENT");
  CHECK(refused.out.find("/nonexistent/ops.key") != std::string::npos);
  CHECK(broker.requests().size() == 2);
}

TEST_CASE("close held by the agent gateway says so, with a generated idempotency key") {
  FakeEndpoint gateway(AgentGateway);
  Run run = RunAplus({"close", KnownCase(), "--agent-gateway", gateway.endpoint()});
  CHECK(run.exit_code == 0);
  CHECK(Contains(run.out, KnownCase() + "  ANSWERED\n"));
  CHECK(Contains(run.out,
                 "held by the agent gateway; it will be forwarded when the broker is reachable"));
  auto requests = gateway.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].close_case().case_id() == KnownCase());
  CHECK(!requests[0].close_case().idempotency_key().empty());
  CHECK(RunAplus({"partner", "reply", KnownCase()}).exit_code == 2);  // --text is required
}
