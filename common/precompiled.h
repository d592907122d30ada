// The third-party and generated headers that most of the project's files include and that cost
// the most to parse, compiled once into a precompiled header that the libraries and programs
// share (CMakeLists.txt, aplus_precompiled): parsing them was a large part of each file's
// compile time on a cold build. Every file still includes what it uses, as if this did not
// exist; none of the project's own headers is here, so editing one rebuilds only its users.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "aplus.pb.h"
#include "records.pb.h"
