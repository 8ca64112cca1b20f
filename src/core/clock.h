// clock.h — the only way code below src/tools reads time.
//
// Wall time (system_clock) is what people read and what events record; steady time drives waits
// and timeouts. SystemClock is the real one, built only in src/tools and handed down by
// reference; tests use tests/fakes/manual_clock.h, which moves only when the test advances it.
//
// Thread-safety: implementations must be safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace callrec::core {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point WallNow() = 0;
  virtual std::chrono::steady_clock::time_point SteadyNow() = 0;

  // Unix milliseconds of WallNow(): the unit events and the projection store.
  int64_t WallMillis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(WallNow().time_since_epoch())
        .count();
  }
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point WallNow() override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point SteadyNow() override {
    return std::chrono::steady_clock::now();
  }
};

}  // namespace callrec::core
