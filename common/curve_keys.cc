#include "common/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <toml++/toml.h>

#include "common/atomic_file.h"

namespace aplus {
namespace {

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

// A key file is a few lines; anything bigger is not one, and is not read into memory.
constexpr size_t kMaxKeyFileBytes = 64 * 1024;

constexpr mode_t kSecretFileMode = 0600;
constexpr mode_t kPublicFileMode = 0644;

// The file's name without its directory, control characters replaced: it goes into a comment
// line, which a newline would end.
std::string CommentName(const std::string& prefix) {
  size_t slash = prefix.rfind('/');
  std::string name = slash == std::string::npos ? prefix : prefix.substr(slash + 1);
  for (char& c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  return name;
}

// The public key libzmq derives from `secret_key`; "" when it is not a valid secret key.
std::string DerivePublicKey(const std::string& secret_key) {
  if (!IsZ85Key(secret_key)) return {};
  char public_key[kZ85KeyLength + 1] = {};
  if (zmq_curve_public(public_key, secret_key.c_str()) != 0) return {};
  return public_key;
}

// Reads an open regular file of at most kMaxKeyFileBytes.
Result<std::string> ReadOpenFile(int fd, const std::string& path) {
  std::string contents;
  char buffer[4096];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return InvalidArgument("cannot read " + path + ": " + std::strerror(errno));
    if (n == 0) return contents;
    contents.append(buffer, static_cast<size_t>(n));
    if (contents.size() > kMaxKeyFileBytes) {
      return InvalidArgument(path + " is too large to be a key file");
    }
  }
}

// Opens `path` for reading; `info` receives its fstat (not stat: the checks then apply to
// the very file that is read, even if the name is swapped meanwhile).
Result<int> OpenRegularFile(const std::string& path, struct stat& info) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return InvalidArgument("cannot read " + path + ": " + std::strerror(errno));
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + " is not a regular file");
  }
  return fd;
}

Result<toml::table> ParseKeyFile(const std::string& text, const std::string& path) {
  try {
    return toml::parse(std::string_view(text), std::string_view(path));
  } catch (const toml::parse_error& error) {
    const auto& where = error.source().begin;
    return InvalidArgument(path + ":" + std::to_string(where.line) + ":" +
                           std::to_string(where.column) +
                           ": not a key file: " + std::string(error.description()));
  }
}

// The Z85 key under `name`. The value is never quoted in the message: it may be a secret.
Result<std::string> KeyValue(const toml::table& table, std::string_view name,
                             const std::string& path) {
  const toml::node* node = table.get(name);
  if (node == nullptr) return InvalidArgument(path + ": no " + std::string(name));
  const auto* value = node->as_string();
  if (value == nullptr || !IsZ85Key(value->get())) {
    return InvalidArgument(path + ": " + std::string(name) + " is not a Z85 key of 40 characters");
  }
  return value->get();
}

std::string KeyFileText(const std::string& name, const CurveKeyPair& pair) {
  // Z85 has no '"' or '\\' (see the header): the keys go into basic strings unescaped.
  return "# A+ CURVE key pair \"" + name + "\". Keep this file secret (mode 0600).\n" +
         "public-key = \"" + pair.public_key + "\"\n" + "secret-key = \"" + pair.secret_key +
         "\"\n";
}

std::string PublicFileText(const std::string& name, const CurveKeyPair& pair) {
  return "# A+ CURVE public key \"" + name + "\".\npublic-key = \"" + pair.public_key + "\"\n";
}

bool Exists(const std::string& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;  // a dangling symlink is in the way too
}

}  // namespace

Result<CurveKeyPair> GenerateCurveKeyPair() {
  char public_key[kZ85KeyLength + 1] = {};
  char secret_key[kZ85KeyLength + 1] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return Status(wire::INTERNAL,
                  std::string("cannot generate a CURVE key pair (is libzmq built with CURVE?): ") +
                      zmq_strerror(zmq_errno()));
  }
  return CurveKeyPair{public_key, secret_key};
}

