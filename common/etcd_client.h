// A small client of etcd 3.4's JSON gateway (POST /v3/...): leases, reads and transactions,
// which is all leadership needs (docs/AVAILABILITY.md). Keys and values are plain strings here;
// the base64 of the gateway's JSON stays inside this module.
//
// Several member URLs ("http://127.0.0.1:2379,http://127.0.0.1:22379"): each call tries the
// member that answered last, then the others in turn, each within the call's deadline, so one
// member down costs one connection attempt, not the call. Errors are values: UNREACHABLE when
// no member answered within the deadline, UNAVAILABLE when etcd answered an error (its message
// kept), INVALID_ARGUMENT for a malformed URL list.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace aplus {

struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};

// One comparison of a transaction, on one key.
struct EtcdCompare {
  enum class Target { kCreateRevision, kModRevision, kValue };
  std::string key;
  Target target = Target::kCreateRevision;
  int64_t revision = 0;  // for kCreateRevision / kModRevision (0 = the key does not exist)
  std::string value;     // for kValue
  // Always EQUAL: the only comparison leadership needs.
};

// One operation of a transaction's branch.
struct EtcdOp {
  enum class Kind { kPut, kDelete, kGet };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;  // kPut
  int64_t lease = 0;  // kPut: 0 = no lease
};

struct EtcdTxnResult {
  bool succeeded = false;
  int64_t revision = 0;  // the header revision: for a winning put, the key's create revision
  // The kGet results of the branch that ran, in order (an absent key gives no entry).
  std::vector<EtcdKeyValue> read;
};

// Thread rules: one instance per thread (each call is a blocking HTTP exchange).
class EtcdClient {
 public:
  // `urls`: comma-separated "http://host:port" members. `timeout_ms`: each call's deadline.
  static Result<std::unique_ptr<EtcdClient>> Create(std::string_view urls, int timeout_ms);
  virtual ~EtcdClient() = default;

  // A lease of `ttl_seconds`; returns its id.
  virtual Result<int64_t> GrantLease(int64_t ttl_seconds) = 0;
  // One keep-alive; returns the lease's remaining time-to-live in seconds (0 or less: the
  // lease is gone, the caller has lost what it held under it). `timeout` replaces the
  // client's deadline for this call: a leader waits for an answer as long as an answer can
  // still renew its leadership (a cluster electing its raft leader holds keep-alives until
  // it has one), not a fixed second.
  virtual Result<int64_t> KeepAlive(int64_t lease, std::chrono::milliseconds timeout) = 0;
  virtual Status RevokeLease(int64_t lease) = 0;
  // The key, or nullopt when absent; `revision` (when given) receives the header revision.
  virtual Result<std::optional<EtcdKeyValue>> Get(std::string_view key,
                                                  int64_t* revision = nullptr) = 0;
  // If every comparison holds, runs `success`, else `failure`.
  virtual Result<EtcdTxnResult> Txn(const std::vector<EtcdCompare>& compare,
                                    const std::vector<EtcdOp>& success,
                                    const std::vector<EtcdOp>& failure) = 0;
};

}  // namespace aplus
