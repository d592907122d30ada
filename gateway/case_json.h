// The JSON shapes of docs/openapi.yaml (components/schemas) made from wire messages, shared by
// both gateways' HTTP API. Field names are lowerCamelCase; instants are RFC 3339 UTC strings
// ("2026-12-03T22:59:00Z"), null when the wire value is 0 where the schema allows null, and
// omitted otherwise; empty strings and false booleans are omitted (the schemas mark them
// optional) except the required ones.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "aplus.pb.h"

namespace aplus {

// "2026-12-03T22:59:00Z" (whole seconds; milliseconds when not zero: "...:00.250Z").
std::string Rfc3339(int64_t unix_ms);

// CaseState name as in the schema ("QUEUED_LOCALLY", "DELIVERED"...).
std::string CaseStateName(wire::CaseState state);

// #/components/schemas/Problem of a wire error (type, title, status, detail, code).
nlohmann::json ProblemJson(const wire::Error& error);

nlohmann::json CaseSummaryJson(const wire::CaseSummary& summary);  // CaseSummary
nlohmann::json CaseViewJson(const wire::CaseView& view);           // CaseView (localView)
nlohmann::json CaseListJson(const wire::CaseList& list);           // CaseList, without nextCursor
nlohmann::json EventJson(const wire::Event& event);                // TimelineEvent

}  // namespace aplus