bool IsZ85Key(std::string_view text) {
  if (text.size() != kZ85KeyLength) return false;
  for (char c : text) {
    if (kZ85Alphabet.find(c) == std::string_view::npos) return false;
  }
  // Five characters can spell more than 2^32 ("#####"); libzmq refuses those.
  char terminated[kZ85KeyLength + 1] = {};
  std::memcpy(terminated, text.data(), kZ85KeyLength);
  uint8_t decoded[32];
  return zmq_z85_decode(decoded, terminated) != nullptr;
}

Status WriteKeyPairFiles(const std::string& prefix, const CurveKeyPair& pair, bool overwrite) {
  if (!IsZ85Key(pair.public_key) || !IsZ85Key(pair.secret_key)) {
    return InvalidArgument("a key pair to write must be two Z85 keys of 40 characters");
  }
  if (DerivePublicKey(pair.secret_key) != pair.public_key) {
    return InvalidArgument("the public key does not belong to the secret key");
  }
  std::string key_path = prefix + ".key";
  std::string public_path = prefix + ".pub";
  if (!overwrite) {
    // Checked up front so that a refusal leaves nothing behind; Commit(false) still refuses
    // a file created after this check.
    for (const std::string* path : {&key_path, &public_path}) {
      if (Exists(*path)) return InvalidArgument(*path + " already exists");
    }
  }
  std::string name = CommentName(prefix);
  auto key_file = PendingFile::Create(key_path, KeyFileText(name, pair), kSecretFileMode);
  if (!key_file.ok()) return key_file.status();
  auto public_file = PendingFile::Create(public_path, PublicFileText(name, pair), kPublicFileMode);
  if (!public_file.ok()) return public_file.status();

  Status status = key_file->Commit(overwrite);
  if (!status.ok()) return status;
  status = public_file->Commit(overwrite);
  if (!status.ok() && !overwrite) {
    // The .key was created by this call: take it back rather than leave half a pair.
    ::unlink(key_path.c_str());
    (void)SyncDirectory(DirectoryOf(key_path));
  }
  return status;
}

Result<CurveKeyPair> ReadSecretKeyFile(const std::string& path) {
  struct stat info {};
  auto fd = OpenRegularFile(path, info);
  if (!fd.ok()) return fd.status();
  if ((info.st_mode & 077) != 0) {
    ::close(*fd);
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(info.st_mode & 07777));
    return InvalidArgument(path +
                           " holds a secret key but is accessible by group or others (mode " +
                           mode + "); run chmod 600 " + path);
  }
  auto text = ReadOpenFile(*fd, path);
  ::close(*fd);
  if (!text.ok()) return text.status();
  auto table = ParseKeyFile(*text, path);
  if (!table.ok()) return table.status();
  auto public_key = KeyValue(*table, "public-key", path);
  if (!public_key.ok()) return public_key.status();
  auto secret_key = KeyValue(*table, "secret-key", path);
  if (!secret_key.ok()) return secret_key.status();
  if (DerivePublicKey(*secret_key) != *public_key) {
    return InvalidArgument(path + ": the public key does not belong to the secret key");
  }
  return CurveKeyPair{std::move(public_key).value(), std::move(secret_key).value()};
}

Result<std::string> ReadPublicKey(const std::string& path_or_key) {
  if (IsZ85Key(path_or_key)) return path_or_key;
  struct stat info {};
  auto fd = OpenRegularFile(path_or_key, info);
  if (!fd.ok()) {
    return InvalidArgument(fd.status().message() +
                           " (expected a Z85 key of 40 characters, a .pub file or a .key file)");
  }
  auto text = ReadOpenFile(*fd, path_or_key);
  ::close(*fd);
  if (!text.ok()) return text.status();
  auto table = ParseKeyFile(*text, path_or_key);
  if (!table.ok()) return table.status();
  return KeyValue(*table, "public-key", path_or_key);
}

}  // namespace aplus
