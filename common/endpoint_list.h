// A list of endpoints of the same service, as clients of a pair of brokers are given it
// (docs/AVAILABILITY.md, "Clients follow the leader"): `--broker tcp://a:7400,tcp://b:7400`,
// `--alerts tcp://a:7401,tcp://b:7401`, or the config's `[endpoints] broker` with the same form.
// One endpoint (no comma) is a list of one, which behaves exactly as a single broker always did.
// This is the one parser of that form: every program and every link uses it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace aplus {

// Splits `text` at commas; blanks around each item are dropped. In the list's order (a link
// starts with the first). INVALID_ARGUMENT for an empty list, an empty item ("a,,b", "a,") or
// the same endpoint twice (a typo that would make a link try one broker twice as often).
Result<std::vector<std::string>> ParseEndpointList(std::string_view text);

// For constructors that cannot fail (the link and the client): the parsed list, or `text` as a
// list of one when it does not parse (ZeroMQ's connect then reports it, as before lists).
// Programs validate their flags with ParseEndpointList first.
std::vector<std::string> EndpointListOrSelf(std::string_view text);

// The list as it is written in flags and logs: "tcp://a:7400,tcp://b:7400".
std::string JoinEndpointList(const std::vector<std::string>& endpoints);

}  // namespace aplus
