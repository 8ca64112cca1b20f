#include "core/time_format.h"

#include <gtest/gtest.h>

namespace callrec::core {
namespace {

using std::chrono::milliseconds;

TEST(TimeFormat, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(FormatRfc3339Millis(1795186800123), "2026-11-20T15:00:00.123Z");
  EXPECT_EQ(FormatRfc3339Millis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(-1), "1969-12-31T23:59:59.999Z");
}

TEST(TimeFormat, ParsesTelnyxTimestampsAndOffsets) {
  EXPECT_EQ(*ParseRfc3339Millis("2026-11-20T15:04:12.411503Z"), 1795186800000 + 252411);
  EXPECT_EQ(*ParseRfc3339Millis("2026-11-20T15:00:00Z"), 1795186800000);
  EXPECT_EQ(*ParseRfc3339Millis("2026-11-20T16:00:00+01:00"), 1795186800000);
  EXPECT_EQ(*ParseRfc3339Millis("2026-11-20T15:00:00.5Z"), 1795186800500);
  for (const char* bad : {"", "2026-11-20", "2026-11-20T15:00:00", "2026-13-01T00:00:00Z",
                          "2026-02-30T00:00:00Z", "2026-11-20T15:00:00Zjunk", "2026-11-20T15:00:00.Z"})
    EXPECT_FALSE(ParseRfc3339Millis(bad).ok()) << bad;
}

TEST(TimeFormat, RoundTrips) {
  for (int64_t t : {int64_t(0), int64_t(1795186800123), int64_t(951782400000) /* 2000-02-29 */})
    EXPECT_EQ(*ParseRfc3339Millis(FormatRfc3339Millis(t)), t);
}

TEST(Duration, AcceptsDocumentedForms) {
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("30s"), milliseconds(30000));
  EXPECT_EQ(*ParseDuration("2m"), milliseconds(120000));
  EXPECT_EQ(*ParseDuration("1h"), milliseconds(3600000));
  EXPECT_EQ(*ParseDuration("90"), milliseconds(90000));
  EXPECT_EQ(*ParseDuration("0"), milliseconds(0));
}

TEST(Duration, RejectsWithAMessage) {
  for (const char* bad : {"", "-1s", "abc", "10x", "1.5s", "s", "99999999999999999999h"}) {
    auto d = ParseDuration(bad);
    EXPECT_FALSE(d.ok()) << bad;
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(Duration, FormatsCompactly) {
  EXPECT_EQ(FormatDuration(milliseconds(120000)), "2m");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(milliseconds(3600000)), "1h");
  EXPECT_EQ(FormatDuration(milliseconds(5000)), "5s");
}

}  // namespace
}  // namespace callrec::core
