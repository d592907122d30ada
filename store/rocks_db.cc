#include "store/rocks_db.h"

#include <algorithm>
#include <cassert>

#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/cache.h>
#include <spdlog/spdlog.h>

namespace aplus {

Result<std::unique_ptr<RocksDb>> RocksDb::Open(const std::string& path,
                                               const std::vector<std::string>& column_families,
                                               const RocksDbOptions& db_settings) {
  if (db_settings.archive_log != (db_settings.log_ttl_seconds > 0)) {
    return Status(wire::INVALID_ARGUMENT,
                  "archive_log needs log_ttl_seconds > 0, and log_ttl_seconds needs archive_log");
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.IncreaseParallelism(2);
  // Memory is an index budget, not a cache of every case: a small shared block cache and
  // bounded memtables keep RSS flat as the number of stored cases grows.
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(db_settings.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // The index of a table file holds one entry per data block, in memory for as long as the
  // file is open: with 4 KB blocks (RocksDB's default) and ~1 KB case contents, indexes were
  // 10 MB per million cases. 16 KB blocks divide that by four; a Get reads and decompresses
  // 16 KB instead of 4 (LZ4, a few microseconds), and the recent cases are served from memory
  // anyway (store/recent_values.h).
  table.block_size = 16 << 10;
  // Filters and indexes stay resident with their table files (~1.2 MB of filter per million
  // keys); in the block cache, data blocks evicted them and every new idempotency key (a miss
  // by design) read and checksummed a filter block per file.
  table.cache_index_and_filter_blocks = false;
  rocksdb::ColumnFamilyOptions family_options(options);
  family_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // The same cache, without filters, for the families only iterators read.
  rocksdb::BlockBasedTableOptions unfiltered = table;
  unfiltered.filter_policy.reset();
  std::shared_ptr<rocksdb::TableFactory> unfiltered_factory(
      rocksdb::NewBlockBasedTableFactory(unfiltered));
  // Level 0 holds what was just flushed and is soon compacted again: not compressing it
  // spares every flush the CPU. Below, where the bytes rest, LZ4 (cheap to decompress; with
  // nothing compressed on levels 0 and 1 a million cases took 2.7 times the disk).
  family_options.compression_per_level = {rocksdb::kNoCompression, rocksdb::kLZ4Compression,
                                          rocksdb::kLZ4Compression, rocksdb::kLZ4Compression,
                                          rocksdb::kLZ4Compression, rocksdb::kLZ4Compression,
                                          rocksdb::kLZ4Compression};
  // A whole-key bloom filter on each memtable: a read of a key the memtable does not hold (a
  // new idempotency key, a record flushed already) skips the skip-list search.
  family_options.memtable_prefix_bloom_size_ratio = 0.02;
  family_options.memtable_whole_key_filtering = true;
  family_options.write_buffer_size = 8 << 20;
  family_options.max_write_buffer_number = 3;
  // Table files of about one memtable (RocksDB's default is 64 MB). Families keyed in
  // submission order (store/KEY_LAYOUT.md) grow at their end: each flush overlaps only the
  // last file below it (a record rewritten just after its first version was flushed), and a
  // compaction rewrites that file whole with it. With 64 MB files that was a tail of up to
  // 64 MB rewritten for every few MB flushed; with 8 MB files, at most 8 MB.
  family_options.target_file_size_base = 8 << 20;
  // Also what bounds the memtables of all families together: once the logs pass 64 MB, the
  // families holding the oldest log are flushed. (RocksDB's write buffer manager would flush
  // the family with the oldest memtable, often a nearly empty one, in bursts of tiny files.)
  options.max_total_wal_size = 64 << 20;
  // A recycled log file is overwritten in place: never with an archive that reads old files.
  options.recycle_log_file_num = 0;
  if (db_settings.archive_log) {
    // RocksDB 7.8 (options.h): ttl set and size limit 0 = archived files are kept, and those
    // older than the ttl are deleted at a check every ttl / 2. Both 0 = no archive (default).
    options.WAL_ttl_seconds = db_settings.log_ttl_seconds;
    options.WAL_size_limit_MB = 0;
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, family_options);
  for (const auto& name : column_families) descriptors.emplace_back(name, family_options);
  for (auto& descriptor : descriptors) {
    auto reads = db_settings.point_reads.find(descriptor.name);
    if (reads == db_settings.point_reads.end()) continue;
    switch (reads->second) {
      case PointReads::kMayMiss:
        break;
      case PointReads::kHit:
        descriptor.options.optimize_filters_for_hits = true;
        break;
      case PointReads::kNone:
        descriptor.options.table_factory = unfiltered_factory;
        descriptor.options.memtable_prefix_bloom_size_ratio = 0;
        descriptor.options.memtable_whole_key_filtering = false;
        break;
    }
  }
  for (auto& descriptor : descriptors) {
    const auto& scattered = db_settings.scattered_families;
    if (std::find(scattered.begin(), scattered.end(), descriptor.name) == scattered.end()) {
      continue;
    }
    descriptor.options.compaction_style = rocksdb::kCompactionStyleUniversal;
    // A universal merge may write its run to level 0 (when the next older run is on level 1,
    // as in a store written leveled), where it stays until it is about that run's size: not
    // left uncompressed there. These families are small (ids and short answers): compressing
    // their flushes costs little.
    descriptor.options.compression_per_level.clear();
    descriptor.options.compression = rocksdb::kLZ4Compression;
  }
  if (!db_settings.counter_families.empty()) {
    // RocksDB refuses in-place updates with concurrent memtable writes. Without them, writers
    // of several threads (the partner gateway's webhook sender beside its loop) still write,
    // their batches applied to the memtables one after the other by the write group's leader.
    options.allow_concurrent_memtable_write = false;
    for (auto& descriptor : descriptors) {
      const auto& counters = db_settings.counter_families;
      if (std::find(counters.begin(), counters.end(), descriptor.name) != counters.end()) {
        descriptor.options.inplace_update_support = true;
        // A lock per group of keys guards an in-place rewrite against a Get: a few dozen keys
        // need far fewer than RocksDB's default 10,000 locks per memtable.
        descriptor.options.inplace_update_num_locks = 64;
      }
    }
  }

  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DBOptions db_options(options);
  auto status = rocksdb::DB::Open(db_options, path, descriptors, &handles, &raw);
  if (!status.ok()) {
    return Status(wire::UNAVAILABLE, "cannot open database at " + path + ": " + status.ToString());
  }
  std::unique_ptr<RocksDb> db(new RocksDb());
  db->db_.reset(raw);
  db->handles_ = handles;
  db->options_ = db_settings;
  for (size_t i = 0; i < descriptors.size(); ++i) db->families_[descriptors[i].name] = handles[i];
  return db;
}

RocksDb::~RocksDb() {
  for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
  handles_.clear();
  if (db_) db_->Close().PermitUncheckedError();
}

StoreMemoryUsage RocksDb::MemoryUsage() const {
  StoreMemoryUsage usage;
  uint64_t value = 0;
  if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &value)) {
    usage.memtables = value;
  }
  if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimateTableReadersMem, &value)) {
    usage.table_readers = value;
  }
  // One cache shared by every family: read once, not summed.
  if (db_->GetIntProperty(rocksdb::DB::Properties::kBlockCacheUsage, &value)) {
    usage.block_cache = value;
  }
  return usage;
}

