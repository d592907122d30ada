// The SLA commands of `aplus` (status SLA fields, deadline, partner ask / transfer, answer,
// alerts, alerts --follow, alerts ack, report), run as a real subprocess against fakes: ROUTER
// sockets standing for the gateways and the broker, and an XPUB socket standing for the broker's
// alert publisher (XPUB so that the test sees the subscription arrive and publishes only then:
// no sleeps, no lost first message).
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
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

using aplus::wire::Alert;
using aplus::wire::Envelope;

// 2026-12-01 22:59:59 UTC = 23:59:59 Paris (winter, UTC+1).
constexpr int64_t kDeadlineMs = 1796165999000;
// 2026-11-30 17:00:00 UTC = 18:00 Paris.
constexpr int64_t kWarningMs = 1796058000000;
// 2026-12-02 09:15:00 UTC = 10:15 Paris.
constexpr int64_t kAnsweredMs = 1796202900000;
// 2026-11-27 09:40:12 UTC = 10:40:12 Paris.
constexpr int64_t kSubmittedMs = 1795772412000;

const std::string& KnownCase() {
  static const std::string id = aplus::FormatCaseId("PER", 4242);
  return id;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}



Alert MakeAlert(const std::string& id, Alert::Kind kind, const std::string& territory = "") {
  Alert alert;
  alert.set_alert_id(id);
  alert.set_kind(kind);
  alert.set_case_id(KnownCase());
  alert.set_partner("france-travail");
  alert.set_territory(territory);
  alert.set_contact_point("mairie-perche-en-noce");
  alert.set_deadline_ms(kDeadlineMs);
  alert.set_raised_at_ms(kWarningMs);
  alert.set_text("case " + KnownCase() + " (france-travail): deadline soon");
  return alert;
}

// The broker as an operator sees it: Hello, ListAlerts (one open warning; one acked breach
// with include_acked), AckAlert, GetReport.
Envelope Broker(const Envelope& request) {
  Envelope answer;
  if (request.has_hello()) {
    if (request.hello().role() != aplus::wire::OPERATOR) {
      return ErrorAnswer(aplus::wire::BAD_CREDENTIAL, "operators only");
    }
    answer.mutable_welcome()->set_broker_id("perche");
    return answer;
  }
  if (request.has_list_alerts()) {
    auto* list = answer.mutable_alert_list();
    *list->add_alerts() = MakeAlert("PER-4242.WARNING.1", Alert::WARNING);
    if (request.list_alerts().include_acked()) {
      Alert taken = MakeAlert("PER-4242.BREACH.1", Alert::BREACH);
      taken.set_acked_by("claire");
      taken.set_acked_at_ms(kAnsweredMs);
      *list->add_alerts() = taken;
    }
    return answer;
  }
  if (request.has_ack_alert()) {
    if (request.ack_alert().alert_id() != "PER-4242.WARNING.1") {
      return ErrorAnswer(aplus::wire::UNKNOWN_CASE,
                         "no alert '" + request.ack_alert().alert_id() + "'");
    }
    Alert alert = MakeAlert("PER-4242.WARNING.1", Alert::WARNING);
    alert.set_acked_by(request.ack_alert().by());
    alert.set_acked_at_ms(kAnsweredMs);
    *answer.mutable_alert_acked()->mutable_alert() = alert;
    return answer;
  }
  if (request.has_get_sla_board()) {
    auto* board = answer.mutable_sla_board();
    board->set_now_ms(kWarningMs);
    auto* breached = board->add_breached();
    breached->set_case_id("PER-4242-0001");
    breached->set_partner("france-travail");
    breached->set_territory("perche");
    breached->set_contact_point("mairie-perche-en-noce");
    breached->set_state(aplus::wire::DELIVERED);
    breached->set_deadline_ms(kWarningMs - 3600 * 1000);
    auto* due = board->add_due_soon();
    *due = *breached;
    due->set_case_id("PER-4242-0002");
    due->set_deadline_ms(kWarningMs + 3600 * 1000);
    return answer;
  }
  if (request.has_get_report() &&
      request.get_report().group_by() == aplus::wire::GetReport::CONTACT_POINT) {
    auto* noce = answer.mutable_report()->add_partners();
    noce->set_contact_point("mairie-perche-en-noce");
    noce->set_received(3);
    noce->set_answered(2);
    noce->set_answered_on_time(2);
    noce->set_on_time_percent(100);
    noce->set_reply_unit("jours-ouvres");
    const double bounds[] = {0.5, 1, 2, 3, 4, 5, 8, 0};
    const uint64_t counts[] = {1, 0, 1, 0, 0, 0, 0, 0};
    for (int i = 0; i < 8; ++i) {
      auto* bucket = noce->add_reply_times();
      bucket->set_up_to(bounds[i]);
      bucket->set_count(counts[i]);
    }
    return answer;
  }
  if (request.has_get_report()) {
    auto* france_travail = answer.mutable_report()->add_partners();
    france_travail->set_partner("france-travail");
    france_travail->set_received(12);
    france_travail->set_answered(9);
    france_travail->set_answered_on_time(6);
    france_travail->set_on_time_percent(600.0 / 9.0);
    france_travail->set_median_reply(2);
    france_travail->set_p90_reply(3.5);
    france_travail->set_reply_unit("jours-ouvres");
    france_travail->set_open(3);
    france_travail->set_at_risk(1);
    france_travail->set_breached(2);
    auto* caf = answer.mutable_report()->add_partners();
    caf->set_partner("caf");
    caf->set_received(1);
    caf->set_reply_unit("jours-ouvres");
    caf->set_open(1);
    return answer;
  }
  return ErrorAnswer(aplus::wire::UNKNOWN_MESSAGE, "not served here");
}

