// A whole copy of a database sent from the leader to a joining standby (docs/AVAILABILITY.md):
// RocksDB's Checkpoint on the leader (table files hard-linked, the log copied), files sent in
// chunks, written to a staging directory on the standby, fsynced and swapped in for its data
// directory in one rename.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/rocks_db.h"

namespace aplus {

struct CheckpointFile {
  std::string name;  // relative to the checkpoint directory
  uint64_t size = 0;
};

struct CheckpointManifest {
  std::string dir;
  uint64_t sequence = 0;  // the checkpoint's last sequence number
  std::vector<CheckpointFile> files;
  uint64_t total_bytes = 0;
};

// Leader: makes a checkpoint of `db` in `dir` (a previous one there is removed first), the
// memtables flushed first so that the copy holds little log. `dir` must be on the same file
// system as the database (hard links).
Result<CheckpointManifest> MakeCheckpoint(RocksDb& db, const std::string& dir);

// Leader: reads `length` bytes of one checkpoint file at `offset` (short at its end).
Result<std::string> ReadCheckpointChunk(const CheckpointManifest& manifest,
                                        const std::string& file, uint64_t offset,
                                        size_t length);

// Standby: receives the files in `<data_dir>.incoming`, then installs them as `data_dir`.
// The database at `data_dir` must be closed before Install().
class CheckpointReceiver {
 public:
  // Clears the staging directory and expects `files` (names must be plain relative names:
  // no "..", no "/" at the start; INVALID_ARGUMENT otherwise).
  static Result<std::unique_ptr<CheckpointReceiver>> Begin(const std::string& data_dir,
                                                           const std::vector<std::string>& files);
  // Appends `data` to `file` at `offset` (offsets must follow each other; files in any order
  // among those expected). INVALID_ARGUMENT for an unexpected file or offset.
  Status Write(const std::string& file, uint64_t offset, std::string_view data);
  // Bytes received so far.
  uint64_t received_bytes() const { return received_bytes_; }
  // Fsyncs every file and the staging directory, renames `data_dir` to `<data_dir>.old`, the
  // staging directory to `data_dir`, fsyncs the parent directory, removes the old copy. A crash
  // at any point leaves either the old or the new copy whole at `data_dir` (a leftover `.old`
  // is removed at the next Begin).
  Status Install();

 private:
  CheckpointReceiver() = default;
  std::string data_dir_;
  std::string staging_;
  std::vector<std::string> expected_;
  std::vector<uint64_t> next_offset_;  // per expected file
  uint64_t received_bytes_ = 0;
};

}  // namespace aplus
