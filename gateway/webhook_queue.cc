#include "gateway/webhook_queue.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace aplus {
namespace {

constexpr char kPendingSpace = 'p';
constexpr char kHistorySpace = 'h';

struct StateSpelling {
  WebhookState state;
  std::string_view name;
};
constexpr StateSpelling kStates[] = {{WebhookState::kPending, "pending"},
                                     {WebhookState::kDelivered, "delivered"},
                                     {WebhookState::kFailed, "failed"}};

std::string Prefix(char space, std::string_view partner) {
  std::string key(1, space);
  key.append(partner);
  key.push_back('\0');
  return key;
}

std::string Key(char space, std::string_view partner, uint64_t sequence) {
  std::string key = Prefix(space, partner);
  AppendBigEndian64(key, sequence);
  return key;
}

char SpaceOf(WebhookState state) {
  return state == WebhookState::kPending ? kPendingSpace : kHistorySpace;
}

std::string ToJson(const Webhook& webhook) {
  nlohmann::json attempts = nlohmann::json::array();
  for (const auto& attempt : webhook.attempts) {
    attempts.push_back({{"at_ms", attempt.at_ms},
                        {"status", attempt.status_code},
                        {"error", attempt.error},
                        {"next_try_ms", attempt.next_try_ms}});
  }
  nlohmann::json value = {{"id", webhook.id},
                          {"partner", webhook.partner},
                          {"sequence", webhook.sequence},
                          {"body", webhook.body},
                          {"queued_ms", webhook.queued_ms},
                          {"state", WebhookStateName(webhook.state)},
                          {"next_try_ms", webhook.next_try_ms},
                          {"failing_since_ms", webhook.failing_since_ms},
                          {"attempts", attempts}};
  // Bodies are JSON we made (UTF-8); replace rather than throw if one ever is not.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<Webhook> FromJson(std::string_view text) {
  try {
    auto value = nlohmann::json::parse(text);
    Webhook webhook;
    webhook.id = value.at("id").get<std::string>();
    webhook.partner = value.at("partner").get<std::string>();
    webhook.sequence = value.at("sequence").get<uint64_t>();
    webhook.body = value.at("body").get<std::string>();
    webhook.queued_ms = value.at("queued_ms").get<int64_t>();
    std::string state = value.at("state").get<std::string>();
    bool known = false;
    for (const auto& spelling : kStates) {
      if (spelling.name == state) {
        webhook.state = spelling.state;
        known = true;
      }
    }
    if (!known) return Status(wire::INTERNAL, "stored webhook: unknown state '" + state + "'");
    webhook.next_try_ms = value.at("next_try_ms").get<int64_t>();
    webhook.failing_since_ms = value.at("failing_since_ms").get<int64_t>();
    for (const auto& attempt : value.at("attempts")) {
      webhook.attempts.push_back({attempt.at("at_ms").get<int64_t>(),
                                  attempt.at("status").get<int>(),
                                  attempt.at("error").get<std::string>(),
                                  attempt.at("next_try_ms").get<int64_t>()});
    }
    return webhook;
  } catch (const nlohmann::json::exception& error) {
    return Status(wire::INTERNAL, std::string("stored webhook unreadable: ") + error.what());
  }
}

Status CheckKeyParts(std::string_view partner) {
  if (partner.empty() || partner.find('\0') != std::string_view::npos) {
    return InvalidArgument("a webhook needs a partner id without NUL");
  }
  return Status::Ok();
}

}  // namespace

std::string_view WebhookStateName(WebhookState state) {
  for (const auto& spelling : kStates) {
    if (spelling.state == state) return spelling.name;
  }
  return "pending";
}

WebhookQueue::WebhookQueue(RocksDb& db) : db_(db), family_(db.Family(kWebhookFamily)) {}

Status WebhookQueue::Enqueue(rocksdb::WriteBatch& batch, const Webhook& webhook) const {
  Status valid = CheckKeyParts(webhook.partner);
  if (!valid.ok()) return valid;
  if (webhook.id.empty()) return InvalidArgument("a webhook needs an id");
  Webhook pending = webhook;
  pending.state = WebhookState::kPending;
  pending.next_try_ms = webhook.queued_ms;
  pending.failing_since_ms = 0;
  pending.attempts.clear();
  rocksdb::Status put = batch.Put(family_, Key(kPendingSpace, pending.partner, pending.sequence),
                                  ToJson(pending));
  if (!put.ok()) return Status(wire::INTERNAL, "webhook batch: " + put.ToString());
  return Status::Ok();
}

Result<std::vector<Webhook>> WebhookQueue::Scan(char space, std::string_view partner,
                                                size_t limit) const {
  std::vector<Webhook> webhooks;
  std::string prefix = Prefix(space, partner);
  auto it = db_.NewIterator(family_);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    auto webhook = FromJson(std::string_view(it->value().data(), it->value().size()));
    if (!webhook.ok()) return webhook.status();
    webhooks.push_back(std::move(*webhook));
    if (limit != 0 && webhooks.size() >= limit) break;
  }
  // An iterator that stopped on an error looks like the end: ask it.
  if (!it->status().ok()) {
    return Status(wire::UNAVAILABLE, "webhook queue: " + it->status().ToString());
  }
  return webhooks;
}

