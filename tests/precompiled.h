// The headers that nearly every test suite includes and that cost the most to parse, compiled
// once into a precompiled header shared by all suites (tests/CMakeLists.txt). Parsing them took
// a third to a half of each suite's compile time. Only third-party and generated headers:
// a change to the project's own headers rebuilds the suites that include them, not this.
// Each suite still includes what it uses, as if this did not exist.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <rocksdb/db.h>
#include <spdlog/spdlog.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "aplus.pb.h"
#include "records.pb.h"
