// Security with the real broker and CURVE, one rule per test: a key the keyring does not know
// gets no answer at all; identity comes from the key, never from the payload; each principal
// reaches only its own cases; operators see no personal data unless administrators; keyring
// changes apply without a restart and a removed key is cut off; --insecure is loopback only.
#include <doctest/doctest.h>

#include <sys/socket.h>

#include "common/clock.h"
#include "common/network_keys.h"
#include "tests/support/broker_test_helpers.h"
#include "tests/support/network.h"
#include "tests/support/sla_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

// The case as its contact point sees it (to prove a refusal changed nothing).
wire::CaseView OwnView(SyncClient& agent, const std::string& case_id) {
  auto view = GetCaseView(agent, case_id);
  REQUIRE_MESSAGE(view.ok(), view.status().ToString());
  return *view;
}

std::string SubmitCase(SyncClient& agent, const std::string& subject,
                       const std::string& partner = "france-travail") {
  auto accepted = agent.CallOk(SubmitRequest(subject, "", partner), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  return accepted->accepted().case_id();
}

}  // namespace

TEST_CASE("a key the keyring does not know gets no answer at all, and is logged") {
  auto network = StartNetwork("security-unknown-key");
  REQUIRE(network);
  auto stranger = network->StrangerClient(wire::OPERATOR, "operator");
  auto ping = stranger->Call(PingRequest(), 2000);
  REQUIRE_FALSE(ping.ok());
  CHECK(ping.status().code() == wire::UNREACHABLE);  // not even an error frame
  auto read = stranger->Call(StatsRequest(), 2000);
  CHECK(read.status().code() == wire::UNREACHABLE);
  CHECK(WaitUntil([&] {
    return network->broker().Log().find("refused CURVE handshake") != std::string::npos;
  }, 3000));
  CHECK(network->broker().Log().find("not in the keyring") != std::string::npos);

  // Without CURVE at all: nothing either.
  SyncClient plain(network->context(), network->broker_endpoint(), std::nullopt);
  CHECK(plain.Call(PingRequest(), 1500).status().code() == wire::UNREACHABLE);

  // A known key with the wrong broker key (a man in the middle's) cannot even handshake.
  auto wrong_server = network->Keys(wire::OPERATOR, "operator");
  wrong_server.broker_public_key = GenerateCurveKeyPair()->public_key;
  SyncClient confused(network->context(), network->broker_endpoint(), std::nullopt, wrong_server);
  CHECK(confused.Call(PingRequest(), 1500).status().code() == wire::UNREACHABLE);

  // Meanwhile the network's own keys are served.
  auto op = network->BrokerClient(wire::OPERATOR, "operator");
  CHECK(op->CallOk(StatsRequest(), 5000).ok());
}

