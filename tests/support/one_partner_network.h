// Test support: the smallest network a broker serves (one territory, one contact point with one
// agent, one partner, one operator), for component tests that need a broker but no SLA variety.
#pragma once

#include <string_view>

namespace aplus::testing {

inline constexpr std::string_view kOnePartnerNetworkToml = R"(
name = "one-partner"

[[territories]]
id = "perche"
case_prefix = "PER"

[[contact_points]]
id = "mairie-perche-en-noce"
kind = "mairie"
territory = "perche"
departement = "61"
agents = [ { id = "agent-noce-1", name = "Agent 1" } ]

[[partners]]
id = "france-travail"
reply_policy = "4 jours-ouvres"

[[operators]]
id = "operator"
)";

}  // namespace aplus::testing
