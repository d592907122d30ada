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
  explicit RecentValues(size_t capacity) : capacity_(capacity) {}

  // nullptr when not held (absent from the database or evicted: read the database).
  const Value* Find(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? nullptr : &it->second.value;
  }

  void Put(const std::string& key, Value value) {
    if (capacity_ == 0) return;
    auto [it, fresh] = values_.try_emplace(key);
    it->second.value = std::move(value);
    if (fresh) {
      it->second.place = order_.insert(order_.end(), &it->first);
    } else {
      order_.splice(order_.end(), order_, it->second.place);  // now the newest
    }
    if (values_.size() > capacity_) {
      values_.erase(*order_.front());
      order_.pop_front();
    }
  }

  void Erase(const std::string& key) {
    auto it = values_.find(key);
    if (it == values_.end()) return;
    order_.erase(it->second.place);
    values_.erase(it);
  }
  size_t size() const { return values_.size(); }

 private:
  struct Held {
    Value value;
    std::list<const std::string*>::iterator place;  // in order_
  };
  size_t capacity_;
  // Keys of unordered_map nodes are stable: the line points at them, oldest first.
  std::unordered_map<std::string, Held> values_;
  std::list<const std::string*> order_;
};

}  // namespace aplus
