#include "core/time_format.h"
#include "matchers/status_matchers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <string>

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

// The bricking input of issue 11: year 0 with a positive offset is an instant in year -1, which
// used to format as "-001-12-31T23:30:00.000Z" and then never parse again.
TEST(TimeFormat, RefusesInstantsOutsideTheFourDigitYears) {
  for (const char* bad : {"0000-01-01T00:30:00+01:00", "0000-01-01T00:00:00.000+00:01",
                          "9999-12-31T23:59:59-00:01", "9999-12-31T23:30:00-23:59",
                          "9999-12-31T23:59:60Z", "2026-11-20T15:00:00+24:00",
                          "2026-11-20T15:00:00+01:60", "-001-12-31T23:30:00.000Z"})
    EXPECT_FALSE(ParseRfc3339Millis(bad).ok()) << bad;
  EXPECT_EQ(*ParseRfc3339Millis("0000-01-01T00:00:00Z"), kMinRfc3339Millis);
  EXPECT_EQ(*ParseRfc3339Millis("0000-01-01T01:00:00+01:00"), kMinRfc3339Millis);
  EXPECT_EQ(*ParseRfc3339Millis("9999-12-31T23:59:59.999999Z"), kMaxRfc3339Millis);
  EXPECT_EQ(*ParseRfc3339Millis("9999-12-31T22:59:59.999-01:00"), kMaxRfc3339Millis);
}

TEST(TimeFormat, FormatClampsSoEveryWrittenValueParses) {
  EXPECT_EQ(FormatRfc3339Millis(kMinRfc3339Millis), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(kMaxRfc3339Millis), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339Millis(kMinRfc3339Millis - 1800000), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(INT64_MIN), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(INT64_MAX), "9999-12-31T23:59:59.999Z");
  for (int64_t t : {INT64_MIN, kMinRfc3339Millis - 1, int64_t(-1), kMaxRfc3339Millis + 1, INT64_MAX})
    EXPECT_EQ(*ParseRfc3339Millis(FormatRfc3339Millis(t)),
              std::clamp(t, kMinRfc3339Millis, kMaxRfc3339Millis))
        << t;
}

// parse -> format -> parse over edge years, leap days and every offset shape: the second parse
// equals the first, and the formatted text is the canonical UTC form.
TEST(TimeFormat, ParseFormatParseOverEdgeYearsAndOffsets) {
  int checked = 0;
  for (const char* date : {"0000-01-01", "0000-02-29", "0001-01-01", "1582-10-15", "1900-02-28",
                           "1969-12-31", "1970-01-01", "2000-02-29", "2038-01-19", "9999-12-31"}) {
    for (const char* clock : {"00:00:00", "00:30:00.5", "12:34:56.789123", "23:59:59.999", "23:59:60"}) {
      for (const char* offset : {"Z", "z", "+00:00", "-00:00", "+01:00", "-01:00", "+23:59", "-23:59",
                                 "+05:30", "-09:45"}) {
        std::string text = std::string(date) + "T" + clock + offset;
        auto first = ParseRfc3339Millis(text);
        if (!first.ok()) continue;  // outside the four-digit years: refused, never stored
        std::string formatted = FormatRfc3339Millis(*first);
        auto second = ParseRfc3339Millis(formatted);
        ASSERT_OK(second) << text << " -> " << formatted;
        EXPECT_EQ(*second, *first) << text;
        EXPECT_EQ(FormatRfc3339Millis(*second), formatted);
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 450);
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