// A gateway that answers every case update with CaseUpdated in `state`.
Envelope UpdatedTo(const std::string& case_id, aplus::wire::CaseState state) {
  Envelope answer;
  answer.mutable_case_updated()->set_case_id(case_id);
  answer.mutable_case_updated()->set_state(state);
  return answer;
}

Envelope PartnerGateway(const Envelope& request) {
  if (request.has_ask_info())
    return UpdatedTo(request.ask_info().case_id(), aplus::wire::INFO_REQUESTED);
  if (request.has_transfer_case()) {
    return UpdatedTo(request.transfer_case().case_id(), aplus::wire::TRANSFERRED);
  }
  return ErrorAnswer(aplus::wire::UNKNOWN_MESSAGE, "not served here");
}

Envelope AgentGateway(const Envelope& request) {
  if (request.has_answer_info()) {
    return UpdatedTo(request.answer_info().case_id(), aplus::wire::ACKNOWLEDGED);
  }
  if (request.has_get_case()) {
    Envelope answer;
    auto* view = answer.mutable_case_view();
    auto* summary = view->mutable_summary();
    summary->set_case_id(KnownCase());
    summary->set_state(aplus::wire::ANSWERED);
    summary->set_contact_point("mairie-perche-en-noce");
    summary->set_partner("caf");
    summary->set_transferred_from("france-travail");
    summary->set_submitted_at_ms(kSubmittedMs);
    summary->set_deadline_ms(kDeadlineMs);
    summary->set_warning_at_ms(kWarningMs);
    summary->set_reply_policy("4 jours-ouvres");
    summary->set_answered_at_ms(kAnsweredMs);
    summary->set_late_by_ms(kAnsweredMs - kDeadlineMs);
    summary->set_warned(true);
    summary->set_breached(true);
    summary->set_paused_ms(2 * 3600 * 1000);
    auto* pause = view->add_pauses();
    pause->set_start_ms(kSubmittedMs + 1000);
    pause->set_end_ms(kSubmittedMs + 1000 + 2 * 3600 * 1000);
    view->set_question("Quel est le numéro d'allocataire ?");
    view->add_deadline_explanation("Délai : 4 jours ouvrés.");
    view->add_deadline_explanation(
        "Jours non comptés (2) : samedi 28 novembre 2026 (samedi), "
        "dimanche 29 novembre 2026 (dimanche).");
    view->add_deadline_explanation("Échéance : mardi 1 décembre 2026, 2026-12-01 23:59:59.");
    return answer;
  }
  return ErrorAnswer(aplus::wire::UNKNOWN_MESSAGE, "not served here");
}