TEST_CASE("a partner's key cannot read, ack, reply to or take another partner's case") {
  auto network = StartNetwork("security-partners");
  REQUIRE(network);
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  std::string case_id = SubmitCase(*agent, "Pour France Travail seulement");
  wire::CaseView before = OwnView(*agent, case_id);

  auto msa = network->BrokerClient(wire::PARTNER_GATEWAY, "msa");
  for (const auto& request :
       {GetCaseRequest(case_id), AcknowledgeRequest(case_id, "je prends"),
        ReplyRequest(case_id, "réponse usurpée"), AskInfoRequest(case_id, "qui ?", "k-ask"),
        TransferRequest(case_id, "caf", "détournement", "k-transfer")}) {
    auto answer = msa->Call(request, 5000);
    REQUIRE(answer.ok());
    CHECK_MESSAGE(answer->error().code() == wire::PERMISSION_DENIED, answer->ShortDebugString());
  }
  // Forged ids in the payload: another partner's queue in a delivery ack.
  wire::Envelope forged_ack;
  forged_ack.mutable_delivery_ack()->set_queue("partner/france-travail");
  forged_ack.mutable_delivery_ack()->add_delivery_ids(1);
  auto forged = msa->Call(forged_ack, 5000);
  REQUIRE(forged.ok());
  CHECK(forged->error().code() == wire::PERMISSION_DENIED);
  // Subscribing gives msa its own queue only, and the France Travail case is not delivered.
  auto subscribed = msa->CallOk(SubscribeRequest(8), 5000);
  REQUIRE(subscribed.ok());
  for (const auto& queue : subscribed->subscribed().queues()) CHECK(queue.find("msa") != std::string::npos);
  CHECK_FALSE(NextDelivery(*msa, 1000).has_value());
  // Claiming France Travail's identity in Hello, with msa's key: refused.
  wire::Hello claim;
  claim.set_role(wire::PARTNER_GATEWAY);
  claim.set_principal("france-travail");
  SyncClient impostor(network->context(), network->broker_endpoint(), claim,
                      network->Keys(wire::PARTNER_GATEWAY, "msa"));
  auto impostor_read = impostor.Call(GetCaseRequest(case_id), 5000);
  REQUIRE(impostor_read.ok());
  CHECK(impostor_read->error().code() == wire::BAD_CREDENTIAL);

  // Each refusal is logged with the principal, and nothing changed.
  CHECK(CountOccurrences(network->broker().Log(), "from partner/msa: PERMISSION_DENIED") >= 6);
  wire::CaseView after = OwnView(*agent, case_id);
  CHECK(after.summary().state() == before.summary().state());
  CHECK(after.timeline_size() == before.timeline_size());

  // The right partner is served.
  auto france_travail = network->BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  CHECK(france_travail->CallOk(AcknowledgeRequest(case_id, "pris en charge"), 5000).ok());
}

TEST_CASE("after a transfer the old partner loses access to the case") {
  auto network = StartNetwork("security-transfer");
  REQUIRE(network);
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  std::string case_id = SubmitCase(*agent, "Exploitant agricole");
  auto france_travail = network->BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(france_travail->CallOk(GetCaseRequest(case_id), 5000).ok());
  REQUIRE(france_travail->CallOk(TransferRequest(case_id, "msa", "relève de la MSA", "t-1"), 5000).ok());
  auto lost = france_travail->Call(GetCaseRequest(case_id), 5000);
  REQUIRE(lost.ok());
  CHECK(lost->error().code() == wire::PERMISSION_DENIED);
  CHECK(lost->error().message().find("transferred") != std::string::npos);
  CHECK(france_travail->Call(ReplyRequest(case_id, "trop tard"), 5000)->error().code() ==
        wire::PERMISSION_DENIED);
  auto msa = network->BrokerClient(wire::PARTNER_GATEWAY, "msa");
  auto view = msa->CallOk(GetCaseRequest(case_id), 5000);
  REQUIRE(view.ok());
  CHECK(view->case_view().citizen_name() == "Jeanne Martin");
}

TEST_CASE("an agent gateway reaches only its own contact point's cases") {
  auto network = StartNetwork("security-contact-points");
  REQUIRE(network);
  auto noce = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  std::string case_id = SubmitCase(*noce, "Dossier de Nocé");
  auto berdhuis = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-berdhuis");
  wire::Envelope close;
  close.mutable_close_case()->set_case_id(case_id);
  for (const auto& request : {GetCaseRequest(case_id), close,
                              AnswerInfoRequest(case_id, "réponse", "k-answer")}) {
    auto answer = berdhuis->Call(request, 5000);
    REQUIRE(answer.ok());
    CHECK(answer->error().code() == wire::PERMISSION_DENIED);
  }
  // Its list holds none of Nocé's cases.
  auto listed = ListAllCaseIds(*berdhuis);
  REQUIRE(listed.ok());
  CHECK(listed->count(case_id) == 0);
  CHECK(network->broker().Log().find("from cp/mairie-berdhuis: PERMISSION_DENIED") != std::string::npos);
  CHECK(OwnView(*noce, case_id).summary().state() == wire::SUBMITTED);
}