Result<size_t> WebhookQueue::CountPending(std::string_view partner) const {
  size_t count = 0;
  std::string prefix = Prefix(kPendingSpace, partner);
  auto it = db_.NewIterator(family_);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++count;
  if (!it->status().ok()) {
    return Status(wire::UNAVAILABLE, "webhook queue: " + it->status().ToString());
  }
  return count;
}

Result<std::optional<Webhook>> WebhookQueue::Head(std::string_view partner) const {
  auto first = Scan(kPendingSpace, partner, 1);
  if (!first.ok()) return first.status();
  if (first->empty()) return std::optional<Webhook>();
  return std::optional<Webhook>(std::move(first->front()));
}

Status WebhookQueue::Record(const Webhook& webhook) {
  Status valid = CheckKeyParts(webhook.partner);
  if (!valid.ok()) return valid;
  rocksdb::WriteBatch batch;
  char space = SpaceOf(webhook.state);
  char other = space == kPendingSpace ? kHistorySpace : kPendingSpace;
  batch.Delete(family_, Key(other, webhook.partner, webhook.sequence));
  batch.Put(family_, Key(space, webhook.partner, webhook.sequence), ToJson(webhook));
  return db_.Write(batch);
}

Result<std::vector<Webhook>> WebhookQueue::List(std::string_view partner, bool failed_only,
                                                size_t limit) const {
  auto pending = Scan(kPendingSpace, partner, 0);
  if (!pending.ok()) return pending.status();
  auto history = Scan(kHistorySpace, partner, 0);
  if (!history.ok()) return history.status();
  std::vector<Webhook> all;
  // Two sorted runs merged by sequence.
  size_t i = 0;
  size_t j = 0;
  while (i < pending->size() || j < history->size()) {
    bool take_pending = j == history->size() ||
                        (i < pending->size() && (*pending)[i].sequence < (*history)[j].sequence);
    Webhook& next = take_pending ? (*pending)[i++] : (*history)[j++];
    if (failed_only && next.state != WebhookState::kFailed) continue;
    all.push_back(std::move(next));
    if (limit != 0 && all.size() >= limit) break;
  }
  return all;
}

Status WebhookQueue::Redeliver(std::string_view partner, std::string_view id, int64_t now_ms) {
  auto all = List(partner, false, 0);
  if (!all.ok()) return all.status();
  for (auto& webhook : *all) {
    if (webhook.id != id) continue;
    if (webhook.state == WebhookState::kPending) {
      // Already in line: only sooner, keeping its run of failures.
      webhook.next_try_ms = std::min(webhook.next_try_ms, now_ms);
    } else {
      webhook.state = WebhookState::kPending;
      webhook.next_try_ms = now_ms;
      webhook.failing_since_ms = 0;
    }
    return Record(webhook);
  }
  return InvalidArgument("no webhook " + std::string(id.substr(0, 64)) + " for partner " +
                         std::string(partner.substr(0, 64)));
}

Result<size_t> WebhookQueue::RedeliverFailed(std::string_view partner, int64_t now_ms) {
  auto failed = Scan(kHistorySpace, partner, 0);
  if (!failed.ok()) return failed.status();
  rocksdb::WriteBatch batch;
  size_t moved = 0;
  for (auto& webhook : *failed) {
    if (webhook.state != WebhookState::kFailed) continue;
    batch.Delete(family_, Key(kHistorySpace, webhook.partner, webhook.sequence));
    webhook.state = WebhookState::kPending;
    webhook.next_try_ms = now_ms;
    webhook.failing_since_ms = 0;
    batch.Put(family_, Key(kPendingSpace, webhook.partner, webhook.sequence), ToJson(webhook));
    ++moved;
  }
  if (moved == 0) return size_t{0};
  Status written = db_.Write(batch);
  if (!written.ok()) return written;
  return moved;
}

Result<size_t> WebhookQueue::PurgeHistory(std::string_view partner, int64_t before_ms) {
  auto past = Scan(kHistorySpace, partner, 0);
  if (!past.ok()) return past.status();
  rocksdb::WriteBatch batch;
  size_t removed = 0;
  for (const auto& webhook : *past) {
    int64_t last = webhook.attempts.empty() ? webhook.queued_ms : webhook.attempts.back().at_ms;
    if (last >= before_ms) continue;
    batch.Delete(family_, Key(kHistorySpace, webhook.partner, webhook.sequence));
    ++removed;
  }
  if (removed == 0) return size_t{0};
  Status written = db_.Write(batch);
  if (!written.ok()) return written;
  return removed;
}

}  // namespace aplus
