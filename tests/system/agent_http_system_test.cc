// The agent gateway's HTTP API (docs/openapi.yaml) with real processes and a real HTTP client
// (curl as a child process): submit, idempotent resubmission, the broker down and back, paging
// under inserts, filters, tokens, and the event feed's long poll.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/token_store.h"
#include "tests/support/curl_client.h"
#include "tests/support/network.h"

using namespace aplus;
using namespace aplus::testing;
using nlohmann::json;

namespace {

// The shared curl client (tests/support/curl_client.h): every answer is checked against
// docs/openapi.yaml.
HttpReply Curl(TempDir& dir, const std::string& method, const std::string& url,
               const std::string& token, const std::string& body = "",
               std::vector<std::string> headers = {}, int max_seconds = 20) {
  size_t path = url.find('/', url.find("//") + 2);
  return CurlRequest(dir.path().string(), method, url.substr(0, path), url.substr(path), token,
                     body, std::move(headers), max_seconds);
}

json SubmitBody(const std::string& subject, const std::string& partner = "france-travail",
                const std::string& agent = "agent-noce-1") {
  return {{"agent", agent},
          {"partner", partner},
          {"category", "unemployment-benefits"},
          {"subject", subject},
          {"body", "Allocation suspendue depuis octobre."},
          {"citizen", "Jeanne Martin"},
          {"consent", true}};
}

// A network whose agent gateway serves HTTP, with one token of every agent.
struct HttpNetwork {
  explicit HttpNetwork(const std::string& label) : network(label) {
    url = network.EnableAgentHttp();
    auto added = AddToken(network.AgentTokenDir(), "front-desk", {}, 0);
    REQUIRE(added.ok());
    token = *added;
  }
  HttpReply Get(const std::string& path, int max_seconds = 20) {
    return Curl(network.dir(), "GET", url + path, token, "", {}, max_seconds);
  }
  HttpReply Post(const std::string& path, const json& body, const std::string& key = "") {
    std::vector<std::string> headers;
    if (!key.empty()) headers.push_back("Idempotency-Key: " + key);
    return Curl(network.dir(), "POST", url + path, token, body.dump(), headers);
  }
  TestNetwork network;
  std::string url;
  std::string token;
};

template <typename Predicate>
bool WaitFor(Predicate predicate, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

}  // namespace

TEST_CASE("POST /v1/cases: 201 with Location, idempotent resubmission, 422 on another body" *
          doctest::timeout(90)) {
  HttpNetwork net("agent-http-submit");
  REQUIRE(net.network.StartBroker());
  REQUIRE(net.network.StartAgentGateway());

  HttpReply first = net.Post("/v1/cases", SubmitBody("Allocation suspendue"), "key-1");
  INFO(first.body);
  REQUIRE(first.status == 201);
  json view = first.Json();
  std::string case_id = view["caseId"];
  CHECK(view["state"] == "SUBMITTED");
  CHECK(!view["deadline"].is_null());
  CHECK(first.headers["location"] == "/v1/cases/" + case_id);

  HttpReply again = net.Post("/v1/cases", SubmitBody("Allocation suspendue"), "key-1");
  INFO(again.body);
  CHECK(again.status == 201);
  CHECK(again.Json()["caseId"] == case_id);

  HttpReply other = net.Post("/v1/cases", SubmitBody("Autre chose"), "key-1");
  CHECK(other.status == 422);
  CHECK(other.Json()["code"] == "IDEMPOTENCY_KEY_REUSED");

  HttpReply fetched = net.Get(first.headers["location"]);
  CHECK(fetched.status == 200);
  CHECK(fetched.Json()["caseId"] == case_id);
  CHECK(fetched.Json()["subject"] == "Allocation suspendue");

  // Any accepted spelling of the id.
  std::string lower = case_id;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  CHECK(net.Get("/v1/cases/" + lower).Json()["caseId"] == case_id);

  HttpReply unknown = net.Get("/v1/cases/PER-0000-0000");
  CHECK(unknown.status == 404);
  CHECK(unknown.Json()["code"] == "UNKNOWN_CASE");

  HttpReply audit = net.Get("/v1/cases/" + case_id + "/audit");
  CHECK(audit.status == 200);
  CHECK(audit.Json()["caseId"] == case_id);
  CHECK(audit.Json()["entries"].size() >= 1);

  HttpReply deadline = net.Get("/v1/deadline?partner=france-travail&category=unemployment-benefits"
                               "&at=2026-12-01T09:00:00Z");
  INFO(deadline.body);
  CHECK(deadline.status == 200);
  CHECK(deadline.Json()["explanation"].size() >= 1);

  HttpReply cancel = net.Post("/v1/cases/" + case_id + "/cancel", {{"reason", "erreur"}}, "c-1");
  INFO(cancel.body);
  CHECK(cancel.status == 200);
  CHECK(cancel.Json()["state"] == "CANCELLED");
}

TEST_CASE("tokens: 401 without one, restricted tokens see and submit only for their agents" *
          doctest::timeout(90)) {
  HttpNetwork net("agent-http-tokens");
  REQUIRE(net.network.StartBroker());
  REQUIRE(net.network.StartAgentGateway());

  HttpReply none = Curl(net.network.dir(), "GET", net.url + "/v1/cases", "");
  CHECK(none.status == 401);
  CHECK(none.Json()["code"] == "NOT_AUTHENTICATED");
  CHECK(none.headers.count("www-authenticate") == 1);
  CHECK(Curl(net.network.dir(), "GET", net.url + "/v1/cases", "aplus_" + std::string(64, '0'))
            .status == 401);
  CHECK(Curl(net.network.dir(), "GET", net.url + "/v1/openapi.yaml", "").status == 200);

  HttpReply mine = net.Post("/v1/cases", SubmitBody("du guichet", "france-travail", "agent-noce-1"));
  REQUIRE(mine.status == 201);
  std::string case_id = mine.Json()["caseId"];

  auto restricted = AddToken(net.network.AgentTokenDir(), "other-desk", {"agent-noce-2"}, 0);
  REQUIRE(restricted.ok());
  // Tokens reload live (at most a second).
  REQUIRE(WaitFor(
      [&] {
        return Curl(net.network.dir(), "GET", net.url + "/v1/cases", *restricted).status == 200;
      },
      10000));
  HttpReply denied = Curl(net.network.dir(), "POST", net.url + "/v1/cases", *restricted,
                          SubmitBody("pas le mien", "france-travail", "agent-noce-1").dump());
  CHECK(denied.status == 403);
  CHECK(denied.Json()["code"] == "PERMISSION_DENIED");
  HttpReply hidden = Curl(net.network.dir(), "GET", net.url + "/v1/cases/" + case_id, *restricted);
  CHECK(hidden.status == 404);
  CHECK(hidden.Json()["code"] == "UNKNOWN_CASE");
  HttpReply list = Curl(net.network.dir(), "GET", net.url + "/v1/cases", *restricted);
  CHECK(list.status == 200);
  CHECK(list.Json()["items"].empty());
  HttpReply close = Curl(net.network.dir(), "POST", net.url + "/v1/cases/" + case_id + "/close",
                         *restricted);
  CHECK(close.status == 404);
}

TEST_CASE("broker down: 202 QUEUED_LOCALLY, the retried POST keeps its localRef, then the case" *
          doctest::timeout(120)) {
  HttpNetwork net("agent-http-queued");
  REQUIRE(net.network.StartAgentGateway("mairie-perche-en-noce", {"--forward-timeout-ms", "300"}));

  HttpReply held = net.Post("/v1/cases", SubmitBody("pendant la panne"), "held-1");
  INFO(held.body);
  REQUIRE(held.status == 202);
  std::string local_ref = held.Json()["localRef"];
  CHECK(held.Json()["state"] == "QUEUED_LOCALLY");
  CHECK(held.headers["location"] == "/v1/cases/" + local_ref);

  // One the broker will refuse for good: set aside as FAILED_LOCALLY, reported in the feed.
  HttpReply doomed = net.Post("/v1/cases", SubmitBody("partenaire inconnu", "nobody"), "held-2");
  REQUIRE(doomed.status == 202);
  std::string doomed_ref = doomed.Json()["localRef"];

  HttpReply retried = net.Post("/v1/cases", SubmitBody("pendant la panne"), "held-1");
  CHECK(retried.status == 202);
  CHECK(retried.Json()["localRef"] == local_ref);
  HttpReply listed = net.Get("/v1/cases");
  CHECK(listed.status == 200);
  CHECK(listed.Json()["items"].size() == 2);
  CHECK(listed.Json()["items"][0]["localRef"] == local_ref);

  REQUIRE(net.network.StartBroker());
  std::string case_id;
  REQUIRE(WaitFor(
      [&] {
        HttpReply view = net.Get("/v1/cases/" + local_ref);
        if (view.status != 200 || !view.Json().contains("caseId")) return false;
        case_id = view.Json()["caseId"];
        return true;
      },
      30000));
  HttpReply after = net.Post("/v1/cases", SubmitBody("pendant la panne"), "held-1");
  INFO(after.body);
  CHECK(after.status == 201);
  CHECK(after.Json()["caseId"] == case_id);
  CHECK(after.headers["location"] == "/v1/cases/" + case_id);

  // The feed tells the client how its held submissions ended.
  bool submitted = false;
  bool refused = false;
  std::string cursor = "0";
  REQUIRE(WaitFor(
      [&] {
        HttpReply events = net.Get("/v1/events?wait=5&after=" + cursor);
        if (events.status != 200) return false;
        for (const auto& event : events.Json()["events"]) {
          if (event["type"] == "case.submitted" && event["localRef"] == local_ref &&
              event["caseId"] == case_id) {
            submitted = true;
          }
          if (event["type"] == "case.refused" && event["localRef"] == doomed_ref &&
              event["problem"]["code"] == "UNKNOWN_PARTNER") {
            refused = true;
          }
        }
        cursor = events.Json()["nextCursor"];
        return submitted && refused;
      },
      30000));
  HttpReply failed = net.Get("/v1/cases?state=FAILED_LOCALLY");
  CHECK(failed.Json()["items"].size() == 1);
  CHECK(failed.Json()["items"][0]["localRef"] == doomed_ref);
}

TEST_CASE("GET /v1/cases pages are stable under inserts; state and partner filters" *
          doctest::timeout(120)) {
  HttpNetwork net("agent-http-pages");
  REQUIRE(net.network.StartBroker());
  REQUIRE(net.network.StartAgentGateway());
  std::set<std::string> before;
  for (int i = 0; i < 5; ++i) {
    HttpReply reply = net.Post("/v1/cases", SubmitBody("cas " + std::to_string(i)));
    REQUIRE(reply.status == 201);
    before.insert(reply.Json()["caseId"].get<std::string>());
  }
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (; pages < 20; ++pages) {
    HttpReply page = net.Get("/v1/cases?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor));
    INFO(page.body);
    REQUIRE(page.status == 200);
    CHECK(page.Json()["items"].size() <= 2);
    for (const auto& item : page.Json()["items"]) seen.push_back(item["caseId"]);
    // A case inserted while the client pages.
    if (pages == 0) REQUIRE(net.Post("/v1/cases", SubmitBody("inséré")).status == 201);
    if (page.Json()["nextCursor"].is_null()) break;
    cursor = page.Json()["nextCursor"];
  }
  CHECK(pages >= 2);
  std::set<std::string> unique(seen.begin(), seen.end());
  CHECK(unique.size() == seen.size());  // no case twice
  for (const auto& id : before) CHECK(unique.count(id) == 1);  // none skipped

  HttpReply none = net.Get("/v1/cases?partner=caf");
  CHECK(none.status == 200);
  CHECK(none.Json()["items"].empty());
  HttpReply all = net.Get("/v1/cases?partner=france-travail&state=SUBMITTED&limit=100");
  CHECK(all.Json()["items"].size() + net.Get("/v1/cases?state=DELIVERED").Json()["items"].size() ==
        6);
  CHECK(net.Get("/v1/cases?state=SLEEPING").status == 400);
  CHECK(net.Get("/v1/cases?limit=0").status == 400);
  CHECK(net.Get("/v1/cases?cursor=zzz").status == 400);
}

TEST_CASE("GET /v1/events long poll returns the partner's reply before wait runs out" *
          doctest::timeout(120)) {
  HttpNetwork net("agent-http-events");
  REQUIRE(net.network.StartBroker());
  REQUIRE(net.network.StartAgentGateway());
  REQUIRE(net.network.StartPartnerGateway());

  HttpReply submitted = net.Post("/v1/cases", SubmitBody("attend une réponse"));
  REQUIRE(submitted.status == 201);
  std::string case_id = submitted.Json()["caseId"];
  HttpReply empty = net.Get("/v1/events");
  REQUIRE(empty.status == 200);
  CHECK(empty.Json()["events"].empty());

  // Wait until the partner gateway holds the case, then reply while a long poll waits.
  REQUIRE(WaitFor(
      [&] {
        auto [code, output] = net.network.Aplus("--json partner inbox");
        return code == 0 && output.find(case_id) != std::string::npos;
      },
      20000));
  std::string after = empty.Json()["nextCursor"];
  auto start = std::chrono::steady_clock::now();
  auto poll = std::async(std::launch::async, [&] {
    json events = json::array();
    std::string cursor = after;
    // Acknowledgement first, then the answer: follow the cursor until the reply came.
    while (std::chrono::steady_clock::now() - start < std::chrono::seconds(50)) {
      HttpReply page = Curl(net.network.dir(), "GET", net.url + "/v1/events?wait=30&after=" + cursor,
                            net.token, "", {}, 40);
      if (page.status != 200) return events;
      for (const auto& event : page.Json()["events"]) {
        events.push_back(event);
        if (event["type"] == "case.answered") return events;
      }
      cursor = page.Json()["nextCursor"];
    }
    return events;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(net.network.Aplus("partner ack " + case_id).first == 0);
  CHECK(net.network.Aplus("partner reply " + case_id + " --text 'Dossier régularisé'").first == 0);
  json events = poll.get();
  INFO(events.dump());
  REQUIRE(!events.empty());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
  const json& answered = events.back();
  CHECK(answered["type"] == "case.answered");
  CHECK(answered["caseId"] == case_id);
  CHECK(answered["text"] == "Dossier régularisé");
  CHECK(!answered.contains("agent"));
}