TEST_CASE("an operator sees no personal data; an administrator does") {
  auto network = StartNetwork("security-operator-roles");
  REQUIRE(network);
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  std::string case_id = SubmitCase(*agent, "Allocation de Jeanne Martin");
  auto op = network->BrokerClient(wire::OPERATOR, "operator");
  auto seen = op->CallOk(GetCaseRequest(case_id), 5000);
  REQUIRE(seen.ok());
  CHECK(seen->case_view().summary().partner() == "france-travail");
  CHECK(seen->case_view().summary().deadline_ms() > 0);
  std::string everything = seen->case_view().DebugString();
  for (const char* personal : {"Jeanne", "Martin", "Allocation suspendue depuis octobre"}) {
    CHECK_MESSAGE(everything.find(personal) == std::string::npos, personal);
  }
  // An operator cannot act as a gateway either.
  CHECK(op->Call(SubmitRequest("x"), 5000)->error().code() == wire::PERMISSION_DENIED);
  CHECK(op->Call(AcknowledgeRequest(case_id, "x"), 5000)->error().code() == wire::PERMISSION_DENIED);

  auto admin = network->BrokerClient(wire::ADMINISTRATOR, "administration");
  auto full = admin->CallOk(GetCaseRequest(case_id), 5000);
  REQUIRE(full.ok());
  CHECK(full->case_view().citizen_name() == "Jeanne Martin");
  CHECK(full->case_view().summary().subject() == "Allocation de Jeanne Martin");
  // An administrator's Hello may not pass for an operator's key's, nor the reverse.
  wire::Hello claim;
  claim.set_role(wire::ADMINISTRATOR);
  SyncClient climber(network->context(), network->broker_endpoint(), claim,
                     network->Keys(wire::OPERATOR, "operator"));
  CHECK(climber.Call(GetCaseRequest(case_id), 5000)->error().code() == wire::BAD_CREDENTIAL);
}

TEST_CASE("keyring changes apply live: a new key is admitted, a removed key is cut off") {
  auto network = StartNetwork("security-keyring-live");
  REQUIRE(network);
  // A partner gateway process holds a live, subscribed connection.
  REQUIRE(network->StartPartnerGateway("france-travail"));
  REQUIRE(WaitUntil([&] {
    return network->broker().Log().find("session opened: partner/france-travail") != std::string::npos;
  }, 10000));
  auto op = network->BrokerClient(wire::OPERATOR, "operator");
  REQUIRE(op->CallOk(StatsRequest(), 5000).ok());

  // A new operator key, added with the real command line while the broker runs.
  std::string keys = network->dir().Sub("new-keys");
  REQUIRE(std::system(("mkdir -p " + keys + " && " + BinPath("aplus") + " keygen " + keys +
                       "/coordinator > /dev/null").c_str()) == 0);
  auto [added, add_out] = network->Aplus("keyring add --keyring " + network->keys().keyring_dir() +
                                         " --name coordinator --role operator --principal operator "
                                         "--public-key " + keys + "/coordinator.pub");
  REQUIRE_MESSAGE(added == 0, add_out);
  auto pair = ReadSecretKeyFile(keys + "/coordinator.key");
  REQUIRE(pair.ok());
  SyncClient coordinator(network->context(), network->broker_endpoint(), wire::Hello(),
                         CurveClientKeys{network->keys().broker().public_key, *pair});
  CHECK(WaitUntil([&] { return coordinator.CallOk(StatsRequest(), 500).ok(); }, 5000));

  // Removing France Travail's key cuts its gateway's live connection; its reconnections are
  // refused at the handshake.
  auto [removed, remove_out] = network->Aplus("keyring remove --keyring " +
                                              network->keys().keyring_dir() + " partner.france-travail");
  REQUIRE_MESSAGE(removed == 0, remove_out);
  CHECK(WaitUntil([&] {
    return network->broker().Log().find("cutting partner/france-travail") != std::string::npos;
  }, 5000));
  CHECK(WaitUntil([&] {
    auto stats = OperatorStats(*op);
    return stats.ok() && stats->sessions() == 2;  // the operator and the coordinator
  }, 5000));
  // A case submitted now is not delivered to the cut-off gateway.
  auto agent = network->BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  std::string case_id = SubmitCase(*agent, "Après la révocation");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(OwnView(*agent, case_id).summary().state() == wire::SUBMITTED);
  CHECK(network->broker().Log().find("refused CURVE handshake") != std::string::npos);

  // Removing the coordinator's key cuts that client too: it gets no answer any more.
  REQUIRE(network->Aplus("keyring remove --keyring " + network->keys().keyring_dir() +
                         " coordinator").first == 0);
  CHECK(WaitUntil([&] { return !coordinator.CallOk(PingRequest(), 300).ok(); }, 5000));
  CHECK(coordinator.Call(StatsRequest(), 1500).status().code() == wire::UNREACHABLE);
  CHECK(op->CallOk(StatsRequest(), 5000).ok());  // the others stay
}

