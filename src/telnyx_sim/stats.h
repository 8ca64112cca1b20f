// stats.h — how many requests each telnyx-sim route received (GET /sim/stats).
//
// Tests assert on these ("no recordings query was made", "exactly two record_start calls").
// Route names are the method plus the route pattern, e.g. "GET /v2/recordings",
// "POST /v2/calls/{call_control_id}/actions/record_start", "PUT /storage/v1/object".
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/thread_annotations.h"

namespace callrec::telnyx_sim {

class SimStats {
 public:
  void Count(std::string_view route) {
    core::MutexLock lock(mu_);
    ++counts_[std::string(route)];
  }
  uint64_t Get(std::string_view route) const {
    core::MutexLock lock(mu_);
    auto it = counts_.find(route);
    return it == counts_.end() ? 0 : it->second;
  }
  // Sum over routes starting with `prefix` after the method, e.g. "/v2/".
  uint64_t SumWithPathPrefix(std::string_view prefix) const {
    core::MutexLock lock(mu_);
    uint64_t total = 0;
    for (const auto& [route, n] : counts_) {
      size_t space = route.find(' ');
      if (space != std::string::npos && std::string_view(route).substr(space + 1).starts_with(prefix))
        total += n;
    }
    return total;
  }
  void Reset() {
    core::MutexLock lock(mu_);
    counts_.clear();
  }
  // {"<route>":N,...} in route order.
  std::string ToJson() const {
    core::MutexLock lock(mu_);
    core::JsonWriter w;
    w.BeginObject();
    for (const auto& [route, n] : counts_) w.Key(route).Uint(n);
    w.EndObject();
    return w.Take();
  }

 private:
  mutable core::Mutex mu_;
  std::map<std::string, uint64_t, std::less<>> counts_ GUARDED_BY(mu_);
};

}  // namespace callrec::telnyx_sim
