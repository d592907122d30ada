// `aplus deadline`: the reply deadline of a hypothetical submission, with its explanation,
// computed on this machine from the network config (no broker, no case created), so that an
// agent can tell a citizen when to expect an answer even offline.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "aplus.pb.h"
#include "common/network_config.h"
#include "common/status.h"
#include "tools/aplus/global_options.h"

namespace aplus::cli {

struct DeadlineArgs {
  std::string at = "now";  // see ParseSubmissionTime
  std::string partner;
  std::string contact_point;
  std::string category;  // "" = the partner's default policy
};

// What `--at` accepts, read on the wall clock of `zone` (an IANA name civil_time.h knows):
//   "now"                                  -> now_ms
//   "YYYY-MM-DD"                           -> local midnight starting that day
//   "YYYY-MM-DDTHH:MM[:SS]" (or a space instead of 'T')
// INVALID_ARGUMENT with the reason otherwise.
Result<int64_t> ParseSubmissionTime(std::string_view text, std::string_view zone, int64_t now_ms);

// The explanation as the broker would give it (broker/sla_clock.cc): the partner's policy for
// the category, the contact point's département calendar and local zone, the partner's
// closures; the warning under the config's lead, never after the deadline. UNKNOWN_PARTNER,
// UNKNOWN_CONTACT_POINT, or INVALID_ARGUMENT (bad time, calendar out of range).
Result<wire::DeadlineExplanation> ExplainDeadlineLocally(const NetworkConfig& config,
                                                         const DeadlineArgs& args, int64_t now_ms);

// The explanation lines, then policy, deadline and warning in Europe/Paris time.
std::string RenderDeadlineExplanation(const wire::DeadlineExplanation& explanation);

// Prints the explanation (human text or one DeadlineExplanation JSON object); exit code.
int RunDeadline(const GlobalOptions& options, const DeadlineArgs& args);

}  // namespace aplus::cli
