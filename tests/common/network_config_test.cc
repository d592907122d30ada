#include "common/network_config.h"

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

namespace aplus {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// A small valid network; tests append or alter entries to make it invalid.
constexpr std::string_view kSmallNetwork = R"(name = "small"
[[territories]]
id = "north"
case_prefix = "NOR"
[[territories]]
id = "south"
name = "South"
case_prefix = "SUD"
[[contact_points]]
id = "cp-1"
territory = "north"
agents = [ { id = "a1", name = "Anne" } ]
[[partners]]
id = "national"
[[partners]]
id = "regional"
per_territory = true
reply_policy = "7 jours-calendaires"
)";

Status ParseError(std::string_view text) {
  auto parsed = ParseNetworkConfig(text, "test.toml");
  REQUIRE_FALSE(parsed.ok());
  return parsed.status();
}

TEST_CASE("the default network is the Perche territory") {
  NetworkConfig config = DefaultNetworkConfig();
  CHECK(config.name == "perche");
  REQUIRE(config.territories.size() == 1);
  CHECK(config.territories[0].id == "perche");
  CHECK(config.territories[0].case_prefix == "PER");
  CHECK(config.territories[0].time_zone == "Europe/Paris");

  CHECK(config.contact_points.size() == 8);
  size_t agents = 0;
  std::set<std::string> agent_ids;
  for (const ContactPoint& point : config.contact_points) {
    CHECK(point.territory == "perche");
    CHECK(point.departement == "61");
    CHECK_FALSE(point.agents.empty());
    agents += point.agents.size();
    for (const Agent& agent : point.agents) agent_ids.insert(agent.id);
  }
  CHECK(agents == 19);
  CHECK(agent_ids.size() == 19);  // unique network-wide, so an agent id alone is unambiguous

  CHECK(config.partners.size() == 16);
  int per_territory = 0;
  for (const Partner& partner : config.partners) {
    CHECK(partner.reply_policy == sla::DefaultReplyPolicy());
    per_territory += partner.per_territory ? 1 : 0;
  }
  CHECK(per_territory == 1);

  REQUIRE(config.operators.size() == 2);
  CHECK(config.operators[0].id == "operator");
  CHECK_FALSE(config.operators[0].administrator);  // the default
  CHECK(config.operators[1].id == "administration");
  CHECK(config.operators[1].administrator);

  // The ids the README tells users to type.
  CHECK(config.contact_points.front().id == "mairie-perche-en-noce");
  CHECK(config.contact_points.front().agents.front().id == "agent-noce-1");
  CHECK(config.partners.front().id == "france-travail");

  CHECK(config.endpoints.broker == "tcp://127.0.0.1:7400");
  CHECK(config.endpoints.agent_gateway == "tcp://127.0.0.1:7410");
  CHECK(config.endpoints.partner_gateway == "tcp://127.0.0.1:7420");
  CHECK(config.broker.data_dir == "./aplus-data/broker");
  CHECK(config.broker.max_frame_bytes == 1048576);
  CHECK(config.broker.ack_lease_ms == 30000);
  CHECK(config.broker.max_delivery_attempts == 10);
  CHECK(config.broker.max_batch_messages == 1024);
}

TEST_CASE("lookups in the default network") {
  NetworkConfig config = DefaultNetworkConfig();
  const ContactPoint* noce = config.FindContactPoint("mairie-perche-en-noce");
  REQUIRE(noce != nullptr);
  CHECK(noce->name == "Mairie de Perche-en-Nocé");
  CHECK(noce->kind == "mairie");
  const Agent* agent = config.FindAgent(*noce, "agent-noce-1");
  REQUIRE(agent != nullptr);
  CHECK(agent->id == "agent-noce-1");
  CHECK(config.FindAgent(*noce, "agent-msa-1") == nullptr);  // an agent of another point
  CHECK(config.FindAgent(*noce, "") == nullptr);

  for (const char* id : {"mairie-berdhuis", "mairie-bretoncelles", "mairie-remalard",
                         "msap-postale-remalard", "msap-mortagne", "msap-val-au-perche",
                         "msa-mortagne"}) {
    CHECK_MESSAGE(config.FindContactPoint(id) != nullptr, id);
  }
  for (const char* id : {"france-travail", "msa", "caf", "cpam", "carsat", "dgfip",
                         "france-titres", "la-poste", "prefecture-orne"}) {
    CHECK_MESSAGE(config.FindPartner(id) != nullptr, id);
  }
  const Partner* france_travail = config.FindPartner("france-travail");
  REQUIRE(france_travail != nullptr);
  CHECK(france_travail->name == "France Travail");
  CHECK_FALSE(france_travail->per_territory);
  REQUIRE(config.FindPartner("caf") != nullptr);
  CHECK(config.FindPartner("caf")->per_territory);
  REQUIRE(config.FindTerritory("perche") != nullptr);
  CHECK(config.FindTerritory("perche")->name == "Perche");
  REQUIRE(config.FindOperator("operator") != nullptr);

  CHECK(config.FindContactPoint("nowhere") == nullptr);
  CHECK(config.FindPartner("France-Travail") == nullptr);  // ids are case-sensitive
  CHECK(config.FindTerritory("") == nullptr);
  CHECK(config.FindOperator("root") == nullptr);

  // Every agent is found in its own contact point.
  for (const ContactPoint& point : config.contact_points) {
    for (const Agent& a : point.agents) CHECK(config.FindAgent(point, a.id) == &a);
  }
}

