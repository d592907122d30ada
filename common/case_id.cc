#include "common/case_id.h"

#include <array>
#include <cctype>

namespace aplus {
namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int kDataChars = 7;
constexpr int kHalfBits = 17;  // 35 bits = one extra bit carried by the cycle walk below
constexpr uint64_t kMask35 = kCaseIdSpace - 1;

// A 4-round Feistel network over 36 bits (two 18-bit halves), cycle-walked down to 35 bits.
// It is a bijection, so distinct counters always give distinct ids.
uint32_t RoundFunction(uint32_t half, int round) {
  uint64_t x = (uint64_t{half} + 0x9E3779B97F4A7C15ULL * (round + 1)) * 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 29;
  return static_cast<uint32_t>(x & ((1u << (kHalfBits + 1)) - 1));
}

uint64_t Permute36(uint64_t v) {
  constexpr uint32_t kHalfMask = (1u << (kHalfBits + 1)) - 1;
  uint32_t left = static_cast<uint32_t>(v >> (kHalfBits + 1)) & kHalfMask;
  uint32_t right = static_cast<uint32_t>(v) & kHalfMask;
  for (int round = 0; round < 4; ++round) {
    uint32_t next = left ^ RoundFunction(right, round);
    left = right;
    right = next;
  }
  return (uint64_t{left} << (kHalfBits + 1)) | right;
}

uint64_t Unpermute36(uint64_t v) {
  constexpr uint32_t kHalfMask = (1u << (kHalfBits + 1)) - 1;
  uint32_t left = static_cast<uint32_t>(v >> (kHalfBits + 1)) & kHalfMask;
  uint32_t right = static_cast<uint32_t>(v) & kHalfMask;
  for (int round = 3; round >= 0; --round) {
    uint32_t prev = right ^ RoundFunction(left, round);
    right = left;
    left = prev;
  }
  return (uint64_t{left} << (kHalfBits + 1)) | right;
}

uint64_t Scramble(uint64_t counter) {
  uint64_t v = Permute36(counter);
  while (v > kMask35) v = Permute36(v);  // cycle walking keeps the bijection on 35 bits
  return v;
}

uint64_t Unscramble(uint64_t value) {
  uint64_t v = Unpermute36(value);
  while (v > kMask35) v = Unpermute36(v);
  return v;
}

// Odd weights are coprime with 32, so any single mistyped character changes the check.
char CheckChar(std::string_view prefix, std::string_view data) {
  unsigned sum = 0;
  for (char c : prefix) sum += static_cast<unsigned char>(c);
  for (size_t i = 0; i < data.size(); ++i) {
    sum += static_cast<unsigned>(kAlphabet.find(data[i])) * static_cast<unsigned>(2 * i + 1);
  }
  return kAlphabet[sum % 32];
}

int DecodeChar(char c) {
  c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (c == 'O') c = '0';
  if (c == 'I' || c == 'L') c = '1';
  auto pos = kAlphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

}  // namespace

std::string FormatCaseId(std::string_view prefix, uint64_t counter) {
  uint64_t value = Scramble(counter & kMask35);
  std::string data(kDataChars, '0');
  for (int i = kDataChars - 1; i >= 0; --i) {
    data[i] = kAlphabet[value & 31];
    value >>= 5;
  }
  std::string id(prefix);
  id += '-';
  id += data.substr(0, 4);
  id += '-';
  id += data.substr(4);
  id += CheckChar(prefix, data);
  return id;
}

std::optional<std::string> NormalizeCaseId(std::string_view text) {
  // Hyphens and spaces may be anywhere or nowhere, so the prefix cannot be found by looking
  // for the first hyphen ("PER7K3MQ9XD"); it is whatever precedes the last 8 characters,
  // which are always the data and the check character.
  std::string compact;
  for (char c : text) {
    if (c != '-' && c != ' ') compact += c;
  }
  constexpr size_t kTail = kDataChars + 1;
  if (compact.size() < kTail + 2 || compact.size() > kTail + 5) return std::nullopt;
  const size_t prefix_size = compact.size() - kTail;
  std::string prefix;
  for (size_t i = 0; i < prefix_size; ++i) {
    char c = compact[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c < 'A' || c > 'Z') return std::nullopt;
    prefix += c;
  }
  std::string rest;
  for (size_t i = prefix_size; i < compact.size(); ++i) {
    int v = DecodeChar(compact[i]);
    if (v < 0) return std::nullopt;
    rest += kAlphabet[v];
  }
  std::string data = rest.substr(0, kDataChars);
  if (CheckChar(prefix, data) != rest.back()) return std::nullopt;
  return prefix + "-" + data.substr(0, 4) + "-" + data.substr(4) + rest.back();
}

namespace {
// The counter of an id already in canonical form ("PER-7K3M-Q9XD"), without building strings:
// the store derives a key from every id it reads or writes (store/key_layout.h).
std::optional<uint64_t> CanonicalIdCounter(std::string_view id) {
  constexpr size_t kTail = kDataChars + 3;  // "-7K3M-Q9X" + check character
  if (id.size() < kTail + 2 || id.size() > kTail + 5) return std::nullopt;
  const size_t prefix_size = id.size() - kTail;
  if (id[prefix_size] != '-' || id[prefix_size + 5] != '-') return std::nullopt;
  unsigned sum = 0;
  for (size_t i = 0; i < prefix_size; ++i) {
    if (id[i] < 'A' || id[i] > 'Z') return std::nullopt;
    sum += static_cast<unsigned char>(id[i]);
  }
  uint64_t value = 0;
  int position = 0;
  for (size_t i = prefix_size + 1; i < id.size() - 1; ++i) {
    if (i == prefix_size + 5) continue;
    auto digit = kAlphabet.find(id[i]);
    if (digit == std::string_view::npos) return std::nullopt;
    sum += static_cast<unsigned>(digit) * static_cast<unsigned>(2 * position + 1);
    value = (value << 5) | digit;
    ++position;
  }
  if (kAlphabet[sum % 32] != id.back()) return std::nullopt;
  return Unscramble(value);
}
}  // namespace

std::optional<uint64_t> CaseIdCounter(std::string_view canonical_id) {
  if (auto counter = CanonicalIdCounter(canonical_id)) return counter;
  auto normalized = NormalizeCaseId(canonical_id);
  if (!normalized) return std::nullopt;
  auto dash = normalized->find('-');
  std::string data = normalized->substr(dash + 1, 4) + normalized->substr(dash + 6, 3);
  uint64_t value = 0;
  for (char c : data) value = (value << 5) | static_cast<uint64_t>(kAlphabet.find(c));
  return Unscramble(value);
}

}  // namespace aplus
