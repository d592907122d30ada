// One client connection known to the broker, keyed by its ZeroMQ routing id. The principal is
// fixed by the Hello of that connection; every later request is authorised against it. A
// routing id alone proves nothing (a client may choose it, and reuse it once the connection
// that opened the session is gone): every message must carry the session's CURVE key
// (Broker::HandleFrame), and the session ends with its connection (ReadConnectionEvents).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "aplus.pb.h"

namespace aplus {

struct Session {
  std::string routing_id;
  wire::Role role = wire::ROLE_UNSPECIFIED;
  std::string principal;           // contact point, partner or operator id
  std::string territory;           // partner gateways of per-territory partners
  std::vector<std::string> queues; // queues this session may take deliveries from
  uint32_t window = 0;             // credit window; 0 = not subscribed
  uint32_t in_flight = 0;          // deliveries sent and not yet acknowledged
  int64_t last_seen_ms = 0;        // steady clock
  // Reads of every case (reports, boards) started for this session and not answered yet: a
  // client waiting on one sends nothing meanwhile, and is not silent for that.
  uint32_t reads_waiting = 0;
  // The connection under the session (CURVE): its key, and its file descriptor and peer
  // address, so that the connection can be cut when the key is removed from the keyring.
  std::string public_key;
  int fd = -1;
  std::string peer;
  // Partner gateways: their latest Ping's report of failing webhooks (0 = none), for GetStats.
  int64_t webhooks_failing_since_ms = 0;
  std::string webhook_url_host;
  // Set only in a console request's acting view (ActingFor): the console's id. Handlers read it
  // where a console's request differs from the person's own (AckAlert ignores `by`).
  std::string console;

  bool subscribed() const { return window > 0; }
  // (Who may send which request is the table's: broker/request_table.h, not the session's.)
  // Who may read a case's personal data beyond its parties: administrators only (directly,
  // or a console's view acting for an administrator). A console session itself reads nothing:
  // its requests reach handlers only as a view (ActingFor).
  bool reads_personal_data() const { return role != wire::OPERATOR && role != wire::CONSOLE; }
  bool has_credit() const { return in_flight < window; }
  // Fixes who this session is (once, at Hello).
  void Identify(wire::Role new_role, std::string new_principal, std::string new_territory) {
    role = new_role;
    principal = std::move(new_principal);
    territory = std::move(new_territory);
    dedup_principal_ = (role == wire::AGENT_GATEWAY     ? "cp/"
                        : role == wire::PARTNER_GATEWAY ? "partner/"
                        : role == wire::ADMINISTRATOR   ? "admin/"
                        : role == wire::CONSOLE         ? "console/"
                                                        : "op/") +
                       principal;
  }
  // The acting identity of a console's request (the one place a console's requests get their
  // rights: Broker::Dispatch). A copy of this console session seen as `person`, an id of
  // [[operators]], with `person_role` (ADMINISTRATOR when the person's entry says
  // administrator = true, else OPERATOR): handlers authorise, filter personal data
  // (reads_personal_data) and attribute actions (principal = the person) as for that person's
  // own key, and `console` says the request came through a console.
  //
  // Namespace choice: the view's DedupPrincipal, "console/<console> for op/<person>" (or
  // "... for admin/<person>"), is at once its audit principal, its idempotency namespace and its
  // rate-limit bucket: per person through this console. Two persons signed in to one console
  // never share idempotency keys nor a rate bucket, and a person's requests through the console
  // stay apart from those of the person's own key (and are audited as such).
  Session ActingFor(wire::Role person_role, const std::string& person) const {
    Session view = *this;
    view.console = principal;
    view.role = person_role;
    view.principal = person;
    view.dedup_principal_ = dedup_principal_ +
                            (person_role == wire::ADMINISTRATOR ? " for admin/" : " for op/") +
                            person;
    return view;
  }
  // The idempotency, audit and rate-limit namespace of this principal ("cp/<id>",
  // "partner/<id>", ...): built once, read on every request.
  const std::string& DedupPrincipal() const { return dedup_principal_; }

 private:
  std::string dedup_principal_;  // set by Identify
};

}  // namespace aplus
