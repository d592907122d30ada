// `aplus submit | status | list | close | cancel | answer | retry | discard`: requests to the
// agent gateway's local endpoint (no Hello: it is the contact point's own machine). Each Run*
// prints the answer (human text or one JSON object) and returns the process exit code.
#pragma once

#include <cstdint>
#include <string>

#include "aplus.pb.h"
#include "tools/aplus/global_options.h"

namespace aplus::cli {

struct SubmitArgs {
  std::string agent;
  std::string partner;
  std::string category;
  std::string subject;
  std::string body;
  std::string citizen_name;
  std::string idempotency_key;  // empty: a fresh one is generated
  std::string mandate_reference;  // the citizen's signed mandate, or
  bool citizen_consent = false;   // the agent records the citizen's consent
};

int RunSubmit(const GlobalOptions& options, const SubmitArgs& args);
int RunStatus(const GlobalOptions& options, const std::string& case_ref);
int RunList(const GlobalOptions& options, uint32_t limit, const std::string& after_case_id);
int RunClose(const GlobalOptions& options, const std::string& case_ref,
             const std::string& idempotency_key);
int RunCancel(const GlobalOptions& options, const std::string& case_ref, const std::string& reason,
              const std::string& idempotency_key);
// Answers the partner's open question (AnswerInfo): the SLA clock restarts.
int RunAnswer(const GlobalOptions& options, const std::string& case_ref, const std::string& text,
              const std::string& idempotency_key);

// RetryLocal / DiscardLocal of a FAILED_LOCALLY outbox entry on `endpoint` (the agent or the
// partner gateway): `aplus retry|discard REF`, `aplus partner retry|discard REF`.
int RunLocalEntry(const GlobalOptions& options, const std::string& endpoint,
                  const std::string& local_ref, bool retry);
// The human rendering of outbox entries (`aplus list`, `aplus partner inbox`) and of one.
std::string RenderLocalEntries(const google::protobuf::RepeatedPtrField<wire::LocalEntry>& entries);
std::string RenderLocalEntry(const wire::LocalEntry& entry);

// The human rendering of a case: header block (with the SLA fields the broker filled in),
// citizen and body, open question, reply, the "Deadline" explanation, timeline.
std::string RenderCaseView(const wire::CaseView& view);

// Sends a request answered by CaseUpdated (close, cancel, partner ack and reply) to `endpoint`
// and prints the answer; `holder` names who keeps a queued request ("agent gateway").
int RunCaseUpdate(const GlobalOptions& options, const std::string& endpoint, wire::Envelope request,
                  const std::string& holder);

// The human rendering of a CaseUpdated; `holder` names who keeps a queued request
// ("agent gateway", "partner gateway").
std::string RenderCaseUpdated(const wire::CaseUpdated& updated, const std::string& holder);

}  // namespace aplus::cli