// A running `aplus`: its stdout and stderr are collected as they come.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    std::string program = std::string(APLUS_BIN_DIR) + "/aplus";
    std::vector<std::string> copies = args;
    std::vector<char*> argv{program.data()};
    for (auto& arg : copies) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int out_pipe[2];
    int err_pipe[2];
    REQUIRE(pipe(out_pipe) == 0);
    REQUIRE(pipe(err_pipe) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
    posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
    int spawned = posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out_pipe[1]);
    close(err_pipe[1]);
    REQUIRE_MESSAGE(spawned == 0, "cannot start " << program);
    fds_[0] = out_pipe[0];
    fds_[1] = err_pipe[0];
  }

  ~Child() {
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
    if (!reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Reads until `done(out)` holds or both pipes are closed or `timeout_ms` passed.
  bool ReadUntil(const std::function<bool(const std::string&)>& done, int64_t timeout_ms) {
    int64_t deadline = aplus::SteadyNowMs() + timeout_ms;
    while (!done(out) && (fds_[0] >= 0 || fds_[1] >= 0) && aplus::SteadyNowMs() < deadline) {
      pollfd fds[2] = {{fds_[0], POLLIN, 0}, {fds_[1], POLLIN, 0}};
      if (poll(fds, 2, 100) <= 0) continue;
      std::string* sinks[2] = {&out, &err};
      for (int i = 0; i < 2; ++i) {
        if (fds_[i] < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
        char buffer[4096];
        ssize_t n = read(fds_[i], buffer, sizeof(buffer));
        if (n > 0) {
          sinks[i]->append(buffer, static_cast<size_t>(n));
        } else {
          close(fds_[i]);
          fds_[i] = -1;
        }
      }
    }
    return done(out);
  }

  void Signal(int signal) { kill(pid_, signal); }

  // Reads everything, then the exit code (-1 if it did not finish within `timeout_ms`).
  int Wait(int64_t timeout_ms = 20000) {
    ReadUntil([](const std::string&) { return false; }, timeout_ms);
    if (fds_[0] >= 0 || fds_[1] >= 0) return -1;
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string out;
  std::string err;

 private:
  pid_t pid_ = 0;
  int fds_[2] = {-1, -1};
  bool reaped_ = false;
};

struct Run {
  int exit_code = -1;
  std::string out;
  std::string err;
};

Run RunAplus(const std::vector<std::string>& args) {
  Child child(args);
  Run run;
  run.exit_code = child.Wait();
  run.out = child.out;
  run.err = child.err;
  return run;
}

// The broker's alert publisher. Publish() runs on a thread of the test: it waits for the first
// subscription (the CLI's SUB connecting), records its prefix, then sends `messages`.
class FakeAlertPublisher {
 public:
  using Message = std::vector<std::string>;  // frames

  FakeAlertPublisher() {
    socket_.set(zmq::sockopt::linger, 0);
    endpoint_ = BindSomewhere(socket_);
  }

  ~FakeAlertPublisher() {
    if (thread_.joinable()) thread_.join();
  }

  const std::string& endpoint() const { return endpoint_; }

  // Starts the thread; `Join()` before reading subscription().
  void PublishOnSubscription(std::vector<Message> messages) {
    thread_ = std::thread([this, messages = std::move(messages)] {
      int64_t deadline = aplus::SteadyNowMs() + 10000;
      while (aplus::SteadyNowMs() < deadline) {
        zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds(100));
        if (!(item.revents & ZMQ_POLLIN)) continue;
        zmq::message_t frame;
        (void)socket_.recv(frame);
        std::string text = frame.to_string();
        if (text.empty() || text[0] != 1) continue;  // 1 = subscribe, 0 = unsubscribe
        subscription_ = text.substr(1);
        for (const auto& message : messages) {
          for (size_t i = 0; i < message.size(); ++i) {
            socket_.send(zmq::buffer(message[i]),
                         i + 1 < message.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
          }
        }
        return;
      }
    });
  }

  void Join() { thread_.join(); }
  const std::string& subscription() const { return subscription_; }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_{context_, zmq::socket_type::xpub};
  std::string endpoint_;
  std::string subscription_;  // written by the thread, read after Join()
  std::thread thread_;
};

FakeAlertPublisher::Message Published(const Alert& alert) {
  return {
      "alert." + Alert::Kind_Name(alert.kind()) + "." + alert.partner() + "." + alert.territory(),
      alert.SerializeAsString()};
}

// A temporary network config file, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/aplus-sla-cli-XXXXXX";
    int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    close(fd);
    path_ = name;
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

TEST_CASE("status shows the SLA fields, the open question and the Deadline explanation") {
  FakeEndpoint gateway(AgentGateway);
  Run run = RunAplus({"status", KnownCase(), "--agent-gateway", gateway.endpoint()});
  CHECK(run.exit_code == 0);
  CHECK(Contains(run.out, "Reply policy:"));
  CHECK(Contains(run.out, "4 jours-ouvres"));
  CHECK(Contains(run.out, "Warning at:"));
  CHECK(Contains(run.out, "2026-11-30 18:00"));
  CHECK(Contains(run.out, "Alerts raised:      warning, breach\n"));
  CHECK(Contains(run.out, "2026-12-02 10:15, late by 10:15:01\n"));
  CHECK(Contains(run.out, "Clock paused:       02:00:00\n"));
  CHECK(Contains(run.out, "Transferred from:   france-travail\n"));
  CHECK(Contains(run.out, "Quel est le numéro d'allocataire ?"));
  auto deadline = run.out.find("\nDeadline:\n");
  REQUIRE(deadline != std::string::npos);
  CHECK(run.out.find("  Délai : 4 jours ouvrés.\n", deadline) != std::string::npos);
  CHECK(run.out.find("  Jours non comptés (2) : samedi 28 novembre 2026", deadline) !=
        std::string::npos);
  CHECK(run.out.find("  Échéance : mardi 1 décembre 2026", deadline) != std::string::npos);
  CHECK(deadline < run.out.find("Timeline:"));

  Run json = RunAplus({"status", KnownCase(), "--agent-gateway", gateway.endpoint(), "--json"});
  CHECK(json.exit_code == 0);
  auto parsed = nlohmann::json::parse(json.out);
  CHECK(parsed["summary"]["replyPolicy"] == "4 jours-ouvres");
  CHECK(parsed["summary"]["breached"] == true);
  CHECK(parsed["deadlineExplanation"].size() == 3);
  CHECK(parsed["question"] == "Quel est le numéro d'allocataire ?");
}

TEST_CASE("deadline is computed locally: Christmas 2026 and the weekend are skipped") {
  // No broker, no gateway: nothing listens on the default endpoints in this test.
  Run run = RunAplus({"deadline", "--at", "2026-12-24", "--partner", "france-travail",
                      "--contact-point", "mairie-perche-en-noce", "--timeout-ms", "1"});
  CHECK(run.exit_code == 0);
  CHECK(Contains(run.out, "Deadline:      2026-12-31 23:59 (Europe/Paris)\n"));
  CHECK(Contains(run.out, "Reply policy:  4 jours-ouvres\n"));
  CHECK(Contains(run.out,
                 "Jours comptés (4) : lundi 28 décembre 2026, mardi 29 décembre 2026, "
                 "mercredi 30 décembre 2026, jeudi 31 décembre 2026."));
  CHECK(Contains(run.out, "vendredi 25 décembre 2026 (Noël)"));
  CHECK(Contains(run.out, "samedi 26 décembre 2026 (samedi)"));
  CHECK(Contains(run.out, "dimanche 27 décembre 2026 (dimanche)"));

  Run json = RunAplus({"deadline", "--at", "2026-12-24T16:30", "--partner", "france-travail",
                       "--contact-point", "mairie-perche-en-noce", "--json"});
  CHECK(json.exit_code == 0);
  auto parsed = nlohmann::json::parse(json.out);
  CHECK(parsed["deadlineMs"] == "1798757999000");  // 2026-12-31 22:59:59 UTC
  CHECK(parsed["replyPolicy"] == "4 jours-ouvres");
  // The warning is due before the deadline, after the submission (2026-12-24 15:30 UTC).
  int64_t warning = std::stoll(parsed["warningAtMs"].get<std::string>());
  CHECK(warning > 1798126200000);
  CHECK(warning < 1798757999000);
  bool submission_line = false;
  for (const auto& line : parsed["lines"]) {
    if (Contains(line.get<std::string>(), "2026-12-24 16:30:00")) submission_line = true;
  }
  CHECK(submission_line);
}

TEST_CASE("deadline: unknown partner or contact point is exit 1, a bad time exit 2") {
  Run partner =
      RunAplus({"deadline", "--partner", "nobody", "--contact-point", "mairie-perche-en-noce"});
  CHECK(partner.exit_code == 1);
  CHECK(Contains(partner.err, "aplus: UNKNOWN_PARTNER"));
  Run contact_point =
      RunAplus({"deadline", "--partner", "france-travail", "--contact-point", "nowhere", "--json"});
  CHECK(contact_point.exit_code == 1);
  CHECK(nlohmann::json::parse(contact_point.out)["error"]["code"] == "UNKNOWN_CONTACT_POINT");
  CHECK(RunAplus({"deadline", "--at", "2026-02-30", "--partner", "france-travail",
                  "--contact-point", "mairie-perche-en-noce"})
            .exit_code == 2);
  CHECK(RunAplus({"deadline", "--at", "tomorrow", "--partner", "france-travail", "--contact-point",
                  "mairie-perche-en-noce"})
            .exit_code == 2);
  // "now" is the default and always gives a deadline.
  CHECK(RunAplus(
            {"deadline", "--partner", "france-travail", "--contact-point", "mairie-perche-en-noce"})
            .exit_code == 0);
}

TEST_CASE("deadline --config: the category policy and the contact point's zone are used") {
  TempFile config(R"(
name = "test"
[[territories]]
id = "guyane"
case_prefix = "GUY"
[[contact_points]]
id = "mairie-cayenne"
territory = "guyane"
departement = "973"
[[partners]]
id = "caf"
reply_policy = "4 jours-ouvres"
[partners.category_policies]
urgent = "2 heures"
)");
  // 16:30 in Cayenne (UTC-3) = 19:30 UTC; + 2 h = 21:30 UTC = 22:30 Paris.
  Run run =
      RunAplus({"deadline", "--config", config.path(), "--at", "2026-12-24T16:30", "--partner",
                "caf", "--contact-point", "mairie-cayenne", "--category", "urgent", "--json"});
  CHECK(run.exit_code == 0);
  auto parsed = nlohmann::json::parse(run.out);
  CHECK(parsed["replyPolicy"] == "2 heures");
  CHECK(parsed["deadlineMs"] == "1798147800000");  // 2026-12-24 21:30:00 UTC

  Run human =
      RunAplus({"deadline", "--config", config.path(), "--at", "2026-12-24T16:30", "--partner",
                "caf", "--contact-point", "mairie-cayenne", "--category", "urgent"});
  CHECK(Contains(human.out, "Deadline:      2026-12-24 22:30 (Europe/Paris)\n"));

  // The built-in network does not know this contact point.
  CHECK(RunAplus({"deadline", "--partner", "caf", "--contact-point", "mairie-cayenne"}).exit_code ==
        1);
  CHECK(RunAplus({"deadline", "--config", "/nonexistent/network.toml", "--partner", "caf",
                  "--contact-point", "mairie-cayenne"})
            .exit_code == 2);
}

TEST_CASE("partner ask and transfer go to the partner gateway with idempotency keys") {
  FakeEndpoint partner(PartnerGateway);
  Run ask = RunAplus({"partner", "ask", KnownCase(), "--question", "Quel numéro ?",
                      "--partner-gateway", partner.endpoint()});
  CHECK(ask.exit_code == 0);
  CHECK(ask.out == KnownCase() + "  INFO_REQUESTED\n");

  Run transfer =
      RunAplus({"partner", "transfer", KnownCase(), "--to", "caf", "--reason", "aide au logement",
                "--idempotency-key", "k-7", "--json", "--partner-gateway", partner.endpoint()});
  CHECK(transfer.exit_code == 0);
  CHECK(nlohmann::json::parse(transfer.out)["state"] == "TRANSFERRED");

  auto requests = partner.requests();
  REQUIRE(requests.size() == 2);
  REQUIRE(requests[0].has_ask_info());
  CHECK(requests[0].ask_info().case_id() == KnownCase());
  CHECK(requests[0].ask_info().question() == "Quel numéro ?");
  CHECK(!requests[0].ask_info().idempotency_key().empty());
  REQUIRE(requests[1].has_transfer_case());
  CHECK(requests[1].transfer_case().to_partner() == "caf");
  CHECK(requests[1].transfer_case().reason() == "aide au logement");
  CHECK(requests[1].transfer_case().idempotency_key() == "k-7");

  // --to and --reason are required.
  CHECK(RunAplus({"partner", "transfer", KnownCase(), "--to", "caf"}).exit_code == 2);
  CHECK(RunAplus({"partner", "ask", KnownCase()}).exit_code == 2);
}

TEST_CASE("answer goes to the agent gateway as AnswerInfo") {
  FakeEndpoint agent(AgentGateway);
  Run run = RunAplus(
      {"answer", KnownCase(), "--text", "Numéro 1234567", "--agent-gateway", agent.endpoint()});
  CHECK(run.exit_code == 0);
  CHECK(run.out == KnownCase() + "  ACKNOWLEDGED\n");
  auto requests = agent.requests();
  REQUIRE(requests.size() == 1);
  REQUIRE(requests[0].has_answer_info());
  CHECK(requests[0].answer_info().text() == "Numéro 1234567");
  CHECK(!requests[0].answer_info().idempotency_key().empty());
}

TEST_CASE("alerts: a table of the open alerts, filters sent to the broker") {
  FakeEndpoint broker(Broker);
  Run run = RunAplus({"alerts", "--broker", broker.endpoint(), "--partner", "france-travail",
                      "--territory", "perche", "--kind", "WARNING", "--limit", "5"});
  CHECK(run.exit_code == 0);
  auto lines = Lines(run.out);
  REQUIRE(lines.size() == 2);
  for (const char* column :
       {"ALERT", "KIND", "CASE", "PARTNER", "CONTACT POINT", "DEADLINE", "RAISED", "ACKED BY"}) {
    CHECK(Contains(lines[0], column));
  }
  CHECK(Contains(lines[1], "PER-4242.WARNING.1"));
  CHECK(Contains(lines[1], "WARNING"));
  CHECK(Contains(lines[1], KnownCase()));
  CHECK(Contains(lines[1], "mairie-perche-en-noce"));
  CHECK(Contains(lines[1], "2026-12-01 23:59"));  // deadline, Paris
  CHECK(Contains(lines[1], "2026-11-30 18:00"));  // raised at, Paris

  auto requests = broker.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].hello().role() == aplus::wire::OPERATOR);
  REQUIRE(requests[1].has_list_alerts());
  CHECK(requests[1].list_alerts().partner() == "france-travail");
  CHECK(requests[1].list_alerts().territory() == "perche");
  CHECK(requests[1].list_alerts().kind() == Alert::WARNING);
  CHECK(requests[1].list_alerts().limit() == 5);
  CHECK(!requests[1].list_alerts().include_acked());

  CHECK(RunAplus({"alerts", "--kind", "late"}).exit_code == 2);
}

TEST_CASE("alerts --all --json prints the AlertList with who took each alert") {
  FakeEndpoint broker(Broker);
  Run run = RunAplus({"alerts", "--all", "--json", "--broker", broker.endpoint()});
  CHECK(run.exit_code == 0);
  auto parsed = nlohmann::json::parse(run.out);
  REQUIRE(parsed["alerts"].size() == 2);
  CHECK(parsed["alerts"][0]["kind"] == "WARNING");
  CHECK(parsed["alerts"][1]["kind"] == "BREACH");
  CHECK(parsed["alerts"][1]["ackedBy"] == "claire");
  CHECK(broker.requests().back().list_alerts().include_acked());

  Run table = RunAplus({"alerts", "--all", "--broker", broker.endpoint()});
  CHECK(Contains(table.out, "claire"));
}

TEST_CASE("alerts ack records who took the alert") {
  FakeEndpoint broker(Broker);
  Run run = RunAplus(
      {"alerts", "ack", "PER-4242.WARNING.1", "--by", "claire", "--broker", broker.endpoint()});
  CHECK(run.exit_code == 0);
  CHECK(Contains(run.out, "PER-4242.WARNING.1"));
  CHECK(Contains(run.out, "taken by claire at 2026-12-02 10:15"));
  auto requests = broker.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[1].ack_alert().alert_id() == "PER-4242.WARNING.1");
  CHECK(requests[1].ack_alert().by() == "claire");

  Run json = RunAplus({"alerts", "ack", "PER-4242.WARNING.1", "--operator", "ops-2", "--json",
                       "--broker", broker.endpoint()});
  CHECK(json.exit_code == 0);
  CHECK(nlohmann::json::parse(json.out)["alert"]["ackedBy"] == "ops-2");  // default: --operator

  Run unknown = RunAplus({"alerts", "ack", "nope", "--by", "x", "--broker", broker.endpoint()});
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err == "aplus: UNKNOWN_CASE: no alert 'nope'\n");
}