TEST_CASE("the built-in text is deploy/perche.toml, byte for byte") {
  std::string file = ReadFile(std::string(APLUS_SOURCE_DIR) + "/deploy/perche.toml");
  CHECK(DefaultNetworkToml().size() == file.size());
  CHECK(DefaultNetworkToml() == file);
}

TEST_CASE("the deploy file loads like the built-in network") {
  auto loaded = LoadNetworkConfig(std::string(APLUS_SOURCE_DIR) + "/deploy/perche.toml");
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
  CHECK(loaded->contact_points.size() == 8);
  CHECK(loaded->partners.size() == 16);
}

TEST_CASE("a missing file is INVALID_ARGUMENT naming the file") {
  auto loaded = LoadNetworkConfig("/nonexistent/aplus/network.toml");
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.status().code() == wire::INVALID_ARGUMENT);
  CHECK(Contains(loaded.status().message(), "cannot read config /nonexistent/aplus/network.toml: "));

  auto directory = LoadNetworkConfig(APLUS_SOURCE_DIR);
  REQUIRE_FALSE(directory.ok());
  CHECK(Contains(directory.status().message(), "cannot read config"));
}

TEST_CASE("a small network parses with defaults filled in") {
  auto parsed = ParseNetworkConfig(kSmallNetwork, "small.toml");
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
  const NetworkConfig& config = *parsed;
  CHECK(config.name == "small");
  CHECK(config.territories.size() == 2);
  CHECK(config.FindTerritory("north")->name == "north");  // name defaults to the id
  CHECK(config.FindTerritory("north")->time_zone == "Europe/Paris");
  CHECK(config.FindPartner("national")->reply_policy.window == 4);
  CHECK(config.FindPartner("regional")->reply_policy.window == 7);
  CHECK(config.endpoints.broker == Endpoints{}.broker);
  CHECK(config.broker.max_frame_bytes == BrokerSettings{}.max_frame_bytes);
  CHECK(config.operators.empty());
  const ContactPoint* cp = config.FindContactPoint("cp-1");
  REQUIRE(cp != nullptr);
  REQUIRE(config.FindAgent(*cp, "a1") != nullptr);
  CHECK(config.FindAgent(*cp, "a1")->name == "Anne");
}

TEST_CASE("agents may also be written as [[contact_points.agents]]") {
  auto parsed = ParseNetworkConfig(R"(
[[territories]]
id = "t"
case_prefix = "TT"
[[contact_points]]
id = "cp"
territory = "t"
[[contact_points.agents]]
id = "x"
[[contact_points.agents]]
id = "y"
)", "agents.toml");
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
  REQUIRE(parsed->contact_points.size() == 1);
  CHECK(parsed->contact_points[0].agents.size() == 2);
}

TEST_CASE("queue names for national and per-territory partners") {
  auto parsed = ParseNetworkConfig(kSmallNetwork, "small.toml");
  REQUIRE(parsed.ok());
  const NetworkConfig& config = *parsed;
  const Partner& national = *config.FindPartner("national");
  const Partner& regional = *config.FindPartner("regional");

  CHECK(PartnerQueueName(national, "north") == "partner/national");
  CHECK(PartnerQueueName(national, "") == "partner/national");
  CHECK(PartnerQueueName(regional, "north") == "partner/regional/north");
  CHECK(MailboxQueueName("cp-1") == "mailbox/cp-1");
  // ...and read back, in one place for the broker, its metrics and the console.
  auto parts = ParsePartnerQueueName(PartnerQueueName(regional, "north"));
  REQUIRE(parts);
  CHECK(parts->partner == "regional");
  CHECK(parts->territory == "north");
  CHECK(ParsePartnerQueueName("partner/national")->territory == "");
  CHECK_FALSE(ParsePartnerQueueName("mailbox/cp-1"));

  CHECK(PartnerQueuesFor(config, national, "") == std::vector<std::string>{"partner/national"});
  CHECK(PartnerQueuesFor(config, national, "south") ==
        std::vector<std::string>{"partner/national"});
  CHECK(PartnerQueuesFor(config, regional, "") ==
        std::vector<std::string>{"partner/regional/north", "partner/regional/south"});
  CHECK(PartnerQueuesFor(config, regional, "south") ==
        std::vector<std::string>{"partner/regional/south"});
  CHECK(PartnerQueuesFor(config, regional, "atlantis").empty());

  NetworkConfig perche = DefaultNetworkConfig();
  CHECK(PartnerQueuesFor(perche, *perche.FindPartner("caf"), "") ==
        std::vector<std::string>{"partner/caf/perche"});
  CHECK(PartnerQueuesFor(perche, *perche.FindPartner("france-travail"), "") ==
        std::vector<std::string>{"partner/france-travail"});
}