rocksdb::ColumnFamilyHandle* RocksDb::Family(const std::string& name) const {
  auto it = families_.find(name);
  assert(it != families_.end() && "column family not opened");
  return it->second;
}

Status RocksDb::Write(rocksdb::WriteBatch& batch) {
  if (failed_.load()) return Status(wire::UNAVAILABLE, "storage failed earlier: " + failure_);
  rocksdb::WriteOptions options;
  const bool in_group = group_open();
  options.sync = !in_group;
  auto status = fail_next_write_.exchange(false)
                    ? rocksdb::Status::IOError("injected write failure (test)")
                    : db_->Write(options, &batch);
  if (!status.ok()) {
    failure_ = status.ToString();
    failed_.store(true);
    spdlog::critical("durable write failed, refusing all further writes: {}", failure_);
    return Status(wire::UNAVAILABLE, "durable write failed: " + failure_);
  }
  if (in_group) group_dirty_ = true;
  return Status::Ok();
}

Status RocksDb::CommitGroup() {
  bool dirty = group_dirty_;
  group_owner_.store(std::thread::id());
  group_dirty_ = false;
  if (failed_.load()) return Status(wire::UNAVAILABLE, "storage failed earlier: " + failure_);
  if (!dirty) return Status::Ok();
  auto status = db_->SyncWAL();
  if (!status.ok()) {
    failure_ = status.ToString();
    failed_.store(true);
    spdlog::critical("group commit (write-ahead log fsync) failed, refusing all further "
                     "writes: {}",
                     failure_);
    return Status(wire::UNAVAILABLE, "durable write failed: " + failure_);
  }
  return Status::Ok();
}