TEST_CASE("report: one row per partner, dates as Paris midnights, --to inclusive") {
  FakeEndpoint broker(Broker);
  Run run = RunAplus({"report", "--from", "2026-12-01", "--to", "2026-12-31", "--partner",
                      "france-travail", "--broker", broker.endpoint()});
  CHECK(run.exit_code == 0);
  auto lines = Lines(run.out);
  REQUIRE(lines.size() == 4);
  CHECK(Contains(lines[0], "2026-12-01"));
  for (const char* column : {"PARTNER", "RECEIVED", "ANSWERED", "ON TIME", "MEDIAN", "P90", "OPEN",
                             "AT RISK", "BREACHED"}) {
    CHECK(Contains(lines[1], column));
  }
  CHECK(Contains(lines[2], "france-travail"));
  CHECK(Contains(lines[2], "6 (66.7%)"));
  CHECK(Contains(lines[2], "2 jours-ouvres"));
  CHECK(Contains(lines[2], "3.5 jours-ouvres"));
  CHECK(Contains(lines[3], "caf"));
  CHECK(!Contains(lines[3], "jours-ouvres"));  // nothing answered: no reply time

  auto requests = broker.requests();
  REQUIRE(requests.size() == 2);
  REQUIRE(requests[1].has_get_report());
  CHECK(requests[1].get_report().from_ms() == 1796079600000);  // 2026-11-30 23:00 UTC
  CHECK(requests[1].get_report().to_ms() == 1798758000000);    // 2026-12-31 23:00 UTC
  CHECK(requests[1].get_report().partner() == "france-travail");

  Run json = RunAplus({"report", "--json", "--broker", broker.endpoint()});
  CHECK(json.exit_code == 0);
  auto parsed = nlohmann::json::parse(json.out);
  CHECK(parsed["partners"][0]["received"] == "12");  // uint64 maps to a JSON string
  CHECK(broker.requests().back().get_report().from_ms() == 0);
  CHECK(broker.requests().back().get_report().to_ms() == 0);

  CHECK(RunAplus({"report", "--from", "2026-12-32"}).exit_code == 2);
  CHECK(RunAplus({"report", "--from", "2026-12-10", "--to", "2026-12-01"}).exit_code == 2);
}

