// A read-only open of a RocksDB directory written by another owner: a checkpoint being sent to
// a standby, or, in tests, the store of a broker that is running. RocksDB replays the log in
// memory and writes nothing to the directory; every family is opened, with default options
// (a read-only open runs no compaction, so the families' compaction settings do not matter).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <rocksdb/db.h>

#include "common/status.h"

namespace aplus {

class ReadOnlyDb {
 public:
  // UNAVAILABLE with RocksDB's message when the directory cannot be opened.
  static Result<std::unique_ptr<ReadOnlyDb>> Open(const std::string& dir);
  ~ReadOnlyDb();
  ReadOnlyDb(const ReadOnlyDb&) = delete;
  ReadOnlyDb& operator=(const ReadOnlyDb&) = delete;

  rocksdb::DB& db() const { return *db_; }
  // The family of that name, nullptr when the database has none.
  rocksdb::ColumnFamilyHandle* Family(const std::string& name) const;

 private:
  ReadOnlyDb() = default;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace aplus