TEST_CASE("a duplicate id is rejected, naming the id and both lines") {
  std::string text(kSmallNetwork);
  text += "[[partners]]\nid = \"national\"\n";
  Status status = ParseError(text);
  CHECK(status.code() == wire::INVALID_ARGUMENT);
  CHECK_MESSAGE(Contains(status.message(), "duplicate partner id 'national'"), status.message());
  CHECK_MESSAGE(Contains(status.message(), "test.toml:20:"), status.message());
  CHECK_MESSAGE(Contains(status.message(), "first defined at line 14"), status.message());

  std::string agents(kSmallNetwork);
  agents.replace(agents.find("agents = ["), std::string("agents = [").size(),
                 "agents = [ { id = \"a1\" },");
  status = ParseError(agents);
  CHECK_MESSAGE(Contains(status.message(), "duplicate agent id 'a1'"), status.message());
}

TEST_CASE("a contact point in an unknown territory is rejected") {
  std::string text(kSmallNetwork);
  text += "[[contact_points]]\nid = \"cp-2\"\nterritory = \"atlantis\"\n";
  Status status = ParseError(text);
  CHECK(status.code() == wire::INVALID_ARGUMENT);
  CHECK_MESSAGE(Contains(status.message(), "contact point 'cp-2'"), status.message());
  CHECK_MESSAGE(Contains(status.message(), "unknown territory 'atlantis'"), status.message());
  CHECK_MESSAGE(Contains(status.message(), "test.toml:21:"), status.message());
}

TEST_CASE("a syntax error gives the line and column") {
  std::string text(kSmallNetwork);
  text += "[[partners]\nid = \"broken\"\n";  // line 19: unterminated array-of-tables header
  Status status = ParseError(text);
  CHECK(status.code() == wire::INVALID_ARGUMENT);
  CHECK_MESSAGE(Contains(status.message(), "test.toml:19:"), status.message());
  CHECK_MESSAGE(Contains(status.message(), "syntax error"), status.message());

  status = ParseError("name = \"x\"\nname = \"y\"\n");  // a redefined key is a syntax error too
  CHECK_MESSAGE(Contains(status.message(), "test.toml:2:"), status.message());
}

TEST_CASE("a bad case prefix is rejected") {
  for (const char* bad : {"P", "per", "PERCHE", "P3R", "", "PÉR"}) {
    std::string text(kSmallNetwork);
    text.replace(text.find("\"NOR\""), 5, "\"" + std::string(bad) + "\"");
    Status status = ParseError(text);
    CHECK(status.code() == wire::INVALID_ARGUMENT);
    CHECK_MESSAGE(Contains(status.message(), "territory 'north'"), status.message());
    CHECK_MESSAGE(Contains(status.message(), "case_prefix"), status.message());
  }
  for (const char* good : {"AB", "ABCDE"}) {
    std::string text(kSmallNetwork);
    text.replace(text.find("\"NOR\""), 5, "\"" + std::string(good) + "\"");
    CHECK(ParseNetworkConfig(text, "test.toml").ok());
  }
  std::string shared(kSmallNetwork);
  shared.replace(shared.find("\"SUD\""), 5, "\"NOR\"");
  Status status = ParseError(shared);
  CHECK_MESSAGE(Contains(status.message(), "already used by territory 'north'"), status.message());
}

