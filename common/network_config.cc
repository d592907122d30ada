#include "common/network_config.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include "common/endpoint_list.h"
#include "common/text.h"

namespace aplus {
namespace {

// Config loading is start-up code, so the reader may throw; ParseNetworkConfig turns every
// failure into an INVALID_ARGUMENT Status before it leaves this file.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads one TOML document into a NetworkConfig, naming the source, line and column of every
// problem it finds ("perche.toml:12:1: contact point 'x': unknown territory 'y'").
class ConfigReader {
 public:
  explicit ConfigReader(std::string_view source) : source_(source) {}

  NetworkConfig Read(const toml::table& root) {
    NetworkConfig config;
    WarnUnknownKeys(root, "the top level",
                    {"name", "endpoints", "broker", "sla", "territories", "contact_points",
                     "partners", "operators", "retention", "availability"});
    config.name = String(root, "name", "the top level", /*required=*/false, "aplus");
    if (const toml::table* endpoints = OptionalTable(root, "endpoints")) {
      ReadEndpoints(*endpoints, config.endpoints);
    }
    if (const toml::table* broker = OptionalTable(root, "broker")) {
      ReadBroker(*broker, config.broker);
    }
    if (const toml::table* sla = OptionalTable(root, "sla")) ReadSla(*sla, config.sla);
    if (const toml::table* retention = OptionalTable(root, "retention")) {
      ReadRetention(*retention, config.retention);
    }
    if (const toml::table* availability = OptionalTable(root, "availability")) {
      ReadAvailability(*availability, config.availability);
    }
    ReadTerritories(root, config);
    ReadContactPoints(root, config);
    ReadPartners(root, config);
    ReadOperators(root, config);
    return config;
  }

 private:
  // "source:line:column" of `node`, or just the source when the node has no position.
  std::string Where(const toml::node* node) const {
    std::string where(source_);
    if (node != nullptr && node->source().begin.line > 0) {
      where += ":" + std::to_string(node->source().begin.line) + ":" +
               std::to_string(node->source().begin.column);
    }
    return where;
  }

  [[noreturn]] void Fail(const toml::node* at, const std::string& what) const {
    throw ConfigError(Where(at) + ": " + what);
  }

  // Unknown keys are most likely typos ("credentail"); they are logged, not fatal, so that a
  // newer config still loads in an older program.
  void WarnUnknownKeys(const toml::table& table, std::string_view context,
                       std::initializer_list<std::string_view> known) const {
    for (const auto& [key, node] : table) {
      bool found = false;
      for (std::string_view k : known) found = found || key.str() == k;
      if (!found) {
        spdlog::warn("{}: {}: unknown key '{}' ignored", Where(&node), context, key.str());
      }
    }
  }

  const toml::table* OptionalTable(const toml::table& parent, std::string_view key) const {
    const toml::node* node = parent.get(key);
    if (node == nullptr) return nullptr;
    const toml::table* table = node->as_table();
    if (table == nullptr) Fail(node, "'" + std::string(key) + "' must be a table");
    return table;
  }

  // The tables of an array of tables ([[key]] or key = [ {...}, ... ]); empty when absent.
  std::vector<const toml::table*> TableArray(const toml::table& parent, std::string_view key,
                                             std::string_view context) const {
    std::vector<const toml::table*> tables;
    const toml::node* node = parent.get(key);
    if (node == nullptr) return tables;
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      Fail(node, std::string(context) + ": '" + std::string(key) +
                     "' must be an array of tables ([[" + std::string(key) + "]])");
    }
    for (const toml::node& element : *array) {
      const toml::table* table = element.as_table();
      if (table == nullptr) {
        Fail(&element, std::string(context) + ": every entry of '" + std::string(key) +
                           "' must be a table");
      }
      tables.push_back(table);
    }
    return tables;
  }

