// Authorization: Bearer <token> (RFC 6750, section 2.1). The check of the token itself belongs to
// the token store; this only reads it out of the request.
#pragma once

#include <string>

#include "common/status.h"
#include "http/http_message.h"

namespace aplus::http {

// The token of the request's Authorization header. NOT_AUTHENTICATED when the header is absent,
// uses another scheme than Bearer (the scheme is case-insensitive), is empty, or the token has
// characters outside RFC 6750's token68 set (letters, digits, "-._~+/" and trailing "=").
Result<std::string> BearerToken(const HttpRequest& request);

}  // namespace aplus::http
