#include "store/read_only_db.h"

namespace aplus {

Result<std::unique_ptr<ReadOnlyDb>> ReadOnlyDb::Open(const std::string& dir) {
  rocksdb::DBOptions options;
  // Table files opened on demand, not all of them with their indexes at open as
  // max_open_files = -1 would (a checkpoint's sequence needs none of them).
  options.max_open_files = 16;
  std::vector<std::string> names;
  auto status = rocksdb::DB::ListColumnFamilies(options, dir, &names);
  if (!status.ok()) {
    return Status(wire::UNAVAILABLE, "cannot list the families of " + dir + ": " + status.ToString());
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : names) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::unique_ptr<ReadOnlyDb> opened(new ReadOnlyDb());
  rocksdb::DB* raw = nullptr;
  status = rocksdb::DB::OpenForReadOnly(options, dir, descriptors, &opened->handles_, &raw);
  if (!status.ok()) {
    return Status(wire::UNAVAILABLE, "cannot open " + dir + " read-only: " + status.ToString());
  }
  opened->db_.reset(raw);
  return opened;
}

ReadOnlyDb::~ReadOnlyDb() {
  if (!db_) return;
  for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
  db_->Close().PermitUncheckedError();
}

rocksdb::ColumnFamilyHandle* ReadOnlyDb::Family(const std::string& name) const {
  for (auto* handle : handles_) {
    if (handle->GetName() == name) return handle;
  }
  return nullptr;
}

}  // namespace aplus
