#include "tests/soak/chaos_soak.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/curve_client.h"
#include "tests/support/broker_test_helpers.h"

namespace aplus::soak {
namespace {

using testing::TestNetwork;
using testing::WaitUntil;

const std::string kContactPoint = "mairie-perche-en-noce";
const std::string kPartner = "france-travail";
const std::string kPartnerQueue = "partner/france-travail";
const std::string kMailbox = "mailbox/mairie-perche-en-noce";
const std::string kSubjectPrefix = "Soak ";

int64_t Now() { return SteadyNowMs(); }

void SleepMs(int64_t ms) {
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// SIGTERM, then SIGKILL if the process still runs after `timeout_ms`. False in that case.
bool StopWithin(testing::ChildProcess& process, int timeout_ms) {
  if (!process.Running()) return true;
  ::kill(process.pid(), SIGTERM);
  if (WaitUntil([&] { return !process.Running(); }, timeout_ms, 10)) return true;
  process.Kill();
  return false;
}

// What the soak's clients retry, as the protocol says (proto/aplus.proto, "Transient and
// permanent refusals"); any other code is a final answer.
bool IsTransient(wire::ErrorCode code) {
  switch (code) {
    case wire::RATE_LIMITED:
    case wire::TOO_MANY_OPEN_CASES:
    case wire::UNAVAILABLE:
    case wire::UNREACHABLE:
    case wire::NOT_AUTHENTICATED:
      return true;
    default:
      return false;
  }
}

// The code of a failed call or of an Error answer; ERROR_UNSPECIFIED for a non-error answer.
wire::ErrorCode CodeOf(const Result<wire::Envelope>& answer) {
  if (!answer.ok()) return answer.status().code();
  if (answer->has_error()) return answer->error().code();
  return wire::ERROR_UNSPECIFIED;
}

// The checker's own calls: a transient refusal (the broker's rate limit, a restart) is retried
// for up to 30 s; any other answer is returned, an Error body as the status.
Result<wire::Envelope> CallRetrying(SyncClient& client, const wire::Envelope& request,
                                    int timeout_ms) {
  const int64_t give_up = Now() + 30000;
  while (true) {
    auto answer = client.CallOk(request, timeout_ms);
    if (answer.ok() || !IsTransient(answer.status().code()) || Now() > give_up) return answer;
    int64_t hint = answer.status().retry_after_ms();
    SleepMs(hint > 0 ? std::min<int64_t>(hint, 2000) : 200);
  }
}

std::string LogTail(const std::string& log, size_t lines) {
  size_t at = log.size();
  for (size_t n = 0; n <= lines && at > 0; ++n) {
    at = log.rfind('\n', at - 1);
    if (at == std::string::npos) return log;
  }
  return log.substr(at + 1);
}

// deploy/perche.toml with a 6-second reply window for the soak's partner (warning 3 s before),
// so that the cases held up by a kill raise alerts too.
std::string WriteShortSlaConfig(const std::string& path) {
  std::ifstream in(std::string(APLUS_SOURCE_DIR) + "/deploy/perche.toml");
  std::stringstream content;
  content << in.rdbuf();
  std::string toml = content.str();
  auto replace = [&](const std::string& from, const std::string& to, size_t start) {
    size_t at = toml.find(from, start);
    if (at == std::string::npos) return false;
    toml.replace(at, from.size(), to);
    return true;
  };
  size_t partner = toml.find("id = \"" + kPartner + "\"");
  if (partner == std::string::npos ||
      !replace("warning_lead = \"default\"", "warning_lead = \"3 secondes\"", 0) ||
      !replace("reply_policy = \"4 jours-ouvres\"\n", "reply_policy = \"6 secondes\"\n",
               toml.find("id = \"" + kPartner + "\""))) {
    return "";
  }
  std::ofstream(path) << toml;
  return path;
}

// One submission as its client saw it.
struct Submission {
  std::string key;
  std::string case_id;    // from Accepted (empty when answered QUEUED_LOCALLY)
  std::string local_ref;  // from QUEUED_LOCALLY
  int attempts = 0;
  int64_t accepted_at_ms = 0;  // steady clock, when the client got its answer
};

// What the partner worker did to one case of its inbox.
struct PartnerWork {
  int64_t seen_at_ms = 0;  // steady clock, when the partner first saw it in its inbox
  bool acked = false;
  bool replied = false;
  bool reply_queued_locally = false;  // the partner gateway answered queued_locally
  std::string refusal;                // a final refusal of its ack or reply
};

class ChaosSoak {
 public:
  explicit ChaosSoak(const SoakOptions& options)
      : options_(options), random_(options.seed), network_("soak") {}

  int Run();

 private:
  enum class Program { kBroker, kAgent, kPartner };
  static const char* Name(Program program) {
    switch (program) {
      case Program::kBroker: return "broker";
      case Program::kAgent: return "agent-gateway";
      case Program::kPartner: return "partner-gateway";
    }
    return "?";
  }
  testing::ChildProcess& Process(Program program) {
    switch (program) {
      case Program::kBroker: return network_.broker();
      case Program::kAgent: return network_.agent_gateway();
      case Program::kPartner: return network_.partner_gateway();
    }
    return network_.broker();
  }

  bool Start(Program program);
  bool StartAll();
  void RestartDeadOnes();
  void RunRound(int round);
  void SubmitLoop(int thread);
  void PartnerLoop();
  void AlertLoop();
  // The broker's cases of the contact point (summaries, all pages), or an error.
  Result<std::vector<wire::CaseSummary>> BrokerCases(SyncClient& agent_session);
  bool Settled(SyncClient& agent_session, SyncClient& operator_session, std::string* why);
  // The agent gateway's own view of `case_ids` (the broker must be stopped): by ListCases, or
  // when that gets no answer, by GetCase of each case through a gateway restarted with a short
  // forward timeout. Cases it does not know are left out.
  Result<std::map<std::string, wire::CaseSummary>> AgentLocalView(
      const std::vector<std::string>& case_ids);
  int Check();

  const SoakOptions options_;
  std::mt19937 random_;  // the killer's (main thread)
  TestNetwork network_;
  std::vector<std::string> broker_flags_ = {"--ack-lease-ms", "3000"};
  std::vector<std::string> gateway_flags_;

  std::atomic<bool> stop_submitting_{false};
  std::atomic<bool> stop_partner_{false};
  std::atomic<bool> stop_alerts_{false};

  std::mutex mutex_;
  std::vector<Submission> accepted_;                   // guarded by mutex_
  std::vector<std::string> never_accepted_;            // guarded by mutex_: key and last answer
  std::map<std::string, PartnerWork> partner_work_;    // guarded by mutex_: case id -> work
  std::map<std::string, std::set<int64_t>> published_; // guarded by mutex_: alert id -> raised at
  std::map<std::string, uint64_t> transient_;          // guarded by mutex_: "who code" -> n
  std::vector<std::string> unexpected_exits_;          // main thread only
  std::map<std::string, int> kills_;                   // main thread only: "SIGKILL broker" -> n
  int64_t started_ms_ = 0;
};

bool ChaosSoak::Start(Program program) {
  const int64_t deadline = Now() + 30000;
  while (Now() < deadline) {
    bool started = false;
    switch (program) {
      case Program::kBroker: started = network_.StartBroker(broker_flags_); break;
      case Program::kAgent: started = network_.StartAgentGateway(kContactPoint, gateway_flags_); break;
      case Program::kPartner: started = network_.StartPartnerGateway(kPartner, gateway_flags_); break;
    }
    if (started) return true;
    // The port may still be held for a moment by the killed process's connections.
    std::string log = Process(program).Log();
    if (log.find("Address already in use") == std::string::npos) {
      std::cout << "soak: " << Name(program) << " failed to start:\n" << LogTail(log, 30) << std::endl;
      return false;
    }
    SleepMs(100);
  }
  std::cout << "soak: " << Name(program) << " could not bind its port within 30 s" << std::endl;
  return false;
}

bool ChaosSoak::StartAll() {
  return Start(Program::kBroker) && Start(Program::kAgent) && Start(Program::kPartner);
}

// A supervisor's job: a process that stopped by itself is noted and started again.
void ChaosSoak::RestartDeadOnes() {
  for (Program program : {Program::kBroker, Program::kAgent, Program::kPartner}) {
    auto& process = Process(program);
    if (process.Running()) continue;
    std::string note = std::string(Name(program)) + " exited by itself with code " +
                       std::to_string(process.ExitCode()) + " after " +
                       std::to_string((Now() - started_ms_) / 1000) + " s";
    std::cout << "soak: " << note << "; last lines:\n" << LogTail(process.Log(), 10) << std::endl;
    unexpected_exits_.push_back(note);
    if (!Start(program)) throw std::runtime_error(std::string("cannot restart ") + Name(program));
  }
}

void ChaosSoak::RunRound(int round) {
  std::uniform_int_distribution<int> moment(options_.kill_after_min_ms, options_.kill_after_max_ms);
  std::uniform_int_distribution<int> down(0, options_.down_max_ms);
  std::uniform_int_distribution<int> which(0, 2);
  std::uniform_int_distribution<int> percent(0, 99);
  const int64_t kill_at = Now() + moment(random_);
  while (Now() < kill_at) {
    RestartDeadOnes();
    SleepMs(std::min<int64_t>(50, kill_at - Now()));
  }
  if (!options_.kill) {
    std::cout << "round " << round << ": no kill" << std::endl;
    return;
  }
  Program victim = static_cast<Program>(which(random_));
  bool term = percent(random_) < options_.sigterm_percent;
  int down_ms = down(random_);
  auto& process = Process(victim);
  std::string how = term ? "SIGTERM" : "SIGKILL";
  int64_t signalled = Now();
  if (term) {
    if (!StopWithin(process, 10000)) {
      unexpected_exits_.push_back(std::string(Name(victim)) + " ignored SIGTERM for 10 s");
    } else if (process.ExitCode() != 0) {
      unexpected_exits_.push_back(std::string(Name(victim)) + " stopped on SIGTERM with code " +
                                  std::to_string(process.ExitCode()));
    }
  } else {
    process.Kill();
  }
  kills_[how + " " + Name(victim)]++;
  int64_t stopped_in = Now() - signalled;
  SleepMs(down_ms);
  int64_t restarting = Now();
  if (!Start(victim)) throw std::runtime_error(std::string("cannot restart ") + Name(victim));
  size_t accepted = 0;
  {
    std::lock_guard lock(mutex_);
    accepted = accepted_.size();
  }
  std::cout << "round " << round << ": " << how << " " << Name(victim) << " (stopped in "
            << stopped_in << " ms), down " << down_ms << " ms, ready again in "
            << Now() - restarting << " ms; " << accepted << " submissions accepted so far"
            << std::endl;
}

void ChaosSoak::SubmitLoop(int thread) {
  auto client = network_.AgentClient();
  std::mt19937 random(options_.seed * 31u + static_cast<uint32_t>(thread));
  std::uniform_int_distribution<int> jitter(0, 300);
  for (int i = 0; !stop_submitting_.load(); ++i) {
    Submission submission;
    submission.key = "soak-" + std::to_string(thread) + "-" + std::to_string(i);
    const int64_t give_up = Now() + 60000;
    std::string last;
    while (true) {
      ++submission.attempts;
      // Longer than the gateway's forward timeout (2 s) plus an outbox fsync.
      auto answer = client->Call(
          testing::SubmitRequest(kSubjectPrefix + submission.key, submission.key, kPartner), 5000);
      if (answer.ok() && answer->has_accepted()) {
        submission.case_id = answer->accepted().case_id();
        submission.local_ref = answer->accepted().local_ref();
        if (answer->accepted().state() == wire::QUEUED_LOCALLY) submission.case_id.clear();
        submission.accepted_at_ms = Now();
        std::lock_guard lock(mutex_);
        accepted_.push_back(submission);
        break;
      }
      wire::ErrorCode code = CodeOf(answer);
      last = answer.ok() ? StatusOf(*answer).ToString() : answer.status().ToString();
      {
        std::lock_guard lock(mutex_);
        transient_["submit " + wire::ErrorCode_Name(code)]++;
      }
      if ((code != wire::ERROR_UNSPECIFIED && !IsTransient(code)) || Now() > give_up) {
        std::lock_guard lock(mutex_);
        never_accepted_.push_back(submission.key + " after " + std::to_string(submission.attempts) +
                                  " attempts: " + last);
        break;
      }
      SleepMs(200 + jitter(random));
    }
    SleepMs(options_.submit_interval_ms);
  }
}

void ChaosSoak::PartnerLoop() {
  auto client = network_.PartnerClient();
  std::vector<std::string> order;  // cases in the order first seen
  size_t first_open = 0;           // every case before it is replied or refused
  while (!stop_partner_.load()) {
    wire::Envelope inbox_request;
    inbox_request.mutable_get_inbox()->set_limit(1000);
    auto inbox = client->Call(inbox_request, 3000);
    if (!inbox.ok() || !inbox->has_inbox()) {
      SleepMs(200);
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      for (const auto& escalation : inbox->inbox().escalations()) {
        PartnerWork fresh;
        fresh.seen_at_ms = Now();
        if (partner_work_.emplace(escalation.case_id(), fresh).second) {
          order.push_back(escalation.case_id());
        }
      }
    }
    // Ack then reply each case, in arrival order; a transient failure leaves the rest for the
    // next turn (the same idempotency keys then).
    for (size_t i = first_open; i < order.size() && !stop_partner_.load(); ++i) {
      const std::string& case_id = order[i];
      PartnerWork work;
      {
        std::lock_guard lock(mutex_);
        work = partner_work_[case_id];
      }
      if (work.replied || !work.refusal.empty()) {
        if (i == first_open) ++first_open;
        continue;
      }
      wire::Envelope request;
      if (!work.acked) {
        auto* ack = request.mutable_acknowledge_case();
        ack->set_case_id(case_id);
        ack->set_note("pris en charge");
        ack->set_idempotency_key("ack-" + case_id);
      } else {
        auto* reply = request.mutable_reply_case();
        reply->set_case_id(case_id);
        reply->set_text("Réponse au dossier " + case_id);
        reply->set_idempotency_key("reply-" + case_id);
      }
      auto answer = client->Call(request, 5000);
      wire::ErrorCode code = CodeOf(answer);
      std::lock_guard lock(mutex_);
      PartnerWork& stored = partner_work_[case_id];
      if (answer.ok() && answer->has_case_updated()) {
        if (!work.acked) {
          stored.acked = true;
          --i;  // the reply next, at once
        } else {
          stored.replied = true;
          stored.reply_queued_locally = answer->case_updated().queued_locally();
        }
        continue;
      }
      if (code != wire::ERROR_UNSPECIFIED && !IsTransient(code)) {
        stored.refusal = std::string(work.acked ? "reply" : "ack") + " refused: " +
                         (answer.ok() ? StatusOf(*answer).ToString() : answer.status().ToString());
        continue;
      }
      transient_[std::string(work.acked ? "reply " : "ack ") + wire::ErrorCode_Name(code)]++;
      break;  // transient: try again next turn
    }
    SleepMs(100);
  }
}

// Every alert the broker publishes, as an operator's follower receives it.
void ChaosSoak::AlertLoop() {
  zmq::socket_t socket(network_.context(), zmq::socket_type::sub);
  socket.set(zmq::sockopt::linger, 0);
  ApplyCurveClient(socket, network_.Keys(wire::OPERATOR, "operator"));
  socket.set(zmq::sockopt::subscribe, "alert.");
  socket.connect(network_.alerts_endpoint());
  while (!stop_alerts_.load()) {
    zmq::pollitem_t items[] = {{socket.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 1, std::chrono::milliseconds(100));
    if (!(items[0].revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> frames;
    auto received = zmq::recv_multipart(socket, std::back_inserter(frames));
    if (!received || frames.size() != 2) continue;
    wire::Alert alert;
    if (!alert.ParseFromArray(frames[1].data(), static_cast<int>(frames[1].size()))) continue;
    std::lock_guard lock(mutex_);
    published_[alert.alert_id()].insert(alert.raised_at_ms());
  }
}

Result<std::vector<wire::CaseSummary>> ChaosSoak::BrokerCases(SyncClient& agent_session) {
  std::vector<wire::CaseSummary> all;
  std::string after;
  while (true) {
    wire::Envelope request;
    request.mutable_list_cases()->set_limit(1000);
    request.mutable_list_cases()->set_after_case_id(after);
    auto answer = CallRetrying(agent_session, request, 10000);
    if (!answer.ok()) return answer.status();
    if (!answer->has_case_list()) return Status(wire::INTERNAL, "ListCases answered " + BodyName(*answer));
    const auto& cases = answer->case_list().cases();
    if (cases.empty()) return all;
    all.insert(all.end(), cases.begin(), cases.end());
    after = cases[cases.size() - 1].case_id();
  }
}

// True when every accepted submission is a case at the broker that the partner answered, and
// both queues are empty (every reply is in the agent gateway).
bool ChaosSoak::Settled(SyncClient& agent_session, SyncClient& operator_session, std::string* why) {
  auto cases = BrokerCases(agent_session);
  if (!cases.ok()) {
    *why = "broker ListCases: " + cases.status().ToString();
    return false;
  }
  std::map<std::string, wire::CaseState> state_by_key;
  for (const auto& summary : *cases) {
    if (summary.subject().rfind(kSubjectPrefix, 0) == 0) {
      state_by_key[summary.subject().substr(kSubjectPrefix.size())] = summary.state();
    }
  }
  size_t missing = 0, unanswered = 0;
  {
    std::lock_guard lock(mutex_);
    for (const auto& submission : accepted_) {
      auto found = state_by_key.find(submission.key);
      if (found == state_by_key.end()) {
        ++missing;
      } else if (found->second != wire::ANSWERED) {
        ++unanswered;
      }
    }
  }
  auto stats_answer = CallRetrying(operator_session, testing::StatsRequest(), 5000);
  Result<wire::Stats> stats = stats_answer.ok() ? Result<wire::Stats>(stats_answer->stats())
                                                : Result<wire::Stats>(stats_answer.status());
  if (!stats.ok()) {
    *why = "broker GetStats: " + stats.status().ToString();
    return false;
  }
  uint64_t partner_depth = testing::QueueStatsOf(*stats, kPartnerQueue).depth();
  uint64_t mailbox_depth = testing::QueueStatsOf(*stats, kMailbox).depth();
  *why = std::to_string(missing) + " accepted submissions not yet cases at the broker, " +
         std::to_string(unanswered) + " cases not yet ANSWERED, " + std::to_string(partner_depth) +
         " items in " + kPartnerQueue + " (" +
         std::to_string(testing::QueueStatsOf(*stats, kPartnerQueue).in_flight()) +
         " in flight), " + std::to_string(mailbox_depth) + " in " + kMailbox;
  return missing == 0 && unanswered == 0 && partner_depth == 0 && mailbox_depth == 0;
}

Result<std::map<std::string, wire::CaseSummary>> ChaosSoak::AgentLocalView(
    const std::vector<std::string>& case_ids) {
  std::map<std::string, wire::CaseSummary> local;
  auto agent_local = network_.AgentClient();
  std::string after;
  while (true) {
    wire::Envelope request;
    request.mutable_list_cases()->set_limit(1000);
    request.mutable_list_cases()->set_after_case_id(after);
    auto answer = agent_local->CallOk(request, 5000);
    if (!answer.ok() || !answer->has_case_list()) {
      std::cout << "soak: the agent gateway's ListCases without the broker: "
                << (answer.ok() ? "answered " + BodyName(*answer) : answer.status().ToString())
                << "; reading each case with GetCase instead" << std::endl;
      local.clear();
      break;
    }
    // The broker is stopped: whatever the flag says, this is the gateway's own view.
    if (!answer->case_list().from_local_cache() && after.empty()) {
      std::cout << "soak: note: the agent gateway's list without the broker is not marked "
                   "from_local_cache"
                << std::endl;
    }
    int added = 0;
    for (const auto& summary : answer->case_list().cases()) {
      if (summary.case_id().empty()) continue;  // outbox entries have no id yet
      added += local.emplace(summary.case_id(), summary).second ? 1 : 0;
      after = summary.case_id();
    }
    if (added == 0) return local;
  }
  // GetCase answers from the cache once the forward timeout passed: a short one, and a few
  // clients at once.
  StopWithin(network_.agent_gateway(), 10000);
  std::vector<std::string> flags = gateway_flags_;
  flags.insert(flags.end(), {"--forward-timeout-ms", "200"});
  if (!network_.StartAgentGateway(kContactPoint, flags)) {
    return Status(wire::UNAVAILABLE, "the agent gateway did not restart");
  }
  std::mutex mutex;
  std::vector<std::string> failures;
  std::vector<std::thread> readers;
  for (size_t t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      auto client = network_.AgentClient();
      for (size_t i = t; i < case_ids.size(); i += 4) {
        auto answer = client->Call(testing::GetCaseRequest(case_ids[i]), 10000);
        std::lock_guard lock(mutex);
        if (answer.ok() && answer->has_case_view()) {
          local[case_ids[i]] = answer->case_view().summary();
        } else if (CodeOf(answer) != wire::UNKNOWN_CASE && CodeOf(answer) != wire::UNREACHABLE) {
          failures.push_back(case_ids[i] + ": " + (answer.ok() ? StatusOf(*answer).ToString()
                                                               : answer.status().ToString()));
        }
      }
    });
  }
  for (auto& reader : readers) reader.join();
  if (!failures.empty()) return Status(wire::INTERNAL, failures.front());
  return local;
}

int ChaosSoak::Check() {
  int64_t settle_started = Now();
  auto agent_session = network_.BrokerClient(wire::AGENT_GATEWAY, kContactPoint);
  auto operator_session = network_.BrokerClient(wire::OPERATOR, "operator");
  std::string why;
  bool settled = false;
  int64_t next_report = Now() + 5000;
  while (true) {
    RestartDeadOnes();
    settled = Settled(*agent_session, *operator_session, &why);
    if (settled || Now() - settle_started > options_.settle_seconds * 1000L) break;
    if (Now() >= next_report) {
      std::cout << "settling: " << why << std::endl;
      next_report = Now() + 5000;
    }
    SleepMs(500);
  }
  std::cout << (settled ? "settled in " : "NOT settled after ") << (Now() - settle_started) / 1000
            << " s" << (settled ? "" : ": " + why) << std::endl;
  stop_partner_ = true;

  std::vector<Submission> accepted;
  std::vector<std::string> never_accepted;
  std::map<std::string, PartnerWork> partner_work;
  {
    std::lock_guard lock(mutex_);
    accepted = accepted_;
    never_accepted = never_accepted_;
    partner_work = partner_work_;
  }
  std::vector<std::string> lost, duplicated, impossible, replies_lost, alerts_twice, unsettled;

  // Cases at the broker, by idempotency key (the subject carries it).
  auto cases = BrokerCases(*agent_session);
  if (!cases.ok()) {
    std::cout << "soak: cannot list the broker's cases: " << cases.status().ToString() << std::endl;
    return 2;
  }
  std::map<std::string, std::vector<wire::CaseSummary>> by_key;
  for (const auto& summary : *cases) {
    if (summary.subject().rfind(kSubjectPrefix, 0) == 0) {
      by_key[summary.subject().substr(kSubjectPrefix.size())].push_back(summary);
    }
  }
  std::set<std::string> accepted_keys;
  std::vector<int64_t> latencies;  // acceptance to the partner's inbox, ms
  std::vector<std::pair<int64_t, std::string>> stalled;
  auto partner_local = network_.PartnerClient();
  size_t queued_locally = 0;
  for (const auto& submission : accepted) {
    accepted_keys.insert(submission.key);
    if (submission.case_id.empty()) ++queued_locally;
    auto found = by_key.find(submission.key);
    std::string label = submission.key + (submission.case_id.empty()
                                              ? " (QUEUED_LOCALLY " + submission.local_ref + ")"
                                              : " (" + submission.case_id + ")");
    if (found == by_key.end()) {
      lost.push_back(label + ": no case at the broker");
      continue;
    }
    if (found->second.size() == 1) {
      auto work = partner_work.find(found->second.front().case_id());
      if (work != partner_work.end()) {
        int64_t latency = std::max<int64_t>(0, work->second.seen_at_ms - submission.accepted_at_ms);
        latencies.push_back(latency);
        if (latency > options_.max_delivery_seconds * 1000L) {
          stalled.push_back({latency, label + " reached the partner's inbox " +
                                          std::to_string(latency / 1000) + " s after its acceptance"});
        }
      }
    }
    if (found->second.size() > 1) {
      std::string ids;
      for (const auto& summary : found->second) ids += " " + summary.case_id();
      duplicated.push_back(submission.key + ":" + ids);
    }
    for (const auto& summary : found->second) {
      if (!submission.case_id.empty() && found->second.size() == 1 &&
          summary.case_id() != submission.case_id) {
        impossible.push_back(label + ": the broker holds it as " + summary.case_id());
      }
      auto stored = CallRetrying(*partner_local, testing::GetCaseRequest(summary.case_id()), 5000);
      if (!stored.ok()) {
        lost.push_back(label + ": " + summary.case_id() + " is " +
                       wire::CaseState_Name(summary.state()) + " at the broker but not in the "
                       "partner's inbox (" + stored.status().ToString() + ")");
      }
      if (summary.state() != wire::ANSWERED) {
        unsettled.push_back(summary.case_id() + " is " + wire::CaseState_Name(summary.state()) +
                            " at the broker");
      }
    }
  }
  size_t stray = 0;  // cases of submissions whose client never saw an answer: allowed
  for (const auto& [key, summaries] : by_key) {
    if (!accepted_keys.count(key)) stray += summaries.size();
    if (!accepted_keys.count(key) && summaries.size() > 1) {
      duplicated.push_back(key + " (never acknowledged): " + std::to_string(summaries.size()) + " cases");
    }
  }

  // Every case tells a legal story that ends in its summary's state.
  for (const auto& summary : *cases) {
    auto view = CallRetrying(*operator_session, testing::GetCaseRequest(summary.case_id()), 10000);
    if (!view.ok() || !view->has_case_view()) {
      impossible.push_back(summary.case_id() + ": listed but GetCase says " +
                           (view.ok() ? BodyName(*view) : view.status().ToString()));
      continue;
    }
    std::string problem = testing::TimelineProblem(view->case_view());
    if (!problem.empty()) impossible.push_back(problem);
  }

  // Alerts: one stored alert per kind and case; one raising time per published id.
  wire::Envelope list_alerts;
  list_alerts.mutable_list_alerts()->set_include_acked(true);
  list_alerts.mutable_list_alerts()->set_limit(10000);
  auto alerts = CallRetrying(*operator_session, list_alerts, 10000);
  size_t stored_alerts = 0;
  if (!alerts.ok()) {
    std::cout << "soak: cannot list the alerts: " << alerts.status().ToString() << std::endl;
    return 2;
  }
  std::map<std::pair<std::string, int>, std::set<std::string>> ids_by_case_kind;
  for (const auto& alert : alerts->alert_list().alerts()) {
    ++stored_alerts;
    ids_by_case_kind[{alert.case_id(), alert.kind()}].insert(alert.alert_id());
  }
  for (const auto& [case_kind, ids] : ids_by_case_kind) {
    if (ids.size() > 1) {
      std::string list;
      for (const auto& id : ids) list += " " + id;
      alerts_twice.push_back(case_kind.first + " stored" + list);
    }
  }
  size_t published_alerts = 0;
  {
    std::lock_guard lock(mutex_);
    published_alerts = published_.size();
    for (const auto& [id, raised] : published_) {
      if (raised.size() > 1) {
        alerts_twice.push_back(id + " published with " + std::to_string(raised.size()) +
                               " raising times");
      }
    }
  }

  // Replies: the agent gateway's own view, read with the broker stopped so that the answer
  // comes from what the mailbox delivered to it, not from the broker.
  StopWithin(network_.broker(), 10000);
  std::vector<std::string> replied_ids;
  for (const auto& [case_id, work] : partner_work) {
    if (work.replied) replied_ids.push_back(case_id);
  }
  auto local = AgentLocalView(replied_ids);
  if (!local.ok()) {
    std::cout << "soak: cannot read the agent gateway's local view: " << local.status().ToString()
              << std::endl;
    return 2;
  }
  size_t replied = 0, replied_queued = 0;
  std::vector<std::string> partner_refusals;
  for (const auto& [case_id, work] : partner_work) {
    if (!work.refusal.empty()) partner_refusals.push_back(case_id + ": " + work.refusal);
    if (!work.replied) continue;
    ++replied;
    if (work.reply_queued_locally) ++replied_queued;
    auto found = local->find(case_id);
    if (found == local->end()) {
      replies_lost.push_back(case_id + ": not in the agent gateway's view");
    } else if (found->second.state() != wire::ANSWERED) {
      replies_lost.push_back(case_id + ": " + wire::CaseState_Name(found->second.state()) +
                             " in the agent gateway's view");
    }
  }

  auto print = [](const std::string& title, const std::vector<std::string>& items) {
    std::cout << title << ": " << items.size() << std::endl;
    for (size_t i = 0; i < items.size() && i < 50; ++i) std::cout << "  " << items[i] << std::endl;
    if (items.size() > 50) std::cout << "  ... and " << items.size() - 50 << " more" << std::endl;
  };
  std::cout << "---- aplus-soak: seed " << options_.seed << ", " << options_.rounds << " rounds,"
            << " " << (Now() - started_ms_) / 1000 << " s ----" << std::endl;
  std::string kills;
  for (const auto& [how, n] : kills_) kills += " " + how + " x" + std::to_string(n) + ";";
  std::cout << "kills:" << kills << std::endl;
  std::cout << "submissions accepted: " << accepted.size() << " (" << queued_locally
            << " answered QUEUED_LOCALLY); cases at the broker: " << cases->size() << " (" << stray
            << " of submissions never acknowledged to their client)" << std::endl;
  std::cout << "partner: " << partner_work.size() << " cases seen in the inbox, " << replied
            << " replied (" << replied_queued << " queued locally by the partner gateway)"
            << std::endl;
  std::cout << "alerts: " << stored_alerts << " stored, " << published_alerts
            << " distinct ids published" << std::endl;
  {
    std::lock_guard lock(mutex_);
    std::string retried;
    for (const auto& [what, n] : transient_) retried += " " + what + " x" + std::to_string(n) + ";";
    std::cout << "answers retried by the clients:" << (retried.empty() ? " none" : retried)
              << std::endl;
  }
  if (!latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    auto at = [&](double q) { return latencies[static_cast<size_t>(q * (latencies.size() - 1))]; };
    std::cout << "acceptance to partner inbox: p50 " << at(0.5) << " ms, p99 " << at(0.99)
              << " ms, max " << latencies.back() << " ms" << std::endl;
  }
  std::sort(stalled.rbegin(), stalled.rend());
  std::vector<std::string> stalled_text;
  for (const auto& item : stalled) stalled_text.push_back(item.second);
  print("lost", lost);
  print("stalled (in the inbox more than " + std::to_string(options_.max_delivery_seconds) +
            " s after acceptance)",
        stalled_text);
  print("duplicated", duplicated);
  print("replies lost", replies_lost);
  print("alerts raised twice", alerts_twice);
  print("impossible states", impossible);
  print("not settled", unsettled);
  print("never accepted (gave up after 60 s or refused)", never_accepted);
  print("partner requests refused", partner_refusals);
  print("processes that stopped by themselves or badly", unexpected_exits_);
  bool failed = !lost.empty() || !stalled.empty() || !duplicated.empty() || !replies_lost.empty() ||
                !alerts_twice.empty() || !impossible.empty();
  std::cout << (failed ? "FAILED" : "PASSED") << std::endl;
  return failed ? 1 : 0;
}

int ChaosSoak::Run() {
  started_ms_ = Now();
  std::cout << "aplus-soak: seed " << options_.seed << " (rerun with --seed " << options_.seed
            << "), " << options_.rounds << " rounds, data in " << network_.dir().path().string()
            << std::endl;
  if (options_.broker_rate_limit >= 0) {
    broker_flags_.insert(broker_flags_.end(),
                         {"--rate-limit", std::to_string(options_.broker_rate_limit)});
  }
  if (options_.broker_rate_burst >= 0) {
    broker_flags_.insert(broker_flags_.end(),
                         {"--rate-burst", std::to_string(options_.broker_rate_burst)});
  }
  if (options_.short_sla) {
    std::string config = WriteShortSlaConfig(network_.dir().Sub("network.toml"));
    if (config.empty()) {
      std::cout << "soak: deploy/perche.toml does not have the expected shape" << std::endl;
      return 2;
    }
    broker_flags_.insert(broker_flags_.end(), {"--config", config});
    gateway_flags_ = {"--config", config};
  }
  // Outside the try: an exception must reach the handler below (which leaves with _Exit)
  // without destroying running threads on the way (std::terminate).
  std::vector<std::thread> threads;
  std::thread partner;
  std::thread alerts;
  try {
    if (!StartAll()) return 2;
    for (int t = 0; t < options_.submitters; ++t) threads.emplace_back([this, t] { SubmitLoop(t); });
    partner = std::thread([this] { PartnerLoop(); });
    alerts = std::thread([this] { AlertLoop(); });
    for (int round = 1; round <= options_.rounds; ++round) RunRound(round);
    // Let the last restart be seen working, then stop submitting (a submission being retried
    // is still retried to its end).
    SleepMs(1000);
    stop_submitting_ = true;
    for (auto& thread : threads) thread.join();
    int result = 2;
    try {
      result = Check();
    } catch (...) {
      stop_partner_ = true;
      stop_alerts_ = true;
      partner.join();
      alerts.join();
      throw;
    }
    stop_partner_ = true;
    stop_alerts_ = true;
    partner.join();
    alerts.join();
    return result;
  } catch (const std::exception& error) {
    std::cout << "soak: " << error.what() << std::endl;
    // Client threads may still be running: stop the programs and leave without joining them.
    for (Program program : {Program::kBroker, Program::kAgent, Program::kPartner}) Process(program).Kill();
    std::_Exit(2);
  }
}

}  // namespace

int RunChaosSoak(const SoakOptions& options) {
  ChaosSoak soak(options);
  return soak.Run();
}

}  // namespace aplus::soak
