#include "tools/aplus/report_command.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <future>
#include <vector>

#include "common/clock.h"
#include "common/progress_line.h"
#include "sla/civil_time.h"
#include "tools/aplus/output.h"

namespace aplus::cli {
namespace {

// At most one decimal, none when the value is whole: "2", "1.5", "66.7".
std::string Number(double value) {
  char text[32];
  double rounded = std::round(value * 10) / 10;
  if (rounded == std::floor(rounded)) {
    std::snprintf(text, sizeof(text), "%.0f", rounded);
  } else {
    std::snprintf(text, sizeof(text), "%.1f", rounded);
  }
  return text;
}

std::string Period(const ReportArgs& args) {
  std::string from = args.from.empty() ? "the beginning" : args.from;
  std::string to = args.to.empty() ? "now" : args.to + " (inclusive)";
  std::string scope;
  if (!args.partner.empty()) scope += ", partner " + args.partner;
  if (!args.territory.empty()) scope += ", territory " + args.territory;
  return "Cases submitted from " + from + " to " + to + scope + " (" + kDisplayTimeZone + ")\n";
}

}  // namespace

Result<int64_t> ParisMidnightMs(std::string_view date, int days_after) {
  auto parsed = sla::ParseDate(date);
  if (!parsed.ok()) {
    return Status(wire::INVALID_ARGUMENT,
                  "not a date (expected YYYY-MM-DD): " + std::string(date.substr(0, 64)));
  }
  return sla::TimeZone::Paris().LocalToUtcMs(sla::AddDays(*parsed, days_after), 0);
}

Result<wire::GetReport> MakeReportRequest(const ReportArgs& args) {
  wire::GetReport request;
  request.set_partner(args.partner);
  request.set_territory(args.territory);
  if (args.by == "contact-point") {
    request.set_group_by(wire::GetReport::CONTACT_POINT);
  } else if (args.by != "partner" && !args.by.empty()) {
    return Status(wire::INVALID_ARGUMENT,
                  "--by takes partner or contact-point, not " + args.by.substr(0, 64));
  }
  if (!args.from.empty()) {
    auto from = ParisMidnightMs(args.from);
    if (!from.ok()) return Status(wire::INVALID_ARGUMENT, "--from: " + from.status().message());
    request.set_from_ms(*from);
  }
  if (!args.to.empty()) {
    // Inclusive of the whole day: the broker's bound is exclusive.
    auto to = ParisMidnightMs(args.to, 1);
    if (!to.ok()) return Status(wire::INVALID_ARGUMENT, "--to: " + to.status().message());
    request.set_to_ms(*to);
  }
  if (request.to_ms() != 0 && request.to_ms() <= request.from_ms()) {
    return Status(wire::INVALID_ARGUMENT, "--to is before --from: the period is empty");
  }
  return request;
}

std::string RenderReport(const wire::Report& report) {
  if (report.partners().empty()) return "no partners\n";
  bool by_contact_point = !report.partners(0).contact_point().empty();
  std::vector<std::vector<std::string>> rows;
  for (const auto& partner : report.partners()) {
    bool any_answer = partner.answered() > 0;
    std::string unit = partner.reply_unit().empty() ? "" : " " + partner.reply_unit();
    rows.push_back(
        {by_contact_point ? partner.contact_point() : partner.partner(),
         std::to_string(partner.received()), std::to_string(partner.answered()),
         any_answer ? std::to_string(partner.answered_on_time()) + " (" +
                          Number(partner.on_time_percent()) + "%)"
                    : "-",
         any_answer ? Number(partner.median_reply()) + unit : "-",
         any_answer ? Number(partner.p90_reply()) + unit : "-", std::to_string(partner.open()),
         std::to_string(partner.at_risk()), std::to_string(partner.breached())});
  }
  std::string out = RenderTable({by_contact_point ? "CONTACT POINT" : "PARTNER", "RECEIVED",
                                 "ANSWERED", "ON TIME", "MEDIAN REPLY", "P90 REPLY", "OPEN",
                                 "AT RISK", "BREACHED"},
                                rows, {false, true, true, true, true, true, true, true, true});
  // The distribution: rows of one unit share their buckets (proto ReplyTimeBucket), so one
  // table per unit, in the order the units first appear.
  std::vector<std::string> units;
  for (const auto& row : report.partners()) {
    if (row.answered() == 0 || row.reply_times().empty()) continue;
    if (std::find(units.begin(), units.end(), row.reply_unit()) == units.end()) {
      units.push_back(row.reply_unit());
    }
  }
  for (const auto& unit : units) {
    std::vector<std::string> header = {by_contact_point ? "CONTACT POINT" : "PARTNER"};
    std::vector<std::vector<std::string>> counts;
    for (const auto& row : report.partners()) {
      if (row.answered() == 0 || row.reply_unit() != unit || row.reply_times().empty()) continue;
      if (header.size() == 1) {
        double last_bound = 0;
        for (const auto& bucket : row.reply_times()) {
          if (bucket.up_to() > 0) last_bound = bucket.up_to();
          header.push_back(bucket.up_to() > 0 ? "<=" + Number(bucket.up_to())
                                              : ">" + Number(last_bound));
        }
      }
      std::vector<std::string> cells = {by_contact_point ? row.contact_point() : row.partner()};
      for (const auto& bucket : row.reply_times()) cells.push_back(std::to_string(bucket.count()));
      cells.resize(header.size());
      counts.push_back(std::move(cells));
    }
    std::vector<bool> right(header.size(), true);
    right[0] = false;
    out += "\nReply times of the answered cases, in " + unit + ":\n" +
           RenderTable(header, counts, right);
  }
  return out;
}

int RunReport(const GlobalOptions& options, const ReportArgs& args) {
  auto report_request = MakeReportRequest(args);
  if (!report_request.ok()) {
    ReportFailure(options, report_request.status());
    return kExitUsage;
  }
  wire::Envelope request;
  *request.mutable_get_report() = *report_request;
  // A report over a long period can keep the broker busy for a while: on a terminal, the
  // wait is shown (after a second, redrawn with the seconds spent) and erased when the answer
  // comes; elsewhere nothing is added to the output. The exchange runs on its own thread with
  // its own ZeroMQ context; this thread only draws.
  auto pending = std::async(std::launch::async, [&options, request = std::move(request)]() mutable {
    return Exchange(options, options.broker, OperatorHello(options), std::move(request),
                    wire::Envelope::kReport);
  });
  {
    ProgressLine progress(stderr);
    int64_t started = SteadyNowMs();
    while (pending.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
      int64_t waited_ms = SteadyNowMs() - started;
      if (waited_ms >= 1000) {
        progress.Update("aplus report: waiting for the broker's report (" +
                        std::to_string(waited_ms / 1000) + " s of at most " +
                        std::to_string((options.timeout_ms + 999) / 1000) + " s)");
      }
    }
  }
  auto answer = pending.get();
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->report(), Period(args) + RenderReport(answer->report()));
}

