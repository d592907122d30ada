// `aplus dlq list | dlq requeue`: the broker's dead-lettered items, read and put back in line
// by an operator session (OperatorHello; operators and administrators only).
#pragma once

#include <cstdint>
#include <string>

#include "aplus.pb.h"
#include "tools/aplus/global_options.h"

namespace aplus::cli {

// ListDeadLetters (`partner` "" = every queue; `limit` 0 = the broker's default, 100);
// prints the table, oldest first (or one DeadLetterList JSON object).
int RunDlqList(const GlobalOptions& options, const std::string& partner, uint32_t limit);

// RequeueDeadLetters of one case (`case_ref`), or of every item of `partner`'s queues
// (`all`, with `case_ref` empty). The caller has checked that exactly one of the two forms is
// given. `idempotency_key` "" = a fresh one. Exit 1 with NOT_DEAD_LETTERED when nothing is
// parked.
int RunDlqRequeue(const GlobalOptions& options, const std::string& case_ref,
                  const std::string& partner, bool all, const std::string& idempotency_key);

// Table: parked at, queue, sequence, case, kind, attempts.
std::string RenderDeadLetterList(const wire::DeadLetterList& list);
// "requeued N item(s) of M case(s)" and the case ids, one per line.
std::string RenderRequeued(const wire::Requeued& requeued);

}  // namespace aplus::cli
