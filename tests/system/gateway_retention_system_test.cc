// Retention at the gateways, end to end: the broker and both gateways as real processes with a
// 2-second retention. A case goes the whole way (acknowledged, a question and its answer,
// replied, closed); the partner gateway erases its copy the period after its reply was
// accepted, removes the case's spool files, and the agent gateway erases its cache the period
// after the close; both compact, so that the planted strings are in no file of either data
// directory (read raw, before as a control, and a case still open keeps its data). `aplus
// status` through the agent gateway then shows the case's skeleton, also from the local cache
// with the broker gone.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/audit_test_helpers.h"
#include "tests/support/broker_test_helpers.h"
#include "tests/support/data_files.h"
#include "tests/support/retention_test_helpers.h"
#include "tests/support/sla_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;
using nlohmann::json;

namespace {

const std::string kContactPoint = "mairie-perche-en-noce";
constexpr int kCallMs = 10000;


struct CaseTexts {
  explicit CaseTexts(const std::string& label)
      : subject(MakeMarker(label + "-subject")),
        body(MakeMarker(label + "-body")),
        citizen(MakeMarker(label + "-citizen")),
        note(MakeMarker(label + "-note")),
        question(MakeMarker(label + "-question")),
        answer(MakeMarker(label + "-answer")),
        reply(MakeMarker(label + "-reply")) {}
  std::vector<const Marker*> All() const {
    return {&subject, &body, &citizen, &note, &question, &answer, &reply};
  }
  Marker subject, body, citizen, note, question, answer, reply;
};

wire::Envelope Call(SyncClient& client, wire::Envelope request) {
  auto answer = client.CallOk(std::move(request), kCallMs);
  REQUIRE_MESSAGE(answer.ok(), answer.status().ToString());
  return std::move(answer).value();
}

wire::CaseState Updated(SyncClient& client, wire::Envelope request) {
  wire::Envelope answer = Call(client, std::move(request));
  REQUIRE(answer.has_case_updated());
  CHECK_FALSE(answer.case_updated().queued_locally());
  return answer.case_updated().state();
}

std::string Submit(SyncClient& agent, const CaseTexts& texts, const std::string& key) {
  wire::Envelope accepted =
      Call(agent, ConsentedSubmit(texts.subject.text, texts.body.text, texts.citizen.text, key));
  REQUIRE(accepted.has_accepted());
  REQUIRE_FALSE(accepted.accepted().case_id().empty());
  return accepted.accepted().case_id();
}

using Markers = std::vector<const Marker*>;

// What of `markers` some file of `dir` still holds (any piece of them).
std::vector<std::string> Leftovers(const std::string& dir, const Markers& markers) {
  std::vector<std::string> found;
  for (const Marker* marker : markers) {
    for (auto& where : FilesWithAnyPiece(dir, *marker)) {
      found.push_back(marker->text + ": " + where);
    }
  }
  return found;
}

// The `markers` that no file of `dir` holds whole.
std::vector<std::string> Missing(const std::string& dir, const Markers& markers) {
  std::vector<std::string> missing;
  for (const Marker* marker : markers) {
    if (FilesContaining(dir, marker->text).empty()) missing.push_back(marker->text);
  }
  return missing;
}

bool HasEvent(const wire::CaseView& view, const std::string& kind) {
  for (const auto& event : view.timeline()) {
    if (event.kind() == kind) return true;
  }
  return false;
}

// `aplus --json status CASE` through the agent gateway: the JSON and the raw output.
std::pair<json, std::string> AplusStatus(TestNetwork& network, const std::string& case_id) {
  auto [code, output] = network.Aplus("--json status " + case_id);
  INFO("aplus status -> " << output);
  REQUIRE(code == 0);
  auto start = output.find('{');
  REQUIRE(start != std::string::npos);
  return {json::parse(output.substr(start)), output};
}

void CheckNoMarker(const std::string& text, const CaseTexts& texts) {
  for (const Marker* marker : texts.All()) {
    for (const auto& piece : marker->pieces) {
      CHECK_MESSAGE(text.find(piece) == std::string::npos, marker->text << " in: " << text);
    }
  }
}

}  // namespace