  std::string String(const toml::table& table, std::string_view key, std::string_view context,
                     bool required, std::string fallback = "") const {
    const toml::node* node = table.get(key);
    if (node == nullptr) {
      if (required) {
        Fail(&table, std::string(context) + ": missing required key '" + std::string(key) + "'");
      }
      return fallback;
    }
    const auto* value = node->as_string();
    if (value == nullptr) {
      Fail(node, std::string(context) + ": '" + std::string(key) + "' must be a string");
    }
    if (required && value->get().empty()) {
      Fail(node, std::string(context) + ": '" + std::string(key) + "' must not be empty");
    }
    return value->get();
  }

  int64_t Integer(const toml::table& table, std::string_view key, std::string_view context,
                  int64_t fallback, int64_t min, int64_t max) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    const auto* value = node->as_integer();
    if (value == nullptr) {
      Fail(node, std::string(context) + ": '" + std::string(key) + "' must be an integer");
    }
    int64_t v = value->get();
    if (v < min || v > max) {
      Fail(node, std::string(context) + ": '" + std::string(key) + "' = " + std::to_string(v) +
                     " is out of range [" + std::to_string(min) + ", " + std::to_string(max) +
                     "]");
    }
    return v;
  }

  bool Boolean(const toml::table& table, std::string_view key, std::string_view context,
               bool fallback) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    const auto* value = node->as_boolean();
    if (value == nullptr) {
      Fail(node, std::string(context) + ": '" + std::string(key) + "' must be true or false");
    }
    return value->get();
  }

  // Ids end up in queue names ("partner/<id>/<territory>") and on command lines, so they are
  // restricted to characters that need no quoting and cannot be confused with the separator.
  static bool IsValidId(std::string_view id, bool allow_slash) {
    if (id.empty()) return false;
    for (char c : id) {
      if (!IsIdChar(c) && !(allow_slash && c == '/')) return false;
    }
    return true;
  }

  // Reads the required `id` of an entry and checks its characters and uniqueness among
  // `seen` (id -> line of its first definition).
  std::string Id(const toml::table& table, std::string_view kind, std::string_view context,
                 std::unordered_map<std::string, uint32_t>& seen, bool allow_slash = false) const {
    std::string id = String(table, "id", context, /*required=*/true);
    const toml::node* node = table.get("id");
    if (!IsValidId(id, allow_slash)) {
      Fail(node, std::string(context) + ": " + std::string(kind) + " id '" + id +
                     "' may only contain letters, digits, '-', '_' and '.'" +
                     (allow_slash ? " and '/'" : ""));
    }
    auto [it, inserted] = seen.emplace(id, node->source().begin.line);
    if (!inserted) {
      Fail(node, "duplicate " + std::string(kind) + " id '" + id + "' (first defined at line " +
                     std::to_string(it->second) + ")");
    }
    return id;
  }

  static std::string Entry(std::string_view array, size_t index, std::string_view id = {}) {
    std::string entry = std::string(array) + "[" + std::to_string(index) + "]";
    if (!id.empty()) entry += " '" + std::string(id) + "'";
    return entry;
  }

  void ReadEndpoints(const toml::table& table, Endpoints& endpoints) const {
    WarnUnknownKeys(table, "[endpoints]", {"broker", "agent_gateway", "partner_gateway", "alerts"});
    endpoints.alerts = String(table, "alerts", "[endpoints]", false, endpoints.alerts);
    endpoints.broker = String(table, "broker", "[endpoints]", false, endpoints.broker);
    endpoints.agent_gateway =
        String(table, "agent_gateway", "[endpoints]", false, endpoints.agent_gateway);
    endpoints.partner_gateway =
        String(table, "partner_gateway", "[endpoints]", false, endpoints.partner_gateway);
    for (const auto* endpoint : {&endpoints.broker, &endpoints.agent_gateway,
                                 &endpoints.partner_gateway}) {
      if (endpoint->empty()) Fail(&table, "[endpoints]: endpoints must not be empty");
    }
    // A pair of brokers: `broker` and `alerts` may list both nodes' (common/endpoint_list.h).
    for (const auto* list : {&endpoints.broker, &endpoints.alerts}) {
      if (list->empty()) continue;
      auto parsed = ParseEndpointList(*list);
      if (!parsed.ok()) Fail(&table, "[endpoints]: " + parsed.status().message());
    }
  }

  // "<N> <unit>" as ParseReplyPolicy reads it; the error names the key and its line.
  sla::ReplyPolicy Policy(const toml::node* node, const std::string& context) const {
    const auto* text = node ? node->as_string() : nullptr;
    if (text == nullptr) Fail(node, context + ": a reply policy is a string such as \"4 jours-ouvres\"");
    auto policy = sla::ParseReplyPolicy(text->get());
    if (!policy.ok()) Fail(node, context + ": " + policy.status().message());
    return *policy;
  }

  void ReadSla(const toml::table& table, SlaSettings& sla) const {
    WarnUnknownKeys(table, "[sla]", {"warning_lead", "transfer_keeps_deadline"});
    sla.transfer_keeps_deadline =
        Boolean(table, "transfer_keeps_deadline", "[sla]", sla.transfer_keeps_deadline);
    const toml::node* lead = table.get("warning_lead");
    if (lead == nullptr) return;
    std::string text = lead->as_string() ? lead->as_string()->get() : "";
    if (text == "default") return;
    // "1 jours-ouvres" = counted days before the deadline; "6 heures" = a duration.
    auto policy = sla::ParseReplyPolicy(text);
    if (!policy.ok()) {
      Fail(lead, "[sla]: warning_lead is \"default\", \"<N> jours-ouvres\" or a duration such as \"6 heures\": " +
                     policy.status().message());
    }
    sla.warning_lead = sla::CountsDays(policy->unit)
                           ? sla::WarningLead::CountedDays(policy->window)
                           : sla::WarningLead::Duration(policy->window * sla::UnitDurationMs(policy->unit));
  }

  RetentionPeriod Period(const toml::table& table, std::string_view key,
                         RetentionPeriod fallback) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    const auto* text = node->as_string();
    if (text == nullptr) {
      Fail(node, "[retention]: '" + std::string(key) + "' is a string such as \"12 months\"");
    }
    auto period = ParseRetentionPeriod(text->get());
    if (!period.ok()) Fail(node, "[retention]: " + std::string(key) + ": " + period.status().message());
    return *period;
  }

  void ReadRetention(const toml::table& table, RetentionSettings& retention) const {
    WarnUnknownKeys(table, "[retention]", {"personal_data_after", "compaction_interval"});
    retention.personal_data_after =
        Period(table, "personal_data_after", retention.personal_data_after);
    retention.compaction_interval =
        Period(table, "compaction_interval", retention.compaction_interval);
    if (!FixedDurationMs(retention.compaction_interval)) {
      Fail(table.get("compaction_interval"),
           "[retention]: compaction_interval is days, hours, minutes or seconds, not months");
    }
  }

  void ReadAvailability(const toml::table& table, AvailabilitySettings& availability) const {
    constexpr std::string_view kContext = "[availability]";
    WarnUnknownKeys(table, kContext,
                    {"mode", "lease_ttl_s", "lease_margin_ms", "standby_ack_timeout_ms"});
    std::string mode = String(table, "mode", kContext, false, "strict");
    if (mode == "strict") {
      availability.mode = AvailabilitySettings::Mode::kStrict;
    } else if (mode == "degraded") {
      availability.mode = AvailabilitySettings::Mode::kDegraded;
    } else {
      Fail(table.get("mode"), "[availability]: mode is \"strict\" or \"degraded\", not \"" +
                                  mode + "\"");
    }
    availability.lease_ttl_s =
        Integer(table, "lease_ttl_s", kContext, availability.lease_ttl_s, 2, 60);
    availability.lease_margin_ms = Integer(table, "lease_margin_ms", kContext,
                                           availability.lease_margin_ms, 100, 30000);
    // The same bound as leadership's (broker/leadership.h): the keep-alive goes every third
    // of the lease, so a margin of two thirds or more would leave no time to renew.
    if (availability.lease_margin_ms * 3 >= availability.lease_ttl_s * 1000 * 2) {
      Fail(table.get("lease_margin_ms"),
           "[availability]: lease_margin_ms must be under two thirds of the lease (lease_ttl_s)");
    }
    availability.standby_ack_timeout_ms = Integer(
        table, "standby_ack_timeout_ms", kContext, availability.standby_ack_timeout_ms, 10, 60000);
  }

  void ReadBroker(const toml::table& table, BrokerSettings& broker) const {
    constexpr std::string_view kContext = "[broker]";
    constexpr int64_t kMaxU32 = std::numeric_limits<uint32_t>::max();
    WarnUnknownKeys(table, kContext,
                    {"data_dir", "max_frame_bytes", "ack_lease_ms", "max_delivery_attempts",
                     "max_batch_messages"});
    broker.data_dir = String(table, "data_dir", kContext, false, broker.data_dir);
    if (broker.data_dir.empty()) Fail(table.get("data_dir"), "[broker]: 'data_dir' is empty");
    broker.max_frame_bytes = static_cast<uint64_t>(
        Integer(table, "max_frame_bytes", kContext, static_cast<int64_t>(broker.max_frame_bytes),
                1024, int64_t{1} << 30));
    broker.ack_lease_ms = Integer(table, "ack_lease_ms", kContext, broker.ack_lease_ms, 1,
                                  int64_t{7} * 24 * 3600 * 1000);
    broker.max_delivery_attempts = static_cast<uint32_t>(Integer(
        table, "max_delivery_attempts", kContext, broker.max_delivery_attempts, 1, kMaxU32));
    broker.max_batch_messages = static_cast<uint32_t>(Integer(
        table, "max_batch_messages", kContext, broker.max_batch_messages, 1, kMaxU32));
  }

  static bool IsValidPrefix(std::string_view prefix) {
    if (prefix.size() < 2 || prefix.size() > 5) return false;
    for (char c : prefix) {
      if (c < 'A' || c > 'Z') return false;
    }
    return true;
  }

  void ReadTerritories(const toml::table& root, NetworkConfig& config) const {
    auto tables = TableArray(root, "territories", "the top level");
    if (tables.empty()) {
      Fail(root.get("territories"), "at least one [[territories]] entry is required");
    }
    std::unordered_map<std::string, uint32_t> ids;
    std::unordered_map<std::string, std::string> prefixes;  // prefix -> territory id
    for (size_t i = 0; i < tables.size(); ++i) {
      const toml::table& table = *tables[i];
      Territory territory;
      territory.id = Id(table, "territory", Entry("territories", i), ids);
      std::string context = "territory '" + territory.id + "'";
      WarnUnknownKeys(table, context, {"id", "name", "case_prefix", "time_zone"});
      territory.name = String(table, "name", context, false, territory.id);
      territory.case_prefix = String(table, "case_prefix", context, /*required=*/true);
      if (!IsValidPrefix(territory.case_prefix)) {
        Fail(table.get("case_prefix"), context + ": case_prefix '" + territory.case_prefix +
                                           "' must be 2 to 5 upper-case letters A-Z");
      }
      // Two territories sharing a prefix would make a case id ambiguous about its territory.
      auto [it, inserted] = prefixes.emplace(territory.case_prefix, territory.id);
      if (!inserted) {
        Fail(table.get("case_prefix"), context + ": case_prefix '" + territory.case_prefix +
                                           "' is already used by territory '" + it->second +
                                           "'");
      }
      territory.time_zone = String(table, "time_zone", context, false, territory.time_zone);
      config.territories.push_back(std::move(territory));
    }
  }

  void ReadContactPoints(const toml::table& root, NetworkConfig& config) const {
    auto tables = TableArray(root, "contact_points", "the top level");
    std::unordered_map<std::string, uint32_t> ids;
    for (size_t i = 0; i < tables.size(); ++i) {
      const toml::table& table = *tables[i];
      ContactPoint point;
      point.id = Id(table, "contact point", Entry("contact_points", i), ids);
      std::string context = "contact point '" + point.id + "'";
      WarnUnknownKeys(table, context,
                      {"id", "name", "kind", "territory", "departement", "agents"});
      point.name = String(table, "name", context, false, point.id);
      point.kind = String(table, "kind", context, false);
      point.territory = String(table, "territory", context, /*required=*/true);
      if (config.FindTerritory(point.territory) == nullptr) {
        Fail(table.get("territory"),
             context + ": unknown territory '" + point.territory + "' (not in [[territories]])");
      }
      point.departement = String(table, "departement", context, false);
      auto agent_tables = TableArray(table, "agents", context);
      std::unordered_map<std::string, uint32_t> agent_ids;
      for (size_t j = 0; j < agent_tables.size(); ++j) {
        const toml::table& agent_table = *agent_tables[j];
        std::string agent_context = context + ": " + Entry("agents", j);
        Agent agent;
        agent.id = Id(agent_table, "agent", agent_context, agent_ids, /*allow_slash=*/true);
        WarnUnknownKeys(agent_table, context + ": agent '" + agent.id + "'", {"id", "name"});
        agent.name = String(agent_table, "name", agent_context, false, agent.id);
        point.agents.push_back(std::move(agent));
      }
      config.contact_points.push_back(std::move(point));
    }
  }

  void ReadPartners(const toml::table& root, NetworkConfig& config) const {
    auto tables = TableArray(root, "partners", "the top level");
    std::unordered_map<std::string, uint32_t> ids;
    for (size_t i = 0; i < tables.size(); ++i) {
      const toml::table& table = *tables[i];
      Partner partner;
      partner.id = Id(table, "partner", Entry("partners", i), ids);
      std::string context = "partner '" + partner.id + "'";
      WarnUnknownKeys(table, context,
                      {"id", "name", "per_territory", "reply_policy", "category_policies",
                       "closures", "whit_monday_worked"});
      partner.name = String(table, "name", context, false, partner.id);
      partner.per_territory = Boolean(table, "per_territory", context, partner.per_territory);
      if (const toml::node* policy = table.get("reply_policy")) {
        partner.reply_policy = Policy(policy, context + " reply_policy");
      }
      if (const toml::table* categories = OptionalTable(table, "category_policies")) {
        for (const auto& [category, node] : *categories) {
          partner.category_policies[std::string(category.str())] =
              Policy(&node, context + " category '" + std::string(category.str()) + "'");
        }
      }
      if (const toml::node* closures = table.get("closures")) {
        const toml::array* dates = closures->as_array();
        if (dates == nullptr) Fail(closures, context + ": closures is a list of \"YYYY-MM-DD\" dates");
        for (const toml::node& date_node : *dates) {
          const auto* text = date_node.as_string();
          auto date = text ? sla::ParseDate(text->get()) : Result<sla::Date>(Status(wire::INVALID_ARGUMENT, "not a string"));
          if (!date.ok()) Fail(&date_node, context + ": closure date: " + date.status().message());
          partner.calendar.closures.push_back(*date);
        }
      }
      partner.calendar.whit_monday_worked =
          Boolean(table, "whit_monday_worked", context, partner.calendar.whit_monday_worked);
      config.partners.push_back(std::move(partner));
    }
  }

  void ReadOperators(const toml::table& root, NetworkConfig& config) const {
    auto tables = TableArray(root, "operators", "the top level");
    std::unordered_map<std::string, uint32_t> ids;
    for (size_t i = 0; i < tables.size(); ++i) {
      const toml::table& table = *tables[i];
      Operator op;
      op.id = Id(table, "operator", Entry("operators", i), ids);
      std::string context = "operator '" + op.id + "'";
      WarnUnknownKeys(table, context, {"id", "name", "administrator"});
      op.name = String(table, "name", context, false, op.id);
      op.administrator = Boolean(table, "administrator", context, op.administrator);
      config.operators.push_back(std::move(op));
    }
  }

  std::string source_;
};

