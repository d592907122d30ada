// Case ids are read over the phone: "PER-7K3M-Q9XD" is a territory prefix, seven Crockford
// base32 characters carrying a 35-bit number, and one check character. The number is a
// durable counter passed through a keyed permutation, so ids are unique for as long as the
// counter never repeats, yet consecutive cases do not get look-alike ids.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aplus {

inline constexpr uint64_t kCaseIdSpace = uint64_t{1} << 35;

// Returns the id of case number `counter` (0 <= counter < kCaseIdSpace) for `prefix`
// (2 to 5 upper-case letters).
std::string FormatCaseId(std::string_view prefix, uint64_t counter);

// Accepts what a person may type: any case, with or without hyphens, O for 0, I and L for 1.
// Returns the canonical id, or nullopt when the text is not a well-formed id (bad length,
// bad characters or a wrong check character).
std::optional<std::string> NormalizeCaseId(std::string_view text);

// Inverse of FormatCaseId for a canonical id: the counter it encodes.
std::optional<uint64_t> CaseIdCounter(std::string_view canonical_id);

}  // namespace aplus
