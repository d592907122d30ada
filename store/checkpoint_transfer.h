// A whole copy of a database sent from the leader to a joining standby (docs/AVAILABILITY.md):
// RocksDB's Checkpoint on the leader (table files hard-linked, the log copied), files sent in
// chunks, written to a staging directory on the standby, fsynced and swapped in for its data
// directory in one rename.
//
// What a checkpoint holds (RocksDB 7.8, verified): the live table files (hard links), the
// OPTIONS file, a copy of the MANIFEST cut at its valid size, a CURRENT file naming it, and the
// live log files written since the flush it starts with (none when nothing was written
// meanwhile). Never the archive of the log, LOCK, LOG or IDENTITY (the standby's RocksDB makes
// a new IDENTITY at its first open). The directory is flat.
//
// Thread rules: the functions share no state; a CheckpointReceiver belongs to one thread.
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
// system as the database (hard links). `sequence` is exact: the last batch the copy holds,
// even when other threads write meanwhile (then it is read from the copy itself). Files are
// listed by name.
Result<CheckpointManifest> MakeCheckpoint(RocksDb& db, const std::string& dir);

// Leader: removes the checkpoint once sent. Its hard links keep table files alive after the
// database compacted them away (purged personal data included): it must not outlive the
// transfer.
Status RemoveCheckpoint(const CheckpointManifest& manifest);

// Leader: reads `length` bytes of one checkpoint file at `offset` (short at its end).
Result<std::string> ReadCheckpointChunk(const CheckpointManifest& manifest,
                                        const std::string& file, uint64_t offset,
                                        size_t length);

// Standby: receives the files in `<data_dir>.incoming`, then installs them as `data_dir`.
// The database at `data_dir` must be closed before Install().
class CheckpointReceiver {
 public:
  // Clears the staging directory (and a leftover `<data_dir>.old`) and expects `files`
  // (names must be plain file names: no "/", not "." or "..", not empty, none twice;
  // INVALID_ARGUMENT otherwise). Every expected file is created, empty, at once.
  static Result<std::unique_ptr<CheckpointReceiver>> Begin(const std::string& data_dir,
                                                           const std::vector<std::string>& files);
  // Appends `data` to `file` at `offset` (offsets must follow each other; files in any order
  // among those expected). INVALID_ARGUMENT for an unexpected file or offset.
  Status Write(const std::string& file, uint64_t offset, std::string_view data);
  // Bytes received so far.
  uint64_t received_bytes() const { return received_bytes_; }
  // Fsyncs every file and the staging directory, swaps the staging directory and `data_dir`
  // in one rename (renameat2 RENAME_EXCHANGE; a plain rename when `data_dir` is absent),
  // fsyncs the parent directory, removes the old copy. A crash at any point leaves either the
  // old or the new copy whole at `data_dir`; a leftover old copy is removed at the next Begin.
  // (On a file system without RENAME_EXCHANGE: `data_dir` -> `<data_dir>.old`, then staging ->
  // `data_dir`; a crash between the two leaves `data_dir` absent, the old copy whole in
  // `.old`.) The files' sizes are not known here: the caller compares received_bytes() with
  // the leader's total first (RocksDB refuses to open a truncated table file, but a short log
  // would read as a shorter one). UNAVAILABLE on a failed fsync or rename (not retried: start
  // again from Begin); INTERNAL after a successful Install.
  Status Install();

 private:
  CheckpointReceiver() = default;
  std::string data_dir_;
  std::string staging_;
  std::vector<std::string> expected_;
  std::vector<uint64_t> next_offset_;  // per expected file
  uint64_t received_bytes_ = 0;
  bool installed_ = false;
};

}  // namespace aplus
