#include "tools/aplus/report_command.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <future>

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
  std::vector<std::vector<std::string>> rows;
  for (const auto& partner : report.partners()) {
    bool any_answer = partner.answered() > 0;
    std::string unit = partner.reply_unit().empty() ? "" : " " + partner.reply_unit();
    rows.push_back(
        {partner.partner(), std::to_string(partner.received()), std::to_string(partner.answered()),
         any_answer ? std::to_string(partner.answered_on_time()) + " (" +
                          Number(partner.on_time_percent()) + "%)"
                    : "-",
         any_answer ? Number(partner.median_reply()) + unit : "-",
         any_answer ? Number(partner.p90_reply()) + unit : "-", std::to_string(partner.open()),
         std::to_string(partner.at_risk()), std::to_string(partner.breached())});
  }
  return RenderTable({"PARTNER", "RECEIVED", "ANSWERED", "ON TIME", "MEDIAN REPLY", "P90 REPLY",
                      "OPEN", "AT RISK", "BREACHED"},
                     rows, {false, true, true, true, true, true, true, true, true});
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

}  // namespace aplus::cli
