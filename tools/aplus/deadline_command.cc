#include "tools/aplus/deadline_command.h"

#include <algorithm>
#include <charconv>

#include "common/clock.h"
#include "sla/civil_time.h"
#include "sla/deadline_calculator.h"
#include "tools/aplus/output.h"

namespace aplus::cli {
namespace {

// Reads exactly `digits` decimal digits at `text[at]`.
bool ReadNumber(std::string_view text, size_t at, size_t digits, int32_t& value) {
  if (at + digits > text.size()) return false;
  for (size_t i = at; i < at + digits; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  auto result = std::from_chars(text.data() + at, text.data() + at + digits, value);
  return result.ec == std::errc();
}

Status BadTime(std::string_view text) {
  return Status(wire::INVALID_ARGUMENT, "cannot read the time '" + std::string(text.substr(0, 64)) +
                                            "' (expected now, YYYY-MM-DD or YYYY-MM-DDTHH:MM)");
}

}  // namespace

Result<int64_t> ParseSubmissionTime(std::string_view text, std::string_view zone, int64_t now_ms) {
  if (text == "now") return now_ms;
  auto time_zone = sla::TimeZone::FromName(zone);
  if (!time_zone.ok()) return time_zone.status();
  if (text.size() < 10) return BadTime(text);
  auto date = sla::ParseDate(text.substr(0, 10));
  if (!date.ok()) return BadTime(text);
  int32_t hour = 0;
  int32_t minute = 0;
  int32_t second = 0;
  if (text.size() > 10) {
    // "T16:30" or " 16:30", optionally ":SS".
    bool separator = text[10] == 'T' || text[10] == 't' || text[10] == ' ';
    bool minutes = text.size() == 16 || (text.size() == 19 && text[16] == ':');
    if (!separator || !minutes || text[13] != ':' || !ReadNumber(text, 11, 2, hour) ||
        !ReadNumber(text, 14, 2, minute) ||
        (text.size() == 19 && !ReadNumber(text, 17, 2, second))) {
      return BadTime(text);
    }
    if (hour > 23 || minute > 59 || second > 59) return BadTime(text);
  }
  int64_t ms_of_day =
      hour * sla::kMsPerHour + minute * sla::kMsPerMinute + second * sla::kMsPerSecond;
  return time_zone->LocalToUtcMs(*date, ms_of_day);
}

Result<wire::DeadlineExplanation> ExplainDeadlineLocally(const NetworkConfig& config,
                                                         const DeadlineArgs& args, int64_t now_ms) {
  const Partner* partner = config.FindPartner(args.partner);
  if (!partner) {
    return Status(wire::UNKNOWN_PARTNER,
                  "no partner '" + args.partner + "' in network " + config.name);
  }
  const ContactPoint* contact_point = config.FindContactPoint(args.contact_point);
  if (!contact_point) {
    return Status(wire::UNKNOWN_CONTACT_POINT,
                  "no contact point '" + args.contact_point + "' in network " + config.name);
  }
  // A date typed by an agent in Cayenne means a day in Cayenne: the contact point's zone.
  auto at_ms =
      ParseSubmissionTime(args.at, sla::ZoneForDepartement(contact_point->departement), now_ms);
  if (!at_ms.ok()) return at_ms.status();
  auto explanation = sla::ComputeDeadline(partner->PolicyFor(args.category), *at_ms,
                                          contact_point->departement, partner->calendar);
  if (!explanation.ok()) return explanation.status();
  // As broker/sla_clock.cc: the configured lead, falling back to the default one.
  auto warning = sla::WarningAt(*explanation, config.sla.warning_lead);
  int64_t warning_ms = warning.ok() ? *warning : explanation->warning_at_ms;

  wire::DeadlineExplanation out;
  out.set_deadline_ms(explanation->deadline_ms);
  out.set_warning_at_ms(std::min(warning_ms, explanation->deadline_ms));
  out.set_reply_policy(sla::FormatReplyPolicy(explanation->policy));
  for (const auto& line : explanation->lines) out.add_lines(line);
  return out;
}

std::string RenderDeadlineExplanation(const wire::DeadlineExplanation& explanation) {
  std::string out;
  for (const auto& line : explanation.lines()) out += OneLine(line) + "\n";
  std::string zone = std::string(" (") + kDisplayTimeZone + ")";
  out += "\nReply policy:  " + OneLine(explanation.reply_policy()) + "\n";
  out += "Deadline:      " + FormatMinute(explanation.deadline_ms()) + zone + "\n";
  out += "Warning at:    " + FormatMinute(explanation.warning_at_ms()) + zone + "\n";
  return out;
}

int RunDeadline(const GlobalOptions& options, const DeadlineArgs& args) {
  auto config = LoadConfig(options);
  if (!config.ok()) {
    ReportFailure(options, config.status());
    return kExitUsage;
  }
  auto explanation = ExplainDeadlineLocally(*config, args, SystemClock().NowMs());
  if (!explanation.ok()) return ReportFailure(options, explanation.status());
  return PrintAnswer(options, *explanation, RenderDeadlineExplanation(*explanation));
}

}  // namespace aplus::cli