TEST_CASE("--insecure is refused off loopback and logged loudly on it") {
  TestNetwork network("security-insecure");
  ChildProcess exposed("aplus-broker",
                       {"--insecure", "--listen", "tcp://0.0.0.0:" + std::to_string(FreePort()),
                        "--alerts", network.alerts_endpoint(), "--data-dir",
                        network.dir().Sub("exposed"), "--http-listen", "off"},
                       network.dir().Sub("exposed.log"));
  CHECK(WaitUntil([&] { return !exposed.Running(); }, 10000));
  CHECK(exposed.Log().find("--insecure is allowed only on loopback") != std::string::npos);

  ChildProcess missing_key("aplus-broker",
                           {"--listen", network.broker_endpoint(), "--alerts",
                            network.alerts_endpoint(), "--data-dir", network.dir().Sub("nokey"),
                            "--http-listen", "off"},
                           network.dir().Sub("nokey.log"));
  CHECK(WaitUntil([&] { return !missing_key.Running(); }, 10000));
  CHECK(missing_key.Log().find("--key FILE") != std::string::npos);

  ChildProcess local("aplus-broker",
                     {"--insecure", "--listen", network.broker_endpoint(), "--alerts",
                      network.alerts_endpoint(), "--data-dir", network.dir().Sub("local"),
                      "--http-listen", "off"},
                     network.dir().Sub("local.log"));
  REQUIRE(local.WaitForLog("ready on"));
  CHECK(local.Log().find("INSECURE MODE") != std::string::npos);
  CHECK(local.Log().find("INSECURE: no CURVE") != std::string::npos);
  wire::Hello hello;
  hello.set_role(wire::OPERATOR);
  hello.set_principal("operator");
  SyncClient plain(network.context(), network.broker_endpoint(), hello);
  CHECK(plain.CallOk(StatsRequest(), 5000).ok());
}

TEST_CASE("the alert stream admits operators' keys only") {
  auto network = StartNetwork("security-alert-stream");
  REQUIRE(network);
  zmq::socket_t partner_sub(network->context(), zmq::socket_type::sub);
  partner_sub.set(zmq::sockopt::linger, 0);
  partner_sub.set(zmq::sockopt::subscribe, "");
  ApplyCurveClient(partner_sub, network->Keys(wire::PARTNER_GATEWAY, "france-travail"));
  partner_sub.connect(network->alerts_endpoint());
  CHECK(WaitUntil([&] {
    return network->broker().Log().find("may not follow the alert stream") != std::string::npos;
  }, 5000));
  CHECK(network->broker().Log().find("partner-gateway france-travail") != std::string::npos);
}
