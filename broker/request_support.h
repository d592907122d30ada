// Small pieces shared by the broker's request handlers (broker_requests.cc,
// broker_sla_requests.cc).
#pragma once

#include <cstddef>

#include "aplus.pb.h"

namespace aplus {

// Largest free text (body, reply, question, reason) a request may carry.
inline constexpr size_t kMaxTextBytes = 256 * 1024;

// An empty answer echoing the request's id.
inline wire::Envelope AnswerTo(const wire::Envelope& request) {
  wire::Envelope answer;
  answer.set_request_id(request.request_id());
  return answer;
}

}  // namespace aplus