template <typename T>
const T* FindById(const std::vector<T>& items, std::string_view id) {
  for (const T& item : items) {
    if (item.id == id) return &item;
  }
  return nullptr;
}

}  // namespace

const Territory* NetworkConfig::FindTerritory(std::string_view id) const {
  return FindById(territories, id);
}

const ContactPoint* NetworkConfig::FindContactPoint(std::string_view id) const {
  return FindById(contact_points, id);
}

const Partner* NetworkConfig::FindPartner(std::string_view id) const {
  return FindById(partners, id);
}

const Operator* NetworkConfig::FindOperator(std::string_view id) const {
  return FindById(operators, id);
}

const Agent* NetworkConfig::FindAgent(const ContactPoint& contact_point,
                                      std::string_view agent_id) const {
  return FindById(contact_point.agents, agent_id);
}

std::optional<PartnerQueueParts> ParsePartnerQueueName(std::string_view queue) {
  static constexpr std::string_view kPrefix = "partner/";
  if (queue.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view rest = queue.substr(kPrefix.size());
  size_t slash = rest.find('/');
  PartnerQueueParts parts;
  parts.partner = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) parts.territory = std::string(rest.substr(slash + 1));
  return parts;
}

std::string PartnerQueueName(const Partner& partner, std::string_view territory) {
  std::string name = "partner/" + partner.id;
  if (partner.per_territory) {
    name += '/';
    name += territory;
  }
  return name;
}

