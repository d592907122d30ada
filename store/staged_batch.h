// The writes of one group commit, staged by column family and turned into ONE RocksDB
// WriteBatch at the end: each family's writes in key order, and a key written several times
// in the batch written once (its last write). The database ends in the same state as if every
// write had been applied in the order made, with fewer and ordered memtable inserts: a
// skip-list insert after its key-order neighbour reuses the previous insert's search path
// (RocksDB's sequential splice), where the broker's writes in arrival order land at random
// places (case ids are scrambled).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

namespace aplus {

class StagedBatch {
 public:
  void Put(rocksdb::ColumnFamilyHandle* family, std::string key, std::string value);
  void Delete(rocksdb::ColumnFamilyHandle* family, std::string key);

  // Writes made so far (before any collapsing of repeated keys).
  size_t size() const { return staged_; }
  bool empty() const { return staged_ == 0; }

  // Fills `batch` (cleared first) with the staged writes: families in id order, keys in byte
  // order, the last write of each key only. The staged writes stay until Clear.
  void BuildInto(rocksdb::WriteBatch& batch);
  // Forgets the staged writes (keeps the buffers' capacity for the next batch).
  void Clear();

 private:
  struct Write {
    std::string key;
    std::string value;
    bool erase = false;
  };
  std::vector<Write>& Family(rocksdb::ColumnFamilyHandle* family);

  // Indexed by column family id; a family's handle is kept beside its writes.
  std::vector<std::vector<Write>> writes_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::vector<uint32_t> order_;  // scratch for BuildInto
  size_t staged_ = 0;
};

}  // namespace aplus
