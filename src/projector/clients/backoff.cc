#include "projector/clients/backoff.h"

#include <algorithm>
#include <random>

namespace callrec::projector {
namespace {

using std::chrono::milliseconds;

// Raises nonsense options to something usable instead of dividing by zero later.
BackoffOptions Sane(const BackoffOptions& o) {
  BackoffOptions s = o;
  if (s.base.count() < 1) s.base = milliseconds(1);
  // ~35 000 years: far past any real cap, and small enough that 3 * cap cannot overflow.
  constexpr milliseconds kMaxCap{int64_t(1) << 50};
  if (s.base > kMaxCap) s.base = kMaxCap;
  if (s.cap > kMaxCap) s.cap = kMaxCap;
  if (s.cap < s.base) s.cap = s.base;
  return s;
}

}  // namespace

milliseconds BackoffCeiling(uint32_t attempt, const BackoffOptions& options) {
  BackoffOptions o = Sane(options);
  uint32_t doublings = attempt <= 1 ? 0 : attempt - 1;
  int64_t ceiling = o.base.count();
  // Doubling stops at the cap, so the value never overflows whatever the attempt number.
  for (uint32_t i = 0; i < doublings && ceiling < o.cap.count(); ++i) ceiling *= 2;
  return milliseconds(std::min(ceiling, int64_t(o.cap.count())));
}

milliseconds FullJitterDelay(uint32_t attempt, const BackoffOptions& options, uint64_t random) {
  uint64_t ceiling = uint64_t(BackoffCeiling(attempt, options).count());
  return milliseconds(int64_t(random % (ceiling + 1)));
}

milliseconds DecorrelatedJitterDelay(milliseconds previous, const BackoffOptions& options,
                                     uint64_t random) {
  BackoffOptions o = Sane(options);
  int64_t lo = o.base.count();
  // 3 * previous, computed so a huge `previous` cannot overflow; past the cap it makes no odds.
  int64_t prev = std::clamp(int64_t(previous.count()), lo, int64_t(o.cap.count()));
  int64_t hi = std::max(lo, prev * 3);
  int64_t delay = lo + int64_t(random % uint64_t(hi - lo + 1));
  return milliseconds(std::min(delay, int64_t(o.cap.count())));
}

Backoff::Backoff(RandomSource& random, BackoffOptions options, Jitter jitter)
    : random_(random), options_(options), jitter_(jitter), previous_(options.base) {}

milliseconds Backoff::Next() {
  ++attempts_;
  if (jitter_ == Jitter::kFull) return FullJitterDelay(attempts_, options_, random_());
  previous_ = DecorrelatedJitterDelay(previous_, options_, random_());
  return previous_;
}

void Backoff::Reset() {
  attempts_ = 0;
  previous_ = options_.base;
}

uint64_t SystemRandom() {
  thread_local std::mt19937_64 engine{[] {
    std::random_device device;
    return (uint64_t(device()) << 32) ^ device();
  }()};
  return engine();
}

}  // namespace callrec::projector