TEST_CASE("both gateways erase their copies once the retention period is over, files included") {
  TempDir config_dir("gateway-retention-config");
  const std::string config = WriteShortRetentionConfig(config_dir);
  auto network = StartNetwork("gateway-retention", {"--config", config});
  REQUIRE(network);
  const std::string spool = network->dir().Sub("spool");
  std::filesystem::create_directories(spool);
  REQUIRE(network->StartAgentGateway(kContactPoint, {"--config", config}));
  REQUIRE(network->StartPartnerGateway("france-travail",
                                       {"--config", config, "--spool-dir", spool}));
  const std::string agent_dir = network->dir().Sub("agent-" + kContactPoint);
  const std::string partner_dir = network->dir().Sub("partner-france-travail");
  auto agent = network->AgentClient();
  auto partner = network->PartnerClient();
  auto op = network->BrokerClient(wire::OPERATOR, "operator");

  // A goes the whole way and is closed; B stays open and keeps everything everywhere.
  CaseTexts a("a"), b("b");
  const std::string case_a = Submit(*agent, a, "gw-retention-a");
  const std::string case_b = Submit(*agent, b, "gw-retention-b");
  REQUIRE(WaitUntil([&] { return GetCaseView(*partner, case_a).ok() &&
                                 GetCaseView(*partner, case_b).ok(); },
                    15000, 50));
  const std::string spool_a = spool + "/" + case_a + ".json";
  CHECK(std::filesystem::exists(spool_a));
  CHECK(Updated(*partner, AcknowledgeRequest(case_a, a.note.text, "a-ack")) == wire::ACKNOWLEDGED);
  CHECK(Updated(*partner, AskInfoRequest(case_a, a.question.text, "a-ask")) ==
        wire::INFO_REQUESTED);
  CHECK(Updated(*agent, AnswerInfoRequest(case_a, a.answer.text, "a-answer")) ==
        wire::ACKNOWLEDGED);
  REQUIRE(WaitUntil([&] {
    auto view = GetCaseView(*partner, case_a);
    return view.ok() && HasEvent(*view, "INFO_ANSWERED");
  }, 15000, 50));

  // Control, before the partner's clock starts: everything the partner saw is in its files.
  const Markers partner_saw = {&a.subject, &a.body,     &a.citizen,
                                                  &a.note,    &a.question, &a.answer};
  CHECK_MESSAGE(Missing(partner_dir, partner_saw).empty(),
                "not in the partner's files: " << JoinNames(Missing(partner_dir, partner_saw)));
  CHECK(Updated(*partner, ReplyRequest(case_a, a.reply.text, "a-reply")) == wire::ANSWERED);
  CHECK_MESSAGE(!FilesContaining(partner_dir, a.reply.text).empty(),
                "the reply is not in the partner gateway's files");

  // The agent gateway caches the whole case (the broker's view), then the contact point closes.
  REQUIRE(WaitUntil([&] {
    auto view = GetCaseView(*agent, case_a);
    return view.ok() && view->reply_text() == a.reply.text;
  }, 15000, 50));
  CHECK_MESSAGE(Missing(agent_dir, a.All()).empty(),
                "not in the agent gateway's files: " << JoinNames(Missing(agent_dir, a.All())));
  wire::Envelope close;
  close.mutable_close_case()->set_case_id(case_a);
  close.mutable_close_case()->set_idempotency_key("a-close");
  CHECK(Updated(*agent, close) == wire::CLOSED);

  // Both gateways erase and compact; the files no longer hold any piece of A's strings.
  REQUIRE(network->partner_gateway().WaitForLog(
      "retention: personal data of 1 inbox case(s) erased", 20000));
  REQUIRE(network->agent_gateway().WaitForLog(
      "retention: personal data of 1 cached case(s) erased", 20000));
  bool gone = WaitUntil([&] {
    return Leftovers(agent_dir, a.All()).empty() && Leftovers(partner_dir, a.All()).empty();
  }, 20000, 200);
  CHECK_MESSAGE(gone, "agent: " << JoinNames(Leftovers(agent_dir, a.All()))
                                << "; partner: " << JoinNames(Leftovers(partner_dir, a.All())));
  // The spool files of A went with it; B's stays, as do B's data in both databases (the scan
  // does read the files).
  CHECK_FALSE(std::filesystem::exists(spool_a));
  CHECK(std::filesystem::exists(spool + "/" + case_b + ".json"));
  for (const Marker* marker : {&b.subject, &b.body, &b.citizen}) {
    CHECK_MESSAGE(!FilesWithAnyPiece(agent_dir, *marker).empty(),
                  marker->text << " should still be in the agent gateway's files");
    CHECK_MESSAGE(!FilesWithAnyPiece(partner_dir, *marker).empty(),
                  marker->text << " should still be in the partner gateway's files");
  }

  // What the partner sees now: the skeleton.
  auto partner_view = GetCaseView(*partner, case_a);
  REQUIRE(partner_view.ok());
  CHECK(partner_view->summary().personal_data_erased());
  CHECK(partner_view->summary().state() == wire::ANSWERED);
  CHECK(partner_view->summary().contact_point() == kContactPoint);
  CheckNoMarker(partner_view->SerializeAsString(), a);

  // `aplus status` through the agent gateway: the skeleton, with the personal data erased.
  REQUIRE(WaitUntil([&] {
    auto view = GetCaseView(*op, case_a);
    return view.ok() && view->summary().personal_data_erased();
  }, 20000, 100));
  auto [status, output] = AplusStatus(*network, case_a);
  CHECK(status["summary"]["caseId"] == case_a);
  CHECK(status["summary"]["state"] == "CLOSED");
  CHECK(status["summary"]["personalDataErased"] == true);
  CHECK(status["summary"]["partner"] == "france-travail");
  CHECK(status.value("body", "").empty());
  CHECK(status.value("citizenName", "").empty());
  CHECK(status.value("replyText", "").empty());
  CheckNoMarker(output, a);
  auto [code, human] = network->Aplus("status " + case_a);
  CHECK(code == 0);
  CHECK(human.find("erased (retention)") != std::string::npos);

  // With the broker gone the gateway answers from its cache: nothing comes back from there.
  network->broker().Kill();
  auto [local, local_output] = AplusStatus(*network, case_a);
  CHECK(local["fromLocalCache"] == true);
  CHECK(local["summary"]["state"] == "CLOSED");
  CHECK(local["summary"]["personalDataErased"] == true);
  CheckNoMarker(local_output, a);
  auto [open_case, open_output] = AplusStatus(*network, case_b);
  CHECK(open_case["fromLocalCache"] == true);
  CHECK(open_case["body"] == b.body.text);
}

