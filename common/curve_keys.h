// CURVE key pairs (ZeroMQ's CurveZMQ) and the files that hold them. Keys travel as Z85 text,
// 40 characters for 32 bytes, as libzmq's ZMQ_CURVE_* socket options take them.
//
// File formats (TOML):
//   PREFIX.key  mode 0600, the pair:
//     # A+ CURVE key pair "mairie-perche". Keep this file secret (mode 0600).
//     public-key = "<40 chars>"
//     secret-key = "<40 chars>"
//   PREFIX.pub  mode 0644, the public half only:
//     # A+ CURVE public key "mairie-perche".
//     public-key = "<40 chars>"
// The Z85 alphabet (0-9 a-z A-Z .-:+=^!/*?&<>()[]{}@%$#) has no '"', '\\' or control
// character, so a key always fits in a TOML basic string as it is.
//
// Thread rules: free functions without shared state; callable from any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace aplus {

inline constexpr size_t kZ85KeyLength = 40;  // Z85 text of a 32-byte CURVE key

struct CurveKeyPair {
  std::string public_key;  // Z85, kZ85KeyLength characters
  std::string secret_key;  // Z85, kZ85KeyLength characters
};

// A fresh pair from libzmq (zmq_curve_keypair). INTERNAL when libzmq was built without CURVE.
Result<CurveKeyPair> GenerateCurveKeyPair();

// Whether `text` is exactly 40 characters of the Z85 alphabet that decode to 32 bytes.
bool IsZ85Key(std::string_view text);

// Writes PREFIX.key (the pair, mode 0600 from its creation on) and PREFIX.pub (the public key,
// mode 0644), each atomically (see common/atomic_file.h). Without `overwrite`, refuses with
// INVALID_ARGUMENT "PATH already exists" when either file exists, before writing anything.
// INVALID_ARGUMENT too for a pair that is not two Z85 keys or a directory that cannot be
// written. After a failure nothing new is left under either name, except when `overwrite` is
// set and only the second step (PREFIX.pub) failed: PREFIX.key then holds the new pair.
Status WriteKeyPairFiles(const std::string& prefix, const CurveKeyPair& pair, bool overwrite);

// Reads a .key file. INVALID_ARGUMENT, naming the file and never quoting the secret, when the
// file cannot be read, is not a regular file, grants any permission to group or others (as
// ssh refuses such a private key: "chmod 600 PATH"), is not TOML, lacks either key or holds a
// value that is not a Z85 key, or when the public key derived from the secret one
// (zmq_curve_public) is not the stored public key.
Result<CurveKeyPair> ReadSecretKeyFile(const std::string& path);

// The public key named by `path_or_key`: the argument itself when it is already a Z85 key
// (a key wins over a file of the same name), else the `public-key` of the TOML file it names
// (a .pub file, or a .key file of which only the public line is read: no permission check).
// INVALID_ARGUMENT when the file cannot be read or holds no valid public key.
Result<std::string> ReadPublicKey(const std::string& path_or_key);

}  // namespace aplus
