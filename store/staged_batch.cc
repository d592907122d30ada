#include "store/staged_batch.h"

#include <algorithm>

namespace aplus {

std::vector<StagedBatch::Write>& StagedBatch::Family(rocksdb::ColumnFamilyHandle* family) {
  uint32_t id = family->GetID();
  if (id >= writes_.size()) {
    writes_.resize(id + 1);
    handles_.resize(id + 1, nullptr);
  }
  handles_[id] = family;
  return writes_[id];
}

void StagedBatch::Put(rocksdb::ColumnFamilyHandle* family, std::string key, std::string value) {
  Family(family).push_back(Write{std::move(key), std::move(value), false});
  ++staged_;
}

void StagedBatch::Delete(rocksdb::ColumnFamilyHandle* family, std::string key) {
  Family(family).push_back(Write{std::move(key), {}, true});
  ++staged_;
}

void StagedBatch::BuildInto(rocksdb::WriteBatch& batch) {
  batch.Clear();
  for (size_t id = 0; id < writes_.size(); ++id) {
    const auto& writes = writes_[id];
    if (writes.empty()) continue;
    order_.resize(writes.size());
    for (uint32_t i = 0; i < order_.size(); ++i) order_[i] = i;
    // By key, then by the order made: the last of equal keys is the one that counts.
    std::sort(order_.begin(), order_.end(), [&writes](uint32_t a, uint32_t b) {
      int compared = writes[a].key.compare(writes[b].key);
      return compared < 0 || (compared == 0 && a < b);
    });
    for (size_t i = 0; i < order_.size(); ++i) {
      if (i + 1 < order_.size() && writes[order_[i + 1]].key == writes[order_[i]].key) continue;
      const Write& write = writes[order_[i]];
      if (write.erase) {
        batch.Delete(handles_[id], write.key);
      } else {
        batch.Put(handles_[id], write.key, write.value);
      }
    }
  }
}

void StagedBatch::Clear() {
  for (auto& writes : writes_) writes.clear();
  staged_ = 0;
}

}  // namespace aplus
