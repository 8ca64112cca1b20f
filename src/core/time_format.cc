#include "core/time_format.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <limits>

namespace callrec::core {
namespace {

using std::chrono::days;
using std::chrono::sys_days;

// Reads exactly n digits at text[pos..], advancing pos.
bool ReadDigits(std::string_view text, size_t& pos, size_t n, int& out) {
  if (pos + n > text.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  out = v;
  return true;
}

bool Expect(std::string_view text, size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

std::string FormatRfc3339Millis(int64_t unix_millis) {
  unix_millis = std::clamp(unix_millis, kMinRfc3339Millis, kMaxRfc3339Millis);
  int64_t ms = unix_millis % 1000;
  int64_t secs = unix_millis / 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  int64_t day_count = secs / 86400;
  int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    day_count -= 1;
  }
  std::chrono::year_month_day ymd{sys_days{days{day_count}}};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), int(sod / 3600), int(sod % 3600 / 60),
                int(sod % 60), int(ms));
  return buf;
}

Result<int64_t> ParseRfc3339Millis(std::string_view text) {
  size_t pos = 0;
  int y, mo, d, h, mi, s;
  bool ok = ReadDigits(text, pos, 4, y) && Expect(text, pos, '-') && ReadDigits(text, pos, 2, mo) &&
            Expect(text, pos, '-') && ReadDigits(text, pos, 2, d) &&
            (Expect(text, pos, 'T') || Expect(text, pos, 't') || Expect(text, pos, ' ')) &&
            ReadDigits(text, pos, 2, h) && Expect(text, pos, ':') && ReadDigits(text, pos, 2, mi) &&
            Expect(text, pos, ':') && ReadDigits(text, pos, 2, s);
  if (!ok) return Status::InvalidArgument("not an RFC 3339 timestamp: '" + std::string(text) + "'");
  int millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 3) millis = millis * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return Status::InvalidArgument("empty fraction in '" + std::string(text) + "'");
    for (size_t i = digits; i < 3; ++i) millis *= 10;
  }
  int offset_minutes = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int oh, om;
    if (!ReadDigits(text, pos, 2, oh) || !Expect(text, pos, ':') || !ReadDigits(text, pos, 2, om))
      return Status::InvalidArgument("bad UTC offset in '" + std::string(text) + "'");
    if (oh > 23 || om > 59)
      return Status::InvalidArgument("bad UTC offset in '" + std::string(text) + "'");
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return Status::InvalidArgument("timestamp without a time zone: '" + std::string(text) + "'");
  }
  if (pos != text.size()) return Status::InvalidArgument("trailing text in '" + std::string(text) + "'");
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{unsigned(mo)},
                                  std::chrono::day{unsigned(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60)
    return Status::InvalidArgument("timestamp out of range: '" + std::string(text) + "'");
  int64_t day_count = sys_days{ymd}.time_since_epoch().count();
  int64_t secs = day_count * 86400 + h * 3600 + mi * 60 + s - int64_t(offset_minutes) * 60;
  int64_t result = secs * 1000 + millis;
  if (result < kMinRfc3339Millis || result > kMaxRfc3339Millis)
    return Status::InvalidArgument("timestamp outside years 0000-9999 in UTC: '" + std::string(text) + "'");
  return result;
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("empty duration");
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data() || n < 0)
    return Status::InvalidArgument("bad duration '" + std::string(text) +
                                   "' (use e.g. 500ms, 30s, 2m, 1h, or seconds)");
  std::string_view unit(end, text.data() + text.size() - end);
  int64_t scale;
  if (unit.empty() || unit == "s") scale = 1000;
  else if (unit == "ms") scale = 1;
  else if (unit == "m") scale = 60'000;
  else if (unit == "h") scale = 3'600'000;
  else
    return Status::InvalidArgument("bad duration unit in '" + std::string(text) +
                                   "' (use ms, s, m or h)");
  if (n > std::numeric_limits<int64_t>::max() / scale)
    return Status::InvalidArgument("duration too large: '" + std::string(text) + "'");
  return std::chrono::milliseconds(n * scale);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace callrec::core