Result<wire::GetSlaBoard> MakeSlaBoardRequest(const SlaBoardArgs& args) {
  constexpr double kMaxHours = 366.0 * 24;
  if (!(args.horizon_hours >= 0) || args.horizon_hours > kMaxHours) {
    return Status(wire::INVALID_ARGUMENT, "--horizon-hours takes 0 (one working day) to 8784");
  }
  wire::GetSlaBoard request;
  request.set_partner(args.partner);
  request.set_territory(args.territory);
  request.set_horizon_ms(static_cast<int64_t>(std::llround(args.horizon_hours * 3600 * 1000)));
  request.set_limit(args.limit);
  return request;
}

std::string RenderSlaBoard(const wire::SlaBoard& board) {
  auto section = [](const char* title,
                    const google::protobuf::RepeatedPtrField<wire::CaseSummary>& cases) {
    std::string out = std::string(title) + " (" + std::to_string(cases.size()) + ")\n";
    if (cases.empty()) return out + "  none\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& summary : cases) {
      rows.push_back({summary.case_id(), summary.partner(), summary.territory(),
                      summary.contact_point(), StateName(summary.state()),
                      FormatMinute(summary.deadline_ms())});
    }
    return out + RenderTable({"CASE", "PARTNER", "TERRITORY", "CONTACT POINT", "STATE", "DEADLINE"},
                             rows, {false, false, false, false, false, false});
  };
  return "SLA board at " + FormatMinute(board.now_ms()) + " (" + kDisplayTimeZone + ")\n" +
         section("BREACHED", board.breached()) + "\n" + section("AT RISK", board.at_risk()) +
         "\n" + section("DUE SOON", board.due_soon());
}

int RunSlaBoard(const GlobalOptions& options, const SlaBoardArgs& args) {
  auto board_request = MakeSlaBoardRequest(args);
  if (!board_request.ok()) {
    ReportFailure(options, board_request.status());
    return kExitUsage;
  }
  wire::Envelope request;
  *request.mutable_get_sla_board() = *board_request;
  auto answer = Exchange(options, options.broker, OperatorHello(options), std::move(request),
                         wire::Envelope::kSlaBoard);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->sla_board(), RenderSlaBoard(answer->sla_board()));
}

}  // namespace aplus::cli