TEST_CASE("a case cancelled before the partner replied is erased at the partner on the broker's word") {
  TempDir config_dir("gateway-retention-cancel-config");
  const std::string config = WriteShortRetentionConfig(config_dir);
  auto network = StartNetwork("gateway-retention-cancel", {"--config", config});
  REQUIRE(network);
  const std::string spool = network->dir().Sub("spool");
  std::filesystem::create_directories(spool);
  REQUIRE(network->StartAgentGateway(kContactPoint, {"--config", config}));
  REQUIRE(network->StartPartnerGateway("france-travail",
                                       {"--config", config, "--spool-dir", spool}));
  const std::string partner_dir = network->dir().Sub("partner-france-travail");
  auto agent = network->AgentClient();
  auto partner = network->PartnerClient();

  CaseTexts c("c");
  const std::string case_c = Submit(*agent, c, "gw-retention-c");
  REQUIRE(WaitUntil([&] { return GetCaseView(*partner, case_c).ok(); }, 15000, 50));
  CHECK(Updated(*partner, AcknowledgeRequest(case_c, c.note.text, "c-ack")) == wire::ACKNOWLEDGED);
  const Markers partner_saw = {&c.subject, &c.body, &c.citizen, &c.note};
  CHECK_MESSAGE(Missing(partner_dir, partner_saw).empty(),
                "not in the partner's files: " << JoinNames(Missing(partner_dir, partner_saw)));
  CHECK(std::filesystem::exists(spool + "/" + case_c + ".json"));

  // The contact point cancels: the partner never replies, so only the broker's notice tells it.
  wire::Envelope cancel;
  cancel.mutable_cancel_case()->set_case_id(case_c);
  cancel.mutable_cancel_case()->set_idempotency_key("c-cancel");
  CHECK(Updated(*agent, cancel) == wire::CANCELLED);
  REQUIRE(network->partner_gateway().WaitForLog("the broker erased " + case_c, 20000));
  bool gone = WaitUntil([&] { return Leftovers(partner_dir, partner_saw).empty(); }, 20000, 200);
  CHECK_MESSAGE(gone, "partner: " << JoinNames(Leftovers(partner_dir, partner_saw)));
  CHECK_FALSE(std::filesystem::exists(spool + "/" + case_c + ".json"));
  auto view = GetCaseView(*partner, case_c);
  REQUIRE(view.ok());
  CHECK(view->summary().personal_data_erased());
  CheckNoMarker(view->SerializeAsString(), c);
}
