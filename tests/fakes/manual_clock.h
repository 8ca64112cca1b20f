// manual_clock.h — a Clock that moves only when the test says so.
//
// Starts at a fixed, realistic instant (2026-11-20T15:00:00Z) so formatted times in assertions
// are stable. Advance() moves wall and steady time together.
//
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <chrono>
#include <mutex>

#include "core/clock.h"

namespace callrec::testing {

class ManualClock final : public core::Clock {
 public:
  static constexpr int64_t kStartMillis = 1795186800000;  // 2026-11-20T15:00:00.000Z

  std::chrono::system_clock::time_point WallNow() override {
    std::lock_guard lock(mu_);
    return wall_;
  }
  std::chrono::steady_clock::time_point SteadyNow() override {
    std::lock_guard lock(mu_);
    return steady_;
  }
  void Advance(std::chrono::milliseconds d) {
    std::lock_guard lock(mu_);
    wall_ += d;
    steady_ += d;
  }

 private:
  std::mutex mu_;
  std::chrono::system_clock::time_point wall_{std::chrono::milliseconds(kStartMillis)};
  std::chrono::steady_clock::time_point steady_{};
};

}  // namespace callrec::testing
