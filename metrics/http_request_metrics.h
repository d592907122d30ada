// aplus_http_requests_total{route, code}: the HTTP requests a program answered, by route
// PATTERN ("/v1/cases/{id}", never the raw path: no case id in a label) and status. One
// implementation for every program behind the front door (http/http_front_door.h): pass
// Hook() as HttpFrontDoorOptions::count_answer.
//
// Thread rules: Count and the hook may be called from any thread (a mutex guards the cache of
// counters; prometheus-cpp counters are atomic). Each (route, code) pair is added to the family
// once and its Counter& kept, so a request costs one map look-up, not a Family::Add.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace aplus {

class HttpRequestMetrics {
 public:
  // Registers the family in `registry`, which must outlive this object.
  explicit HttpRequestMetrics(prometheus::Registry& registry);
  HttpRequestMetrics(const HttpRequestMetrics&) = delete;
  HttpRequestMetrics& operator=(const HttpRequestMetrics&) = delete;

  // One answer with `status` on `route` (a pattern or a fixed label, never a raw path).
  void Count(const std::string& route, int status);

  // Count as a function, for HttpFrontDoorOptions::count_answer; this object must outlive it.
  std::function<void(const std::string& route, int status)> Hook();

 private:
  prometheus::Family<prometheus::Counter>& family_;
  std::mutex mutex_;
  std::map<std::pair<std::string, int>, prometheus::Counter*> counters_;  // guarded by mutex_
};

}  // namespace aplus
