// `aplus partner inbox | ack | reply | ask | transfer`: requests to the partner gateway's local
// endpoint (no Hello: it is the partner's own machine). Each Run* prints the answer (human text or
// one JSON object) and returns the process exit code.
#pragma once

#include <cstdint>
#include <string>

#include "aplus.pb.h"
#include "tools/aplus/global_options.h"

namespace aplus::cli {

int RunPartnerInbox(const GlobalOptions& options, uint32_t limit);
int RunPartnerAck(const GlobalOptions& options, const std::string& case_ref,
                  const std::string& note, const std::string& idempotency_key);
int RunPartnerReply(const GlobalOptions& options, const std::string& case_ref,
                    const std::string& text, const std::string& idempotency_key);
// Asks the contact point a question (AskInfo): the SLA clock pauses until the answer.
int RunPartnerAsk(const GlobalOptions& options, const std::string& case_ref,
                  const std::string& question, const std::string& idempotency_key);
// Hands the case to the competent partner `to_partner` (TransferCase).
int RunPartnerTransfer(const GlobalOptions& options, const std::string& case_ref,
                       const std::string& to_partner, const std::string& reason,
                       const std::string& idempotency_key);

// `aplus partner webhooks [--failed] [--limit N]`: every webhook with its attempts (time,
// status code or error, next try).
int RunPartnerWebhooks(const GlobalOptions& options, bool failed_only, uint32_t limit);
// `aplus partner webhooks redeliver ID|--failed`.
int RunPartnerRedeliverWebhooks(const GlobalOptions& options, const std::string& id,
                                bool all_failed);
std::string RenderWebhooks(const wire::WebhookList& list);

// The inbox as a table (case, state, contact point, category, subject, deadline).
std::string RenderInbox(const wire::Inbox& inbox);

}  // namespace aplus::cli
