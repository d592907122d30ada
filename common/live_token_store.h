// The token store a server authenticates with, kept in step with its directory: the snapshot
// (common/token_store.h) is replaced whole when KeyringWatcher (same file naming) sees the
// directory change, so `aplus tokens add/remove` takes effect without a restart, and a request
// in flight keeps the snapshot it started with.
//
// A directory that becomes unreadable or writable by group or others loads no token: every
// request is then refused until it is fixed (failing closed), and the reason is logged.
//
// Thread rules: Start and ReloadIfChanged are called by one owner thread (e.g. a timer of the
// HTTP server, every second); Snapshot and Authenticate by any thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/keyring_watcher.h"
#include "common/status.h"
#include "common/token_store.h"

namespace aplus {

class LiveTokenStore {
 public:
  explicit LiveTokenStore(std::string dir);

  // The first load. INVALID_ARGUMENT when the directory cannot be used at all (missing,
  // unreadable, writable by group or others): a front door nobody can use is a
  // misconfiguration. Single bad files are logged and skipped.
  Status Start();

  // Reloads when the directory changed since the last look; true when it reloaded.
  bool ReloadIfChanged();

  // The current snapshot; never null (empty before Start).
  std::shared_ptr<const TokenStore> Snapshot() const;

  // Snapshot()->Authenticate(token).
  Result<TokenIdentity> Authenticate(std::string_view token) const;

  const std::string& dir() const { return dir_; }

 private:
  // Loads and logs; `usable` = the directory itself could be read.
  std::shared_ptr<const TokenStore> Load(bool* usable) const;

  const std::string dir_;
  KeyringWatcher watcher_;  // owner thread only
  mutable std::mutex mutex_;
  std::shared_ptr<const TokenStore> current_;  // guarded by mutex_
};

}  // namespace aplus
