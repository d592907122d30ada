// The broker's requests as one table: for each Envelope body the broker serves, its handler,
// the roles allowed, whether its answer waits for the commit, whether it counts against the
// rate limit, how its case id and idempotency key are read, and the stable scope its dedup
// key is stored under. Dispatch (broker.cc) reads the row and applies every rule before the
// handler runs; handlers keep only their domain checks (e.g. "this case belongs to this contact
// point", in LoadCaseFor). A body with no row is UNKNOWN_MESSAGE.
//
// Adding a request = adding one row to RequestRules() in request_table.cc (and its handler in
// Broker). tests/broker/request_table_test.cc walks the proto's Envelope.body cases: every
// request the broker serves has a row, answers and pushes have none, so a request that forgets
// a rule cannot exist.
//
// Thread rules: the table is immutable, built on first use; any thread may read it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "aplus.pb.h"

namespace aplus {

class Broker;
struct KeyringEntry;
struct Session;

// A set of roles, one bit per wire::Role that can hold a session.
class RoleSet {
 public:
  constexpr RoleSet() = default;
  constexpr RoleSet(std::initializer_list<wire::Role> roles) {
    for (wire::Role role : roles) bits_ |= Bit(role);
  }
  constexpr bool Allows(wire::Role role) const { return (bits_ & Bit(role)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }

 private:
  static constexpr uint32_t Bit(wire::Role role) {
    return role > 0 && role < 32 ? uint32_t{1} << role : 0;
  }
  uint32_t bits_ = 0;
};

inline constexpr RoleSet kAgentGatewayOnly{wire::AGENT_GATEWAY};
inline constexpr RoleSet kPartnerGatewayOnly{wire::PARTNER_GATEWAY};
inline constexpr RoleSet kGateways{wire::AGENT_GATEWAY, wire::PARTNER_GATEWAY};
// Operators and administrators share the coordination rights (alerts, reports, stats).
inline constexpr RoleSet kOperators{wire::OPERATOR, wire::ADMINISTRATOR};
inline constexpr RoleSet kEveryRole{wire::AGENT_GATEWAY, wire::PARTNER_GATEWAY, wire::OPERATOR,
                                    wire::ADMINISTRATOR};

struct RequestRule {
  // A request of a session: queues at most one answer (through Broker::Answer).
  using SessionHandler = void (Broker::*)(Session& session, const wire::Envelope& request);
  // A request served without a session (Hello opens one, Ping keeps a link alive): `key` is
  // the connection's keyring entry (nullptr under --insecure), `fd` its descriptor.
  using ConnectionHandler = void (Broker::*)(const std::string& routing_id,
                                             const wire::Envelope& request,
                                             const KeyringEntry* key, int fd);
  using FieldReader = const std::string& (*)(const wire::Envelope& request);

  wire::Envelope::BodyCase body = wire::Envelope::BODY_NOT_SET;
  // Exactly one of the two handlers is set.
  SessionHandler on_session = nullptr;
  ConnectionHandler on_connection = nullptr;
  // Roles whose sessions may send it (session requests); others get PERMISSION_DENIED with
  // `denied` as the message.
  RoleSet roles;
  const char* denied = "";
  // The answer leaves only after the batch's commit: the request writes (or audits a read),
  // or may repeat an answer whose first copy is still in this batch.
  bool after_commit = false;
  // Counts against the principal's rate limit. Exempt: acks (they only release credit the
  // broker granted; throttling them would stall deliveries) and pings.
  bool rate_limited = true;
  // The case the request is about, if any (the raw id as sent).
  FieldReader case_id = nullptr;
  // The client's idempotency key, if the request has one, and the stable scope (keys::kScope*
  // in store/key_layout.h) its dedup entry is stored under.
  FieldReader idempotency_key = nullptr;
  std::string_view scope;
};

// Every row, in body-case order.
std::span<const RequestRule> RequestRules();

// The row of `body`, or nullptr: the broker does not serve it.
const RequestRule* FindRequestRule(wire::Envelope::BodyCase body);

// The dedup key (without the principal) under which `request`'s first outcome is stored:
// its row's scope, its normalized case id and its idempotency key. nullopt when the request
// kind has no idempotency key or the client gave none.
std::optional<std::string> IdempotencyScopeOf(const wire::Envelope& request);

}  // namespace aplus