TEST_CASE("report --by contact-point: one row per contact point and the reply-time distribution") {
  FakeEndpoint broker(Broker);
  Run run = RunAplus({"report", "--by", "contact-point", "--broker", broker.endpoint()});
  CHECK(run.exit_code == 0);
  CHECK(broker.requests().back().get_report().group_by() == aplus::wire::GetReport::CONTACT_POINT);
  auto lines = Lines(run.out);
  REQUIRE(lines.size() == 7);
  CHECK(Contains(lines[1], "CONTACT POINT"));
  CHECK(Contains(lines[2], "mairie-perche-en-noce"));
  CHECK(Contains(lines[4], "Reply times of the answered cases, in jours-ouvres"));
  for (const char* column : {"<=0.5", "<=1", "<=2", "<=8", ">8"}) CHECK(Contains(lines[5], column));
  CHECK(Contains(lines[6], "mairie-perche-en-noce"));
  // The default stays one row per partner.
  RunAplus({"report", "--broker", broker.endpoint()});
  CHECK(broker.requests().back().get_report().group_by() == aplus::wire::GetReport::PARTNER);
  CHECK(RunAplus({"report", "--by", "agent"}).exit_code == 2);
}

TEST_CASE("sla-board: breached, at risk and due soon, with the horizon and filters asked") {
  FakeEndpoint broker(Broker);
  Run run = RunAplus({"sla-board", "--partner", "france-travail", "--horizon-hours", "36",
                      "--broker", broker.endpoint()});
  CHECK(run.exit_code == 0);
  CHECK(Contains(run.out, "BREACHED (1)"));
  CHECK(Contains(run.out, "AT RISK (0)"));
  CHECK(Contains(run.out, "DUE SOON (1)"));
  CHECK(Contains(run.out, "PER-4242-0001"));
  CHECK(Contains(run.out, "PER-4242-0002"));
  CHECK(run.out.find("PER-4242-0001") < run.out.find("PER-4242-0002"));
  const aplus::wire::GetSlaBoard asked = broker.requests().back().get_sla_board();
  CHECK(asked.partner() == "france-travail");
  CHECK(asked.horizon_ms() == 36 * 3600 * 1000);
  Run json = RunAplus({"sla-board", "--json", "--broker", broker.endpoint()});
  CHECK(json.exit_code == 0);
  auto parsed = nlohmann::json::parse(json.out);
  CHECK(parsed["breached"][0]["caseId"] == "PER-4242-0001");
  CHECK(broker.requests().back().get_sla_board().horizon_ms() == 0);
  CHECK(RunAplus({"sla-board", "--horizon-hours", "-1"}).exit_code == 2);
}