std::string MailboxQueueName(std::string_view contact_point) {
  return "mailbox/" + std::string(contact_point);
}

std::vector<std::string> PartnerQueuesFor(const NetworkConfig& config, const Partner& partner,
                                          std::string_view territory) {
  if (!partner.per_territory) return {PartnerQueueName(partner, {})};
  std::vector<std::string> queues;
  for (const Territory& t : config.territories) {
    if (territory.empty() || t.id == territory) queues.push_back(PartnerQueueName(partner, t.id));
  }
  return queues;
}

Result<NetworkConfig> ParseNetworkConfig(std::string_view toml_text,
                                         std::string_view source_name) {
  std::string source(source_name.empty() ? std::string_view("config") : source_name);
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& error) {
    return Status(wire::INVALID_ARGUMENT,
                  source + ":" + std::to_string(error.source().begin.line) + ":" +
                      std::to_string(error.source().begin.column) +
                      ": TOML syntax error: " + std::string(error.description()));
  }
  try {
    return ConfigReader(source).Read(root);
  } catch (const ConfigError& error) {
    return Status(wire::INVALID_ARGUMENT, error.what());
  }
}

Result<NetworkConfig> LoadNetworkConfig(const std::string& path) {
  // stdio rather than iostreams: it reports why a read failed (errno), including EISDIR.
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return Status(wire::INVALID_ARGUMENT,
                  "cannot read config " + path + ": " + std::strerror(errno));
  }
  std::string text;
  char buffer[16384];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  bool failed = std::ferror(file) != 0;
  int read_errno = errno;
  std::fclose(file);
  if (failed) {
    return Status(wire::INVALID_ARGUMENT,
                  "cannot read config " + path + ": " + std::strerror(read_errno));
  }
  return ParseNetworkConfig(text, path);
}

NetworkConfig DefaultNetworkConfig() {
  // Parsed once; the built-in text is covered by tests, so a failure here is a build defect.
  static const NetworkConfig kDefault = [] {
    auto parsed = ParseNetworkConfig(DefaultNetworkToml(), "<built-in perche.toml>");
    if (!parsed.ok()) {
      std::fprintf(stderr, "aplus: the built-in network config is invalid: %s\n",
                   parsed.status().ToString().c_str());
      std::abort();
    }
    return std::move(parsed).value();
  }();
  return kDefault;
}

}  // namespace aplus
