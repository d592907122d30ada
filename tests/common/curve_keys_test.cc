#include "common/curve_keys.h"

#include <sys/stat.h>
#include <zmq.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/curve_client.h"
#include "tests/support/child_process.h"

namespace aplus {
namespace {

using aplus::testing::TempDir;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

void WriteText(const std::string& path, const std::string& text, mode_t mode) {
  {
    std::ofstream out(path, std::ios::trunc);
    out << text;
  }
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

mode_t ModeOf(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

CurveKeyPair NewPair() {
  auto pair = GenerateCurveKeyPair();
  REQUIRE(pair.ok());
  return *pair;
}

TEST_CASE("Generated pairs are Z85, distinct, and the public key derives from the secret") {
  CurveKeyPair a = NewPair();
  CurveKeyPair b = NewPair();
  CHECK(a.public_key.size() == kZ85KeyLength);
  CHECK(a.secret_key.size() == kZ85KeyLength);
  CHECK(IsZ85Key(a.public_key));
  CHECK(IsZ85Key(a.secret_key));
  CHECK(a.public_key != b.public_key);
  CHECK(a.secret_key != b.secret_key);
  char derived[kZ85KeyLength + 1] = {};
  REQUIRE(zmq_curve_public(derived, a.secret_key.c_str()) == 0);
  CHECK(std::string(derived) == a.public_key);
}

TEST_CASE("IsZ85Key takes exactly 40 characters of the alphabet that decode") {
  CHECK(IsZ85Key(std::string(40, '0')));
  CHECK(IsZ85Key("Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"));  // the ZMTP CURVE example
  CHECK_FALSE(IsZ85Key(""));
  CHECK_FALSE(IsZ85Key(std::string(39, '0')));
  CHECK_FALSE(IsZ85Key(std::string(41, '0')));
  CHECK_FALSE(IsZ85Key(std::string(39, '0') + "\""));
  CHECK_FALSE(IsZ85Key(std::string(39, '0') + "\\"));
  CHECK_FALSE(IsZ85Key(std::string(39, '0') + " "));
  CHECK_FALSE(IsZ85Key(std::string(39, '0') + "'"));
  CHECK_FALSE(IsZ85Key(std::string(39, '0') + ","));
  CHECK_FALSE(IsZ85Key(std::string(39, '0') + std::string(1, '\0')));
  // Every character is in the alphabet, but "#####" is 85^5 - 1 > 2^32 - 1.
  CHECK_FALSE(IsZ85Key(std::string(35, '0') + "#####"));
}

TEST_CASE("A written pair reads back, the .key with mode 0600 and the .pub with 0644") {
  TempDir dir("curve-keys");
  std::string prefix = dir.Sub("mairie-perche");
  CurveKeyPair pair = NewPair();
  REQUIRE(WriteKeyPairFiles(prefix, pair, false).ok());

  CHECK(ModeOf(prefix + ".key") == 0600);
  CHECK(ModeOf(prefix + ".pub") == 0644);
  std::string key_text = ReadAll(prefix + ".key");
  CHECK(key_text.rfind("# A+ CURVE key pair \"mairie-perche\".", 0) == 0);
  CHECK(Contains(key_text, "secret-key = \"" + pair.secret_key + "\"\n"));
  std::string public_text = ReadAll(prefix + ".pub");
  CHECK(Contains(public_text, "public-key = \"" + pair.public_key + "\"\n"));
  CHECK_FALSE(Contains(public_text, pair.secret_key));
  CHECK_FALSE(Contains(public_text, "secret-key"));

  auto read = ReadSecretKeyFile(prefix + ".key");
  REQUIRE(read.ok());
  CHECK(read->public_key == pair.public_key);
  CHECK(read->secret_key == pair.secret_key);
  // Nothing else in the directory: the temporary files are gone.
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()),
                      std::filesystem::directory_iterator()) == 2);
}

TEST_CASE("An existing pair is replaced only with overwrite") {
  TempDir dir("curve-keys");
  std::string prefix = dir.Sub("gw");
  CurveKeyPair first = NewPair();
  CurveKeyPair second = NewPair();
  REQUIRE(WriteKeyPairFiles(prefix, first, false).ok());

  Status refused = WriteKeyPairFiles(prefix, second, false);
  CHECK(refused.code() == wire::INVALID_ARGUMENT);
  CHECK(Contains(refused.message(), "already exists"));
  CHECK(ReadSecretKeyFile(prefix + ".key")->secret_key == first.secret_key);
  CHECK(*ReadPublicKey(prefix + ".pub") == first.public_key);

  REQUIRE(WriteKeyPairFiles(prefix, second, true).ok());
  CHECK(ReadSecretKeyFile(prefix + ".key")->secret_key == second.secret_key);
  CHECK(*ReadPublicKey(prefix + ".pub") == second.public_key);
  CHECK(ModeOf(prefix + ".key") == 0600);
}

TEST_CASE("An existing .pub alone blocks the write before any .key is created") {
  TempDir dir("curve-keys");
  std::string prefix = dir.Sub("gw");
  WriteText(prefix + ".pub", "someone else's\n", 0644);
  Status refused = WriteKeyPairFiles(prefix, NewPair(), false);
  CHECK(refused.code() == wire::INVALID_ARGUMENT);
  CHECK(Contains(refused.message(), prefix + ".pub already exists"));
  CHECK_FALSE(std::filesystem::exists(prefix + ".key"));
  CHECK(ReadAll(prefix + ".pub") == "someone else's\n");
}

TEST_CASE("A pair whose halves do not belong together is never written") {
  TempDir dir("curve-keys");
  CurveKeyPair mixed{NewPair().public_key, NewPair().secret_key};
  CHECK(WriteKeyPairFiles(dir.Sub("mixed"), mixed, false).code() == wire::INVALID_ARGUMENT);
  CHECK(WriteKeyPairFiles(dir.Sub("bad"), CurveKeyPair{"short", "short"}, false).code() ==
        wire::INVALID_ARGUMENT);
  CHECK_FALSE(std::filesystem::exists(dir.Sub("mixed.key")));
  CHECK_FALSE(std::filesystem::exists(dir.Sub("bad.key")));
}

TEST_CASE("A secret key file open to group or others is refused, as ssh does") {
  TempDir dir("curve-keys");
  std::string prefix = dir.Sub("gw");
  REQUIRE(WriteKeyPairFiles(prefix, NewPair(), false).ok());
  std::string path = prefix + ".key";
  for (mode_t mode : {0640, 0604, 0620, 0602, 0644, 0610}) {
    CAPTURE(mode);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    auto read = ReadSecretKeyFile(path);
    REQUIRE_FALSE(read.ok());
    CHECK(read.status().code() == wire::INVALID_ARGUMENT);
    CHECK(Contains(read.status().message(), "accessible by group or others"));
    CHECK(Contains(read.status().message(), "chmod 600 " + path));
  }
  REQUIRE(::chmod(path.c_str(), 0400) == 0);  // read-only for the owner is fine
  CHECK(ReadSecretKeyFile(path).ok());
}

TEST_CASE("A key file whose secret does not give its public key is refused") {
  TempDir dir("curve-keys");
  std::string path = dir.Sub("mixed.key");
  CurveKeyPair a = NewPair();
  CurveKeyPair b = NewPair();
  WriteText(path, "public-key = \"" + a.public_key + "\"\nsecret-key = \"" + b.secret_key + "\"\n",
            0600);
  auto read = ReadSecretKeyFile(path);
  REQUIRE_FALSE(read.ok());
  CHECK(read.status().code() == wire::INVALID_ARGUMENT);
  CHECK(Contains(read.status().message(), "does not belong to the secret key"));
  CHECK_FALSE(Contains(read.status().message(), b.secret_key));
}

TEST_CASE("Garbled, incomplete or missing key files are refused without quoting the secret") {
  TempDir dir("curve-keys");
  CurveKeyPair pair = NewPair();
  std::string garbled_secret = pair.secret_key.substr(0, 39) + "\\";
  struct Case {
    const char* label;
    std::string text;
    const char* expected;
  };
  std::vector<Case> cases = {
      {"not TOML", "public-key = \n", "not a key file"},
      {"no secret", "public-key = \"" + pair.public_key + "\"\n", "no secret-key"},
      {"no public", "secret-key = \"" + pair.secret_key + "\"\n", "no public-key"},
      {"short secret",
       "public-key = \"" + pair.public_key + "\"\nsecret-key = \"" + pair.secret_key.substr(0, 30) +
           "\"\n",
       "secret-key is not a Z85 key"},
      {"garbled secret",
       "public-key = '" + pair.public_key + "'\nsecret-key = '" + garbled_secret + "'\n",
       "secret-key is not a Z85 key"},
      {"number", "public-key = \"" + pair.public_key + "\"\nsecret-key = 42\n",
       "secret-key is not a Z85 key"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.label);
    std::string path = dir.Sub("case.key");
    WriteText(path, c.text, 0600);
    auto read = ReadSecretKeyFile(path);
    REQUIRE_FALSE(read.ok());
    CHECK(read.status().code() == wire::INVALID_ARGUMENT);
    CHECK(Contains(read.status().message(), c.expected));
    CHECK(Contains(read.status().message(), path));
    CHECK_FALSE(Contains(read.status().message(), pair.secret_key.substr(0, 30)));
  }
  auto missing = ReadSecretKeyFile(dir.Sub("none.key"));
  CHECK(missing.status().code() == wire::INVALID_ARGUMENT);
  CHECK(Contains(missing.status().message(), "cannot read"));
  CHECK(ReadSecretKeyFile(dir.path().string()).status().code() == wire::INVALID_ARGUMENT);
}

TEST_CASE("ReadPublicKey takes a .pub file, a .key file or the key itself") {
  TempDir dir("curve-keys");
  std::string prefix = dir.Sub("gw");
  CurveKeyPair pair = NewPair();
  REQUIRE(WriteKeyPairFiles(prefix, pair, false).ok());

  CHECK(*ReadPublicKey(prefix + ".pub") == pair.public_key);
  auto from_key_file = ReadPublicKey(prefix + ".key");
  REQUIRE(from_key_file.ok());
  CHECK(*from_key_file == pair.public_key);  // the public line only: never the secret
  CHECK(*ReadPublicKey(pair.public_key) == pair.public_key);

  for (const std::string& bad :
       {std::string("not a key"), pair.public_key.substr(1), dir.Sub("missing.pub")}) {
    CAPTURE(bad);
    auto read = ReadPublicKey(bad);
    REQUIRE_FALSE(read.ok());
    CHECK(read.status().code() == wire::INVALID_ARGUMENT);
    CHECK(Contains(read.status().message(), "expected a Z85 key"));
  }
  std::string garbage = dir.Sub("garbage.pub");
  WriteText(garbage, "public-key = \"" + std::string(40, ' ') + "\"\n", 0644);
  CHECK(Contains(ReadPublicKey(garbage).status().message(), "public-key is not a Z85 key"));
  std::string not_toml = dir.Sub("binary.pub");
  WriteText(not_toml, std::string("\x01\x02\xff", 3), 0644);
  CHECK(ReadPublicKey(not_toml).status().code() == wire::INVALID_ARGUMENT);
}

}  // namespace
TEST_CASE("--insecure towards a pair of brokers: every endpoint of the list on loopback") {
  auto both_local = BrokerConnectionKeys("", "", true, "tcp://127.0.0.1:7400,tcp://127.0.0.1:7500");
  REQUIRE(both_local.ok());
  CHECK_FALSE(both_local->has_value());
  auto one_remote = BrokerConnectionKeys("", "", true, "tcp://127.0.0.1:7400,tcp://10.0.0.2:7400");
  REQUIRE_FALSE(one_remote.ok());
  CHECK(one_remote.status().message().find("10.0.0.2") != std::string::npos);
  auto malformed = BrokerConnectionKeys("", "", true, "tcp://127.0.0.1:7400,");
  REQUIRE_FALSE(malformed.ok());
  CHECK(malformed.status().code() == wire::INVALID_ARGUMENT);
}

}  // namespace aplus
