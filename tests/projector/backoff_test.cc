#include "projector/clients/backoff.h"

#include <gtest/gtest.h>

#include <vector>

namespace callrec::projector {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, CeilingDoublesFromBaseUpToCap) {
  BackoffOptions o;  // 2 s, 5 min
  EXPECT_EQ(BackoffCeiling(0, o), milliseconds(2000));
  EXPECT_EQ(BackoffCeiling(1, o), milliseconds(2000));
  EXPECT_EQ(BackoffCeiling(2, o), milliseconds(4000));
  EXPECT_EQ(BackoffCeiling(8, o), milliseconds(256000));
  EXPECT_EQ(BackoffCeiling(9, o), milliseconds(300000));
  EXPECT_EQ(BackoffCeiling(4000000000u, o), milliseconds(300000));  // no overflow
}

TEST(BackoffTest, FullJitterExactDelaysWithPinnedRandom) {
  BackoffOptions o;
  EXPECT_EQ(FullJitterDelay(1, o, 0), milliseconds(0));
  EXPECT_EQ(FullJitterDelay(1, o, 2000), milliseconds(2000));  // the ceiling is reachable
  EXPECT_EQ(FullJitterDelay(1, o, 2001), milliseconds(0));
  EXPECT_EQ(FullJitterDelay(3, o, 999999), milliseconds(999999 % 8001));  // 7875
  EXPECT_EQ(FullJitterDelay(3, o, 999999), milliseconds(7875));
  EXPECT_EQ(FullJitterDelay(50, o, UINT64_MAX), milliseconds(UINT64_MAX % 300001));
}

TEST(BackoffTest, FullJitterSequenceThroughClass) {
  uint64_t next = 0;
  std::vector<uint64_t> values = {1500, 3000, 7999, 1000000, 299999, 300000};
  RandomSource random = [&] { return values[next++]; };
  Backoff b(random);
  std::vector<int64_t> got;
  for (size_t i = 0; i < values.size(); ++i) got.push_back(b.Next().count());
  // Ceilings 2000, 4000, 8000, 16000, 32000, 64000.
  EXPECT_EQ(got, (std::vector<int64_t>{1500, 3000, 7999, 1000000 % 16001, 299999 % 32001,
                                       300000 % 64001}));
  EXPECT_EQ(b.attempts(), 6u);
  b.Reset();
  next = 0;
  EXPECT_EQ(b.Next(), milliseconds(1500));
}

TEST(BackoffTest, DecorrelatedJitterStaysBetweenBaseAndCap) {
  BackoffOptions o{.base = milliseconds(2000), .cap = milliseconds(10000)};
  // previous 2000: range [2000, 6000].
  EXPECT_EQ(DecorrelatedJitterDelay(milliseconds(2000), o, 0), milliseconds(2000));
  EXPECT_EQ(DecorrelatedJitterDelay(milliseconds(2000), o, 4000), milliseconds(6000));
  EXPECT_EQ(DecorrelatedJitterDelay(milliseconds(2000), o, 4001), milliseconds(2000));
  // previous 5000: range [2000, 15000] capped at 10000.
  EXPECT_EQ(DecorrelatedJitterDelay(milliseconds(5000), o, 12000), milliseconds(10000));
  EXPECT_EQ(DecorrelatedJitterDelay(milliseconds(5000), o, 3000), milliseconds(5000));
  // A huge previous value cannot overflow.
  EXPECT_EQ(DecorrelatedJitterDelay(milliseconds(INT64_MAX / 2), o, 1), milliseconds(2001));

  uint64_t r = 4000;
  RandomSource random = [&] { return r; };
  Backoff b(random, o, Backoff::Jitter::kDecorrelated);
  EXPECT_EQ(b.Next(), milliseconds(6000));   // [2000, 6000]
  EXPECT_EQ(b.Next(), milliseconds(6000));   // [2000, 18000] -> 2000 + 4000
  r = 15999;                                 // 2000 + 15999 of [2000, 18000]
  EXPECT_EQ(b.Next(), milliseconds(10000));  // capped
}

TEST(BackoffTest, NonsenseOptionsAreRaised) {
  BackoffOptions o{.base = milliseconds(0), .cap = milliseconds(-5)};
  EXPECT_EQ(BackoffCeiling(3, o), milliseconds(1));
  EXPECT_EQ(FullJitterDelay(3, o, 7), milliseconds(1));
  BackoffOptions huge{.base = milliseconds(1000), .cap = milliseconds(INT64_MAX)};
  EXPECT_EQ(BackoffCeiling(100, huge), milliseconds(int64_t(1) << 50));
  EXPECT_GT(DecorrelatedJitterDelay(milliseconds(INT64_MAX), huge, UINT64_MAX), milliseconds(0));
}

TEST(BackoffTest, SystemRandomVaries) {
  uint64_t a = SystemRandom(), b = SystemRandom(), c = SystemRandom();
  EXPECT_FALSE(a == b && b == c);
}

}  // namespace
}  // namespace callrec::projector
