// `aplus audit CASE` against the real broker and agent gateway: the human table, --json, the
// contact point's view through its gateway, and the exit codes of the usual failures.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "common/case_id.h"
#include "tests/support/audit_test_helpers.h"
#include "tests/support/broker_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;
using nlohmann::json;

namespace {

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

TEST_CASE("aplus audit: a table of who did what, --json, and the contact point's view") {
  TestNetwork network("audit-cli");
  REQUIRE(network.StartBroker());
  REQUIRE(network.StartAgentGateway());
  auto agent_local = network.AgentClient();
  auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  auto accepted = agent_local->CallOk(
      ConsentedSubmit("Allocation suspendue", "Versement interrompu", "Jeanne Martin", "cli-1"), 10000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  const std::string case_id = accepted->accepted().case_id();
  REQUIRE(partner->CallOk(ReplyRequest(case_id, "Dossier regularise", "cli-reply"), 5000).ok());
  REQUIRE(GetCaseView(*agent_local, case_id).ok());

  auto [code, human] = network.Aplus("audit " + case_id);
  INFO(human);
  CHECK(code == 0);
  CHECK(Contains(human, "Audit log of " + case_id + " (Europe/Paris)"));
  CHECK(Contains(human, "SEQ"));
  CHECK(Contains(human, "WHO"));
  CHECK(Contains(human, "ACTION"));
  CHECK(Contains(human, "cp/mairie-perche-en-noce"));
  CHECK(Contains(human, "partner/france-travail"));
  CHECK(Contains(human, "contact point"));
  CHECK(Contains(human, "to france-travail"));
  CHECK(Contains(human, "reply"));
  CHECK(Contains(human, "content"));
  // Five lines: title, header, three entries (submit, reply, read).
  CHECK(CountOccurrences(human, "\n") == 5);
  CHECK_FALSE(Contains(human, "Jeanne Martin"));

  // Typed the way people do; --json prints the AuditLog.
  auto [json_code, json_out] = network.Aplus("--json audit " + Lower(case_id));
  INFO(json_out);
  CHECK(json_code == 0);
  json log = json::parse(json_out);
  CHECK(log["caseId"] == case_id);
  REQUIRE(log["entries"].size() == 3);
  CHECK(log["entries"][0]["action"] == "submit");
  CHECK(log["entries"][0]["principal"] == "cp/mairie-perche-en-noce");
  CHECK(log["entries"][0]["role"] == "AGENT_GATEWAY");
  CHECK(log["entries"][1]["action"] == "reply");
  CHECK(log["entries"][1]["role"] == "PARTNER_GATEWAY");
  CHECK(log["entries"][2]["action"] == "read");
  CHECK(log["entries"][2]["detail"] == "content");

  // The contact point's own view, through its gateway: the same log (audit reads are not
  // recorded).
  auto [via_code, via_out] = network.Aplus("--json audit " + case_id + " --via-agent-gateway");
  INFO(via_out);
  CHECK(via_code == 0);
  CHECK(json::parse(via_out)["entries"].size() == 3);
}

TEST_CASE("aplus audit: unknown case exit 1, the key decides who asks, no case exit 2") {
  TestNetwork network("audit-cli-errors");
  REQUIRE(network.StartBroker());
  auto [code, out] = network.Aplus("audit " + FormatCaseId("PER", 4242));
  CHECK(code == 1);
  CHECK(Contains(out, "aplus: UNKNOWN_CASE"));
  auto [json_code, json_out] = network.Aplus("--json audit " + FormatCaseId("PER", 4242));
  CHECK(json_code == 1);
  CHECK(json::parse(json_out)["error"]["code"] == "UNKNOWN_CASE");
  // With a CURVE key, --operator is not said: the key's operator asks, and is answered.
  auto [who_code, who_out] = network.Aplus("audit " + FormatCaseId("PER", 4242) + " --operator nobody");
  CHECK(who_code == 1);
  CHECK(Contains(who_out, "UNKNOWN_CASE"));
  auto [usage_code, usage_out] = network.Aplus("audit");
  CHECK(usage_code == 2);
}
