// Test support for the retention purge: which files of a data directory still hold a given byte
// string, read raw (write-ahead logs, table files, MANIFEST, everything).
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace aplus::testing {

// The files under `dir` (recursively) whose bytes contain `needle`, by path relative to `dir`.
// A file that vanishes while being read (RocksDB deletes obsolete files at any time) is skipped.
inline std::vector<std::string> FilesContaining(const std::string& dir, const std::string& needle) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    if (!in) continue;
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) {
      found.push_back(std::filesystem::relative(it->path(), dir, ec).string());
    }
  }
  return found;
}

// A unique string planted in a case, to look for in raw files. Table files are compressed
// (Snappy), and a compressor may encode part of a string as a back-reference: absence is
// therefore checked piece by piece (three random, distinct pieces; any one reveals a copy).
struct Marker {
  std::string text;                 // label + "-" + the pieces
  std::vector<std::string> pieces;
};

inline Marker MakeMarker(const std::string& label) {
  static std::mt19937_64 random{std::random_device{}()};
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  Marker marker;
  marker.text = label + "-";
  for (int i = 0; i < 3; ++i) {
    std::string piece;
    for (int j = 0; j < 8; ++j) piece += kAlphabet[pick(random)];
    marker.pieces.push_back(piece);
    marker.text += piece;
  }
  return marker;
}

// The files under `dir` holding any piece of `marker`.
inline std::vector<std::string> FilesWithAnyPiece(const std::string& dir, const Marker& marker) {
  std::vector<std::string> found;
  for (const auto& piece : marker.pieces) {
    for (auto& file : FilesContaining(dir, piece)) found.push_back(piece + " in " + file);
  }
  return found;
}

// "a, b, c" for failure messages.
inline std::string JoinNames(const std::vector<std::string>& names) {
  std::string joined;
  for (const auto& name : names) joined += (joined.empty() ? "" : ", ") + name;
  return joined.empty() ? "(none)" : joined;
}

}  // namespace aplus::testing
