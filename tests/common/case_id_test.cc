#include "common/case_id.h"

#include <cctype>
#include <string>
#include <unordered_set>
#include <vector>

#include <doctest/doctest.h>

namespace aplus {
namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

bool IsCrockford(char c) { return kAlphabet.find(c) != std::string_view::npos; }

// A spread of counters: small, large, powers of two, and the ends of the space.
std::vector<uint64_t> SampleCounters() {
  std::vector<uint64_t> counters = {0, 1, 2, 31, 32, 1000, 123456789, kCaseIdSpace - 2,
                                    kCaseIdSpace - 1};
  for (int bit = 0; bit < 35; bit += 3) counters.push_back(uint64_t{1} << bit);
  for (uint64_t i = 0; i < 40; ++i) counters.push_back(i * 858993459ULL % kCaseIdSpace);
  return counters;
}

TEST_CASE("FormatCaseId gives PER-XXXX-XXXX") {
  for (uint64_t counter : SampleCounters()) {
    std::string id = FormatCaseId("PER", counter);
    REQUIRE(id.size() == 13);
    CHECK(id.substr(0, 4) == "PER-");
    CHECK(id[8] == '-');
    for (size_t i : {4, 5, 6, 7, 9, 10, 11, 12}) {
      CHECK_MESSAGE(IsCrockford(id[i]), id);
    }
    CHECK(FormatCaseId("PER", counter) == id);  // deterministic
  }
  CHECK(FormatCaseId("AB", 7).size() == 12);
  CHECK(FormatCaseId("ABCDE", 7).size() == 15);
}

TEST_CASE("consecutive counters give distinct ids") {
  constexpr uint64_t kCount = 200000;
  std::unordered_set<std::string> ids;
  ids.reserve(kCount);
  for (uint64_t counter = 0; counter < kCount; ++counter) {
    ids.insert(FormatCaseId("PER", counter));
  }
  CHECK(ids.size() == kCount);
}

TEST_CASE("consecutive ids do not look alike") {
  // The keyed permutation exists so that case n+1 is not "case n with the last digit bumped".
  int same_data_prefix = 0;
  for (uint64_t counter = 0; counter < 1000; ++counter) {
    std::string a = FormatCaseId("PER", counter);
    std::string b = FormatCaseId("PER", counter + 1);
    if (a.substr(4, 4) == b.substr(4, 4)) ++same_data_prefix;
  }
  CHECK(same_data_prefix < 10);
}

TEST_CASE("CaseIdCounter inverts FormatCaseId") {
  for (uint64_t counter : SampleCounters()) {
    std::string id = FormatCaseId("PER", counter);
    auto back = CaseIdCounter(id);
    REQUIRE_MESSAGE(back.has_value(), id);
    CHECK(*back == counter);
  }
  for (uint64_t counter = 0; counter < 5000; ++counter) {
    auto back = CaseIdCounter(FormatCaseId("ABCDE", counter));
    REQUIRE(back.has_value());
    CHECK(*back == counter);
  }
  std::string typo = FormatCaseId("PER", 99);
  typo[6] = typo[6] == 'A' ? 'B' : 'A';
  CHECK_FALSE(CaseIdCounter(typo).has_value());
  CHECK_FALSE(CaseIdCounter("not an id").has_value());
  // The canonical form is read directly; what a person may type goes through NormalizeCaseId:
  // both give the same number.
  for (uint64_t counter : SampleCounters()) {
    std::string id = FormatCaseId("PER", counter);
    std::string typed;
    for (char c : id) {
      if (c != '-') typed += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    CHECK(CaseIdCounter(typed) == counter);
  }
  CHECK_FALSE(CaseIdCounter("PER-AAAA-AAAA").has_value());  // wrong check character
  CHECK_FALSE(CaseIdCounter("per-AAAA-AAA").has_value());
}

TEST_CASE("NormalizeCaseId accepts what a person may type") {
  for (uint64_t counter : SampleCounters()) {
    std::string id = FormatCaseId("PER", counter);
    CHECK(NormalizeCaseId(id) == id);

    std::string lower = id;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK_MESSAGE(NormalizeCaseId(lower) == id, lower);

    std::string one_hyphen = id.substr(0, 4) + id.substr(4, 4) + id.substr(9);
    CHECK_MESSAGE(NormalizeCaseId(one_hyphen) == id, one_hyphen);

    // Regression: the first hyphen used to be required, so "PER7K3MQ9XD" was refused.
    std::string no_hyphens = id.substr(0, 3) + id.substr(4, 4) + id.substr(9);
    CHECK_MESSAGE(NormalizeCaseId(no_hyphens) == id, no_hyphens);

    std::string spaced = id.substr(0, 3) + " " + id.substr(4, 4) + " " + id.substr(9);
    CHECK_MESSAGE(NormalizeCaseId(spaced) == id, spaced);

    // Look-alike letters: 0 may be typed O, 1 may be typed I or L.
    std::string look_alike = id;
    bool changed = false;
    for (size_t i = 4; i < look_alike.size(); ++i) {
      if (look_alike[i] == '0') look_alike[i] = (i % 2) ? 'O' : 'o', changed = true;
      if (look_alike[i] == '1') look_alike[i] = (i % 2) ? 'I' : 'l', changed = true;
    }
    if (changed) CHECK_MESSAGE(NormalizeCaseId(look_alike) == id, look_alike);
  }
  // A specific example with every look-alike.
  std::string id;
  for (uint64_t counter = 0; id.empty() && counter < 100000; ++counter) {
    std::string candidate = FormatCaseId("PER", counter);
    if (candidate.find('0', 4) != std::string::npos && candidate.find('1', 4) != std::string::npos) {
      id = candidate;
    }
  }
  REQUIRE_FALSE(id.empty());
  std::string typed = id;
  for (size_t i = 4; i < typed.size(); ++i) {
    if (typed[i] == '0') typed[i] = 'O';
    if (typed[i] == '1') typed[i] = 'L';
  }
  CHECK(NormalizeCaseId(typed) == id);

  // Data that starts with letters must not be swallowed into the prefix.
  std::string letters;
  for (uint64_t counter = 0; letters.empty() && counter < 100000; ++counter) {
    std::string candidate = FormatCaseId("PER", counter);
    if (std::isalpha(static_cast<unsigned char>(candidate[4])) &&
        std::isalpha(static_cast<unsigned char>(candidate[5]))) {
      letters = candidate;
    }
  }
  REQUIRE_FALSE(letters.empty());
  std::string squashed = letters.substr(0, 3) + letters.substr(4, 4) + letters.substr(9);
  CHECK_MESSAGE(NormalizeCaseId(squashed) == letters, squashed);
  std::string two_letter = FormatCaseId("AB", 12345);
  CHECK(NormalizeCaseId("ab" + two_letter.substr(3)) == two_letter);
}

TEST_CASE("NormalizeCaseId rejects every single-character substitution") {
  int checked = 0;
  for (uint64_t counter : SampleCounters()) {
    std::string id = FormatCaseId("PER", counter);
    for (size_t i = 4; i < id.size(); ++i) {
      if (id[i] == '-') continue;
      for (char replacement : kAlphabet) {
        if (replacement == id[i]) continue;
        std::string typo = id;
        typo[i] = replacement;
        CHECK_MESSAGE(!NormalizeCaseId(typo).has_value(), "accepted typo " << typo << " of " << id);
        ++checked;
      }
    }
  }
  CHECK(checked > 10000);
}

TEST_CASE("NormalizeCaseId rejects malformed text") {
  std::string id = FormatCaseId("PER", 42);
  CHECK_FALSE(NormalizeCaseId("").has_value());
  CHECK_FALSE(NormalizeCaseId(id.substr(0, id.size() - 1)).has_value());  // too short
  CHECK_FALSE(NormalizeCaseId(id + "0").has_value());                     // too long
  CHECK_FALSE(NormalizeCaseId(id.substr(4)).has_value());                 // no prefix
  CHECK_FALSE(NormalizeCaseId("P" + id.substr(3)).has_value());           // prefix too short
  CHECK_FALSE(NormalizeCaseId("PERCHE" + id.substr(3)).has_value());      // prefix too long
  std::string bad_char = id;
  bad_char[5] = 'U';  // U is not in the Crockford alphabet
  CHECK_FALSE(NormalizeCaseId(bad_char).has_value());
  bad_char[5] = '*';
  CHECK_FALSE(NormalizeCaseId(bad_char).has_value());
  // The prefix is part of the check: the same data under another prefix is not an id.
  std::string other_prefix = "PEQ" + id.substr(3);
  CHECK_FALSE(NormalizeCaseId(other_prefix).has_value());
}

}  // namespace
}  // namespace aplus
