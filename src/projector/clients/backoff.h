// backoff.h — exponential backoff with jitter, for retrying Telnyx and storage calls.
//
// The random source is passed in by reference so tests pin the jitter and assert exact delays
// (as Envoy's backoff_strategy does). Two jitter styles (AWS, "Exponential Backoff and Jitter"):
//   full:         uniform in [0, min(cap, base * 2^(attempt-1))]
//   decorrelated: min(cap, uniform in [base, 3 * previous delay])
// The free functions are stateless, so the scheduler can compute attempt N's delay from the
// attempt count it keeps in events; Backoff wraps them for a loop that keeps its own state.
//
// Defaults: base 2 s, cap 5 min.
//
// Thread-safety: the free functions are pure. A Backoff is used by one thread at a time, and
// calls its RandomSource from that thread. SystemRandom() may be called from any thread.
//
//   RandomSource random = SystemRandom;
//   Backoff backoff(random);
//   auto delay = backoff.Next();  // attempt 1: 0..2 s
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace callrec::projector {

// Any 64-bit value; the functions reduce it to their range.
using RandomSource = std::function<uint64_t()>;

struct BackoffOptions {
  std::chrono::milliseconds base{2000};
  std::chrono::milliseconds cap{5 * 60 * 1000};
};

// min(cap, base * 2^(attempt-1)) without overflow; attempt 0 counts as 1.
// Requires: base > 0 and cap >= base (smaller values are raised to 1 ms and base).
std::chrono::milliseconds BackoffCeiling(uint32_t attempt, const BackoffOptions& options);

// Full jitter: random % (ceiling + 1) ms, so 0 ms and the ceiling are both reachable.
std::chrono::milliseconds FullJitterDelay(uint32_t attempt, const BackoffOptions& options,
                                          uint64_t random);

// Decorrelated jitter: base + random % (max(base, 3 * previous) - base + 1), then capped.
// `previous` is the last delay returned (use base for the first).
std::chrono::milliseconds DecorrelatedJitterDelay(std::chrono::milliseconds previous,
                                                  const BackoffOptions& options, uint64_t random);

class Backoff {
 public:
  enum class Jitter : uint8_t { kFull, kDecorrelated };

  // `random` is borrowed and must outlive this object.
  explicit Backoff(RandomSource& random, BackoffOptions options = {},
                   Jitter jitter = Jitter::kFull);

  // The delay before the next attempt; each call counts one more attempt.
  std::chrono::milliseconds Next();
  // Back to the first attempt (after a success).
  void Reset();
  uint32_t attempts() const { return attempts_; }

 private:
  RandomSource& random_;
  const BackoffOptions options_;
  const Jitter jitter_;
  uint32_t attempts_ = 0;
  std::chrono::milliseconds previous_;
};

// A per-thread mt19937_64 seeded from std::random_device: the production RandomSource.
uint64_t SystemRandom();

}  // namespace callrec::projector