TEST_CASE("alerts --follow prints the open alerts, then each published one once") {
  FakeEndpoint broker(Broker);
  FakeAlertPublisher publisher;
  Alert breach = MakeAlert("PER-4242.BREACH.1", Alert::BREACH, "perche");
  Alert elsewhere = MakeAlert("PER-9.BREACH.1", Alert::BREACH, "other");
  publisher.PublishOnSubscription({
      {"alert.BREACH.france-travail.perche", "not a protobuf \xff\xff"},  // skipped
      Published(elsewhere),                                               // other territory
      Published(breach),
      Published(breach),  // the same alert again: printed once
  });
  int64_t started = aplus::SteadyNowMs();
  Run run = RunAplus({"alerts", "--follow", "--for-seconds", "2", "--territory", "perche",
                      "--broker", broker.endpoint(), "--alerts", publisher.endpoint()});
  publisher.Join();
  CHECK(run.exit_code == 0);
  CHECK(aplus::SteadyNowMs() - started >= 2000);
  CHECK(publisher.subscription() == "alert.");
  auto lines = Lines(run.out);
  REQUIRE(lines.size() == 2);
  CHECK(Contains(lines[0], "PER-4242.WARNING.1"));  // from ListAlerts
  CHECK(Contains(lines[1], "BREACH"));
  CHECK(Contains(lines[1], "PER-4242.BREACH.1"));
  CHECK(Contains(lines[1], "france-travail (perche)"));
  CHECK(!Contains(run.out, "PER-9"));
  CHECK(run.err.empty());
}

