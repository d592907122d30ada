// Errors as values at module boundaries: every data-path function that can fail returns a
// Status or a Result<T>. The codes are the wire's ErrorCode so an error travels unchanged
// from where it is found to the client that caused it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

#include "aplus.pb.h"

namespace aplus {

using ErrorCode = wire::ErrorCode;

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == wire::ERROR_UNSPECIFIED; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // A transient refusal's hint: retry no sooner than this many milliseconds from now (0 = none).
  int64_t retry_after_ms() const { return retry_after_ms_; }
  Status WithRetryAfterMs(int64_t ms) && {
    retry_after_ms_ = ms;
    return std::move(*this);
  }
  // "UNKNOWN_CASE: no case PER-..." for logs and command-line output.
  std::string ToString() const;

 private:
  ErrorCode code_ = wire::ERROR_UNSPECIFIED;
  std::string message_;
  int64_t retry_after_ms_ = 0;
};

// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : value_(std::move(status)) {}  // NOLINT: must not be OK

  bool ok() const { return std::holds_alternative<T>(value_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(value_);
  }
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> value_;
};

// The error of a parser or a check of input: INVALID_ARGUMENT with `message`.
inline Status InvalidArgument(std::string message) {
  return Status(wire::INVALID_ARGUMENT, std::move(message));
}

inline std::string Status::ToString() const {
  if (ok()) return "OK";
  return wire::ErrorCode_Name(code_) + ": " + message_;
}

}  // namespace aplus