TEST_CASE("missing ids and wrong types are rejected, naming the entry") {
  Status status = ParseError("[[territories]]\nname = \"no id\"\ncase_prefix = \"AB\"\n");
  CHECK(status.code() == wire::INVALID_ARGUMENT);
  CHECK_MESSAGE(Contains(status.message(), "territories[0]: missing required key 'id'"),
                status.message());

  std::string text(kSmallNetwork);
  text += "[[partners]]\nname = \"anonymous\"\n";
  status = ParseError(text);
  CHECK_MESSAGE(Contains(status.message(), "partners[2]: missing required key 'id'"),
                status.message());

  text = std::string(kSmallNetwork) + "[[operators]]\nid = \"\"\n";
  status = ParseError(text);
  CHECK_MESSAGE(Contains(status.message(), "operators[0]: 'id' must not be empty"),
                status.message());

  text = std::string(kSmallNetwork) + "[[partners]]\nid = \"a/b\"\n";
  status = ParseError(text);
  CHECK_MESSAGE(Contains(status.message(), "partner id 'a/b'"), status.message());

  text = std::string(kSmallNetwork) + "[[partners]]\nid = \"p\"\nper_territory = \"yes\"\n";
  status = ParseError(text);
  CHECK_MESSAGE(Contains(status.message(), "partner 'p': 'per_territory' must be true or false"),
                status.message());

  text = std::string(kSmallNetwork) + "[[partners]]\nid = \"p\"\nreply_policy = \"0 jours-ouvres\"\n";
  status = ParseError(text);
  CHECK_MESSAGE(Contains(status.message(), "partner 'p' reply_policy"), status.message());

  text = std::string(kSmallNetwork) + "[[partners]]\nid = \"p\"\nreply_policy = \"4 fortnights\"\n";
  status = ParseError(text);
  CHECK_MESSAGE(Contains(status.message(), "partner 'p' reply_policy"), status.message());

  text = std::string(kSmallNetwork) + "[[partners]]\nid = \"p\"\nclosures = [\"2026-02-30\"]\n";
  status = ParseError(text);
  CHECK_MESSAGE(Contains(status.message(), "closure date"), status.message());

  text = std::string(kSmallNetwork) + "[broker]\nack_lease_ms = \"30s\"\n";
  status = ParseError(text);
  CHECK_MESSAGE(Contains(status.message(), "[broker]: 'ack_lease_ms' must be an integer"),
                status.message());

  status = ParseError("territories = \"perche\"\n");
  CHECK_MESSAGE(Contains(status.message(), "'territories' must be an array of tables"),
                status.message());

  status = ParseError("name = \"empty\"\n");
  CHECK_MESSAGE(Contains(status.message(), "at least one [[territories]]"), status.message());
}

TEST_CASE("unknown keys are ignored") {
  std::string text(kSmallNetwork);
  text += "[[operators]]\nid = \"ops\"\ncolour = \"blue\"\n";
  auto parsed = ParseNetworkConfig(text, "test.toml");
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
  CHECK(parsed->FindOperator("ops") != nullptr);
}

}  // namespace
}  // namespace aplus

namespace aplus {
namespace {
TEST_CASE("reply policies per partner and category, closures and SLA settings") {
  std::string text = std::string(kSmallNetwork) +
                     "[sla]\nwarning_lead = \"6 heures\"\ntransfer_keeps_deadline = true\n"
                     "[[partners]]\nid = \"p\"\nreply_policy = \"2 jours-ouvrables\"\n"
                     "closures = [\"2026-12-24\"]\nwhit_monday_worked = true\n"
                     "[partners.category_policies]\nurgent = \"30 secondes\"\n";
  auto config = ParseNetworkConfig(text, "net.toml");
  REQUIRE_MESSAGE(config.ok(), config.status().ToString());
  const Partner* p = config->FindPartner("p");
  REQUIRE(p != nullptr);
  CHECK(p->reply_policy.window == 2);
  CHECK(p->reply_policy.unit == sla::ReplyUnit::kWorkingDaysWithSaturday);
  CHECK(p->PolicyFor("urgent").unit == sla::ReplyUnit::kSeconds);
  CHECK(p->PolicyFor("other").window == 2);
  REQUIRE(p->calendar.closures.size() == 1);
  CHECK(p->calendar.closures[0] == sla::Date{2026, 12, 24});
  CHECK(p->calendar.whit_monday_worked);
  CHECK(config->sla.transfer_keeps_deadline);
  CHECK(config->sla.warning_lead.kind == sla::WarningLead::Kind::kDuration);
  CHECK(config->sla.warning_lead.value == 6 * 3600 * 1000);
}
TEST_CASE("[endpoints] broker and alerts may list a pair of brokers; a malformed list is refused") {
  std::string pair = std::string(kSmallNetwork) +
                     "[endpoints]\nbroker = \"tcp://a:7400,tcp://b:7400\"\n"
                     "alerts = \"tcp://a:7401, tcp://b:7401\"\n";
  auto parsed = ParseNetworkConfig(pair, "pair.toml");
  REQUIRE(parsed.ok());
  CHECK(parsed->endpoints.broker == "tcp://a:7400,tcp://b:7400");
  Status error = ParseError(std::string(kSmallNetwork) +
                            "[endpoints]\nbroker = \"tcp://a:7400,,tcp://b:7400\"\n");
  CHECK(error.code() == wire::INVALID_ARGUMENT);
  CHECK(Contains(error.message(), "empty endpoint"));
}

}  // namespace
}  // namespace aplus