Result<std::optional<std::string>> RocksDb::Get(rocksdb::ColumnFamilyHandle* family,
                                                const rocksdb::Slice& key) const {
  std::string value;
  auto status = db_->Get(rocksdb::ReadOptions(), family, key, &value);
  if (status.IsNotFound()) return std::optional<std::string>();
  if (!status.ok()) return Status(wire::UNAVAILABLE, "read failed: " + status.ToString());
  return std::optional<std::string>(std::move(value));
}

std::unique_ptr<rocksdb::Iterator> RocksDb::NewIterator(rocksdb::ColumnFamilyHandle* family) const {
  return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(rocksdb::ReadOptions(), family));
}

Status RocksDb::CompactAll() {
  for (auto* handle : handles_) {
    auto status = db_->CompactRange(rocksdb::CompactRangeOptions(), handle, nullptr, nullptr);
    if (!status.ok()) return Status(wire::UNAVAILABLE, "compaction failed: " + status.ToString());
  }
  return Status::Ok();
}

Status RocksDb::FlushAll() { return Flush(/*stall_writes=*/false); }

Status RocksDb::Flush(bool stall_writes) {
  rocksdb::FlushOptions options;
  options.wait = true;
  // RocksDB's default waits until the flush would not stall writes, i.e. until compaction
  // has brought level 0 back under its slowdown trigger, which can take seconds with a large
  // store's compaction debt.
  options.allow_write_stall = stall_writes;
  auto status = db_->Flush(options, handles_);
  if (!status.ok()) return Status(wire::UNAVAILABLE, "flush failed: " + status.ToString());
  return Status::Ok();
}

void RocksDb::FlushAtCleanStop() {
  if (failed_.load()) return;
  // Nothing writes any more: a stall costs nothing, and waiting for compaction first made the
  // stop of a 10,000,000-case broker take 6 s (docs/BENCHMARKS.md).
  Status flushed = Flush(/*stall_writes=*/true);
  if (!flushed.ok()) {
    spdlog::warn("store not flushed at stop ({}): the next start replays its log",
                 flushed.ToString());
  }
}

Status RocksDb::CompactRangeForced(const KeyRange& range, std::atomic<bool>* canceled) {
  rocksdb::CompactRangeOptions options;
  // Without kForce, data already at the bottommost level is left as it is, old versions and
  // tombstones included.
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  options.canceled = canceled;
  rocksdb::Slice first(range.first ? std::string_view(*range.first) : std::string_view());
  rocksdb::Slice last(range.last ? std::string_view(*range.last) : std::string_view());
  auto status = db_->CompactRange(options, range.family, range.first ? &first : nullptr,
                                  range.last ? &last : nullptr);
  if (!status.ok()) return Status(wire::UNAVAILABLE, "compaction failed: " + status.ToString());
  return Status::Ok();
}

void AppendBigEndian64(std::string& out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

void AppendBigEndian32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

std::string BigEndian64(uint64_t value) {
  std::string out;
  AppendBigEndian64(out, value);
  return out;
}

uint64_t ReadBigEndian64(const char* data) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<uint8_t>(data[i]);
  return value;
}

uint32_t ReadBigEndian32(const char* data) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 8) | static_cast<uint8_t>(data[i]);
  return value;
}

}  // namespace aplus
