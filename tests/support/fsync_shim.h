// The fsync shim (tests/support/fsync_shim.c) preloaded into one program: switched at run time
// through a control file ("ok", "fail", "delay N"), its calls logged so that a test can check
// the shim was in the path.
//
// Thread rules: one test thread.
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include "tests/support/child_process.h"

namespace aplus::testing {

// The shim preloaded into one program, switched through a control file, logging its calls.
class FsyncShim {
 public:
  explicit FsyncShim(const TempDir& dir, const std::string& name)
      : control_(dir.Sub(name + "-fsync-control")), log_(dir.Sub(name + "-fsync.log")) {
    Set("ok");
  }
  std::vector<std::string> Environment() const {
    return {std::string("LD_PRELOAD=") + APLUS_FSYNC_SHIM, "APLUS_FSYNC_CONTROL=" + control_,
            "APLUS_FSYNC_LOG=" + log_};
  }
  // "ok", "fail" or "delay N" (read by the shim at each call).
  void Set(const std::string& mode) { std::ofstream(control_, std::ios::trunc) << mode << "\n"; }
  // fsync and fdatasync calls so far.
  size_t Calls() const {
    std::ifstream in(log_);
    size_t lines = 0;
    for (std::string line; std::getline(in, line);) ++lines;
    return lines;
  }

 private:
  std::string control_;
  std::string log_;
};

}  // namespace aplus::testing
