#include "tools/aplus/dlq_commands.h"

#include <vector>

#include "tools/aplus/output.h"

namespace aplus::cli {

std::string RenderDeadLetterList(const wire::DeadLetterList& list) {
  if (list.items().empty()) return "no dead-lettered items\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : list.items()) {
    rows.push_back({FormatSecond(item.dead_lettered_at_ms()), OneLine(item.queue()),
                    std::to_string(item.sequence()),
                    item.case_id().empty() ? "-" : OneLine(item.case_id()), OneLine(item.kind()),
                    std::to_string(item.attempts())});
  }
  return RenderTable({"PARKED AT", "QUEUE", "SEQ", "CASE", "KIND", "ATTEMPTS"}, rows,
                     {false, false, true, false, false, true});
}

std::string RenderRequeued(const wire::Requeued& requeued) {
  std::string out = "requeued " + std::to_string(requeued.items()) + " item" +
                    (requeued.items() == 1 ? "" : "s") + " of " +
                    std::to_string(requeued.case_ids_size()) + " case" +
                    (requeued.case_ids_size() == 1 ? "" : "s") +
                    ": back at the head of their queues\n";
  for (const auto& id : requeued.case_ids()) out += "  " + OneLine(id) + "\n";
  return out;
}

int RunDlqList(const GlobalOptions& options, const std::string& partner, uint32_t limit) {
  wire::Envelope request;
  request.mutable_list_dead_letters()->set_partner(partner);
  request.mutable_list_dead_letters()->set_limit(limit);
  auto answer = Exchange(options, options.broker, OperatorHello(options), std::move(request),
                         wire::Envelope::kDeadLetterList);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->dead_letter_list(),
                     RenderDeadLetterList(answer->dead_letter_list()));
}

int RunDlqRequeue(const GlobalOptions& options, const std::string& case_ref,
                  const std::string& partner, bool all, const std::string& idempotency_key) {
  wire::Envelope request;
  auto* requeue = request.mutable_requeue_dead_letters();
  if (!case_ref.empty()) requeue->set_case_id(CaseRef(case_ref));
  requeue->set_partner(partner);
  requeue->set_all(all);
  requeue->set_idempotency_key(IdempotencyKeyOr(idempotency_key));
  auto answer = Exchange(options, options.broker, OperatorHello(options), std::move(request),
                         wire::Envelope::kRequeued);
  if (!answer.ok()) return ReportFailure(options, answer.status());
  return PrintAnswer(options, answer->requeued(), RenderRequeued(answer->requeued()));
}

}  // namespace aplus::cli
