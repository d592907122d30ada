// The partner gateway's HTTP API (docs/openapi.yaml, operations with x-served-by: partner), as a
// route table for the shared front door (http/http_front_door.h):
//   GET  /v1/inbox?state=&limit=&cursor=  -> 200 CaseList (arrival order, oldest first; the
//                                            cursor is the last arrival number of the page)
//   GET  /v1/cases/{id}                   -> 200 CaseView (the inbox copy)
//   POST /v1/cases/{id}/ack               NoteRequest      -> AcknowledgeCase
//   POST /v1/cases/{id}/reply             TextRequest      -> ReplyCase
//   POST /v1/cases/{id}/questions         QuestionRequest  -> AskInfo
//   POST /v1/cases/{id}/transfer          TransferRequest  -> TransferCase
//        each: 200 CaseUpdate when the broker confirmed it, 202 CaseUpdate{queuedLocally} when
//        the gateway holds it durably; the Idempotency-Key header becomes the request's key
//   GET  /v1/events?after=&wait=&limit=   -> 200 EventPage (long poll up to `wait` seconds)
// Errors: the wire error of the shared handler as a problem document (http/problem.h).
#pragma once

#include <vector>

#include "http/http_front_door.h"
#include "partner-gateway/partner_http_backend.h"

namespace aplus {

// The table; `backend` must outlive the routes.
std::vector<HttpRoute> PartnerHttpRoutes(PartnerHttpBackend& backend);

}  // namespace aplus
