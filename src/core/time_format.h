// time_format.h — RFC 3339 timestamps and human durations.
//
// Events and the projection keep time as int64 Unix milliseconds (UTC); people and JSON see
// RFC 3339 with milliseconds: "2026-11-20T15:04:12.411Z". Durations on the command line accept
// "500ms", "30s", "2m", "1h" or a bare number of seconds.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace callrec::core {

// 1763651052411 -> "2025-11-20T15:04:12.411Z".
std::string FormatRfc3339Millis(int64_t unix_millis);

// Accepts "2026-11-20T15:04:12Z", fractional seconds of any length (truncated to ms), and
// "Z" or "+hh:mm"/"-hh:mm" offsets. Returns Unix milliseconds.
Result<int64_t> ParseRfc3339Millis(std::string_view text);

// "500ms", "30s", "2m", "1h": a whole number with an optional unit; "90" alone is 90 s.
// Negative, empty, overflowing or unknown units are kInvalidArgument.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// Inverse for messages and logs: 120000ms -> "2m", 1500ms -> "1500ms".
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace callrec::core
