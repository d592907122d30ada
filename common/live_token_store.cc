#include "common/live_token_store.h"

#include <spdlog/spdlog.h>

#include <utility>

namespace aplus {

LiveTokenStore::LiveTokenStore(std::string dir)
    : dir_(std::move(dir)), watcher_(dir_), current_(std::make_shared<const TokenStore>()) {}

std::shared_ptr<const TokenStore> LiveTokenStore::Load(bool* usable) const {
  TokenLoad load = LoadTokenDirectory(dir_);
  // LoadTokenDirectory reports a directory-wide problem as its only problem, with no entry,
  // and its text starts with "tokens <dir>".
  *usable = !(load.entries.empty() && load.problems.size() == 1 &&
              load.problems.front().rfind("tokens " + dir_, 0) == 0);
  for (const auto& problem : load.problems) spdlog::error("tokens: {} (skipped)", problem);
  return std::make_shared<const TokenStore>(std::move(load.entries));
}

Status LiveTokenStore::Start() {
  watcher_.Changed();  // the signature of what is read now
  bool usable = false;
  auto fresh = Load(&usable);
  {
    std::lock_guard lock(mutex_);
    current_ = fresh;
  }
  if (!usable) {
    return Status(wire::INVALID_ARGUMENT,
                  "cannot read the token directory " + dir_ +
                      " (create it with `aplus tokens add`; it must not be writable by group or "
                      "others)");
  }
  spdlog::info("tokens {}: {} tokens", dir_, fresh->entries().size());
  return Status::Ok();
}

bool LiveTokenStore::ReloadIfChanged() {
  if (!watcher_.Changed()) return false;
  bool usable = false;
  auto fresh = Load(&usable);
  spdlog::info("tokens {}: reloaded, {} tokens", dir_, fresh->entries().size());
  std::lock_guard lock(mutex_);
  current_ = std::move(fresh);
  return true;
}

std::shared_ptr<const TokenStore> LiveTokenStore::Snapshot() const {
  std::lock_guard lock(mutex_);
  return current_;
}

Result<TokenIdentity> LiveTokenStore::Authenticate(std::string_view token) const {
  return Snapshot()->Authenticate(token);
}

}  // namespace aplus
