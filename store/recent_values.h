// The values most recently committed under some keys, kept in memory so that the reads that
// follow a write (a case's delivery and its acknowledgement soon after its submission) do not
// search RocksDB's memtables again. Bounded: the key written least recently leaves first (a key
// written again becomes the newest). Only ever filled with what a successful commit wrote, by the one thread
// that writes (BrokerStore), so it never disagrees with the database; a deleted key is erased.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>

namespace aplus {

template <typename Value>
class RecentValues {
 public:
  // At most `capacity` keys and `byte_budget` bytes (as the caller counts them); a value above
  // an eighth of the budget is not kept (one large text must not push out hundreds of small).
  RecentValues(size_t capacity, size_t byte_budget)
      : capacity_(capacity), byte_budget_(byte_budget) {}

  // nullptr when not held (absent from the database or evicted: read the database).
  const Value* Find(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? nullptr : &it->second.value;
  }

  void Put(const std::string& key, Value value, size_t bytes) {
    bytes += key.size();
    if (capacity_ == 0 || bytes > byte_budget_ / 8) {
      Erase(key);  // an older value must not stay behind
      return;
    }
    auto [it, fresh] = values_.try_emplace(key);
    if (fresh) {
      it->second.place = order_.insert(order_.end(), &it->first);
    } else {
      bytes_ -= it->second.bytes;
      order_.splice(order_.end(), order_, it->second.place);  // now the newest
    }
    it->second.value = std::move(value);
    it->second.bytes = bytes;
    bytes_ += bytes;
    while (values_.size() > capacity_ || bytes_ > byte_budget_) Erase(*order_.front());
  }

  void Erase(const std::string& key) {
    auto it = values_.find(key);
    if (it == values_.end()) return;
    bytes_ -= it->second.bytes;
    order_.erase(it->second.place);
    values_.erase(it);  // by iterator: `key` may be this very node's key
  }
  size_t size() const { return values_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  struct Held {
    Value value;
    size_t bytes = 0;
    std::list<const std::string*>::iterator place;  // in order_
  };
  size_t capacity_;
  size_t byte_budget_;
  size_t bytes_ = 0;
  // Keys of unordered_map nodes are stable: the line points at them, oldest first.
  std::unordered_map<std::string, Held> values_;
  std::list<const std::string*> order_;
};

}  // namespace aplus
