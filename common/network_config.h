// The network an A+ deployment serves: territories, contact points and their agents, partners
// and their queues, operators, endpoints and broker settings. Loaded once at start-up from a
// TOML file (deploy/perche.toml is the built-in default, compiled in), then immutable and
// shared by const reference.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/retention_period.h"
#include "common/status.h"
#include "sla/deadline_calculator.h"
#include "sla/reply_policy.h"

namespace aplus {

struct Territory {
  std::string id;           // "perche"
  std::string name;         // "Perche"
  std::string case_prefix;  // "PER": the prefix of case ids submitted in this territory
  std::string time_zone = "Europe/Paris";
};

struct Agent {
  std::string id;    // "mairie-perche-en-noce/agent-1"... any stable id, unique in its contact point
  std::string name;
};

struct ContactPoint {
  std::string id;           // "mairie-perche-en-noce"
  std::string name;         // "Mairie de Perche-en-Nocé"
  std::string kind;         // "mairie", "msap-postale", "msap-communale", "msa-agency", ...
  std::string territory;    // territory id
  std::string departement;  // "61"
  std::vector<Agent> agents;
};

struct Partner {
  std::string id;            // "france-travail"
  std::string name;          // "France Travail"
  bool per_territory = false;  // one queue per territory instead of one national queue
  // How long the partner has to reply (default 4 jours ouvrés), optionally per category.
  sla::ReplyPolicy reply_policy;
  std::map<std::string, sla::ReplyPolicy, std::less<>> category_policies;
  sla::PartnerCalendar calendar;  // closure days, Whit Monday worked

  const sla::ReplyPolicy& PolicyFor(std::string_view category) const {
    auto it = category_policies.find(category);
    return it == category_policies.end() ? reply_policy : it->second;
  }
};

// Network-wide SLA settings.
struct SlaSettings {
  sla::WarningLead warning_lead;        // default: one counted day or 25% of the window left
  bool transfer_keeps_deadline = false; // false: the new partner gets a fresh window
};

// Retention of personal data ([retention]). Once a case is closed or cancelled, its personal
// data (citizen, subject, body, texts) is erased after `personal_data_after`; the skeleton
// stays for reports. The files are then compacted, at most once per `compaction_interval`.
// The gateways apply both to their own copies (a partner gateway counts from its accepted
// reply: it is not told when the case ends).
struct RetentionSettings {
  RetentionPeriod personal_data_after{12, RetentionPeriod::Unit::kMonths};
  RetentionPeriod compaction_interval{1, RetentionPeriod::Unit::kHours};  // never in months
};

// A person who watches the network ([[operators]]): with an operator's key (op.<id>) or an
// administrator's (admin.<id>), or through the operator console (aplus-console), which acts on
// behalf of the person and is granted exactly the person's role: ADMINISTRATOR (personal data,
// each read audited) when `administrator` is true, else OPERATOR (metadata only).
struct Operator {
  std::string id;
  std::string name;
  bool administrator = false;  // `administrator = true`; default false
};

struct Endpoints {
  std::string broker = "tcp://127.0.0.1:7400";          // broker ROUTER for every client
  std::string agent_gateway = "tcp://127.0.0.1:7410";   // agent gateway local endpoint
  std::string partner_gateway = "tcp://127.0.0.1:7420"; // partner gateway local endpoint
  std::string alerts = "tcp://127.0.0.1:7401";          // broker PUB socket for SLA alerts
};

struct BrokerSettings {
  std::string data_dir = "./aplus-data/broker";  // as documented in docs/PROGRAMS.md
  uint64_t max_frame_bytes = 1 << 20;
  int64_t ack_lease_ms = 30000;       // a delivery not acked within this is redelivered
  uint32_t max_delivery_attempts = 10;  // then the item is parked in the dead-letter queue
  uint32_t max_batch_messages = 1024;   // group commit: at most this many messages per fsync
};

// A pair of brokers ([availability], docs/AVAILABILITY.md). Read only by a broker started
// with --etcd; a single broker ignores it.
struct AvailabilitySettings {
  enum class Mode {
    kStrict,    // without a standby copy nothing is acknowledged (the default)
    kDegraded,  // the leader clears the synchronous-standby key, then goes on alone
  };
  Mode mode = Mode::kStrict;
  int64_t lease_ttl_s = 5;              // the leader's etcd lease
  int64_t lease_margin_ms = 1500;       // leadership ends this long before the lease may expire
  int64_t standby_ack_timeout_ms = 1000;  // longest wait for the standby's copy of a batch
};

struct NetworkConfig {
  std::string name;
  std::vector<Territory> territories;
  std::vector<ContactPoint> contact_points;
  std::vector<Partner> partners;
  std::vector<Operator> operators;
  Endpoints endpoints;
  BrokerSettings broker;
  SlaSettings sla;
  RetentionSettings retention;
  AvailabilitySettings availability;

  // Lookups return nullptr when the id is unknown.
  const Territory* FindTerritory(std::string_view id) const;
  const ContactPoint* FindContactPoint(std::string_view id) const;
  const Partner* FindPartner(std::string_view id) const;
  const Operator* FindOperator(std::string_view id) const;
  const Agent* FindAgent(const ContactPoint& contact_point, std::string_view agent_id) const;
};

// Queue naming, one place for every program:
//   partner queue  "partner/<partner>"              (national partner)
//                  "partner/<partner>/<territory>"  (per-territory partner)
//   mailbox        "mailbox/<contact point>"
std::string PartnerQueueName(const Partner& partner, std::string_view territory);
std::string MailboxQueueName(std::string_view contact_point);
// The partner and territory a partner queue's name says; nullopt for any other queue.
struct PartnerQueueParts {
  std::string partner;
  std::string territory;  // "" for a national partner
};
std::optional<PartnerQueueParts> ParsePartnerQueueName(std::string_view queue);
// Every queue that a gateway of `partner` may take; `territory` narrows a per-territory
// partner to one territory ("" = all of them; an unknown territory gives an empty list). A
// national partner always has exactly its one queue, whatever `territory` says.
std::vector<std::string> PartnerQueuesFor(const NetworkConfig& config, const Partner& partner,
                                          std::string_view territory);

// Parses TOML text (format: deploy/perche.toml and deploy/README.md). Errors are
// INVALID_ARGUMENT "<source>:<line>:<column>: <what>", naming the offending entry and key:
// syntax errors, missing or duplicate ids, ids with characters other than [A-Za-z0-9._-],
// a contact point in an unknown territory, a case_prefix that is not 2-5 letters A-Z or is
// shared by two territories, values of the wrong type or out of range. Unknown keys are
// logged (spdlog warn) and ignored. Missing optional keys take the defaults above; a missing
// name takes the id.
Result<NetworkConfig> ParseNetworkConfig(std::string_view toml_text, std::string_view source_name);
// Reads and parses a file; an unreadable file is INVALID_ARGUMENT "cannot read config PATH: why".
Result<NetworkConfig> LoadNetworkConfig(const std::string& path);
// The built-in default network (the Perche territory), identical to deploy/perche.toml.
std::string_view DefaultNetworkToml();
// Parsed once and cached; never fails (the built-in text is checked by the tests).
NetworkConfig DefaultNetworkConfig();

}  // namespace aplus