TEST_CASE("alerts --follow --json: JSON Lines, subscribed to the narrowest topic") {
  FakeEndpoint broker(Broker);
  FakeAlertPublisher publisher;
  Alert breach = MakeAlert("PER-4242.BREACH.1", Alert::BREACH);
  publisher.PublishOnSubscription({Published(breach)});
  Run run = RunAplus({"alerts", "--follow", "--json", "--for-seconds", "1", "--kind", "breach",
                      "--partner", "france-travail", "--broker", broker.endpoint(), "--alerts",
                      publisher.endpoint()});
  publisher.Join();
  CHECK(run.exit_code == 0);
  CHECK(publisher.subscription() == "alert.BREACH.france-travail.");
  auto lines = Lines(run.out);
  REQUIRE(lines.size() == 2);  // the fake lists a WARNING whatever the filter; then the breach
  CHECK(nlohmann::json::parse(lines[0])["alertId"] == "PER-4242.WARNING.1");
  CHECK(nlohmann::json::parse(lines[1])["alertId"] == "PER-4242.BREACH.1");
  CHECK(nlohmann::json::parse(lines[1])["kind"] == "BREACH");
}

TEST_CASE("alerts --follow stops cleanly on SIGINT and SIGTERM") {
  FakeEndpoint broker(Broker);
  FakeAlertPublisher publisher;
  for (int signal : {SIGINT, SIGTERM}) {
    Child child(
        {"alerts", "--follow", "--broker", broker.endpoint(), "--alerts", publisher.endpoint()});
    // The open alert is printed once the broker answered: the CLI is now following.
    REQUIRE(child.ReadUntil(
        [](const std::string& out) { return Contains(out, "PER-4242.WARNING.1"); }, 10000));
    child.Signal(signal);
    CHECK(child.Wait() == 0);
  }
}

TEST_CASE("alerts --follow with the broker unreachable: exit 3") {
  FakeAlertPublisher publisher;
  zmq::context_t context(1);
  zmq::socket_t probe(context, zmq::socket_type::router);
  std::string silent = BindSomewhere(probe);  // bound, never answers
  Run run = RunAplus({"alerts", "--follow", "--timeout-ms", "300", "--broker", silent, "--alerts",
                      publisher.endpoint()});
  CHECK(run.exit_code == 3);
  CHECK(Contains(run.err, "aplus: UNREACHABLE"));
}
