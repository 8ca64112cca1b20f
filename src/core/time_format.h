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

// The instants RFC 3339 can write with its four-digit year, in UTC:
// 0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z. Every time callrec stores or prints lies
// in this range, so whatever it writes it can read back (a value outside would not parse, and a
// stored one would stop `serve` from loading its state).
inline constexpr int64_t kMinRfc3339Millis = -62'167'219'200'000;
inline constexpr int64_t kMaxRfc3339Millis = 253'402'300'799'999;

// 1763651052411 -> "2025-11-20T15:04:12.411Z". Values outside [kMin, kMax]Rfc3339Millis are
// clamped to the nearest bound, so the result always parses: Parse(Format(x)) == clamp(x).
std::string FormatRfc3339Millis(int64_t unix_millis);

// Accepts "2026-11-20T15:04:12Z", fractional seconds of any length (truncated to ms), and
// "Z" or "+hh:mm"/"-hh:mm" offsets (hh <= 23, mm <= 59). Returns Unix milliseconds.
// kInvalidArgument when the instant falls outside [kMin, kMax]Rfc3339Millis once the offset is
// applied (e.g. "0000-01-01T00:30:00+01:00"): callers treat such a time like an absent one
// (a webhook's occurred_at then falls back to when callrec received it).
Result<int64_t> ParseRfc3339Millis(std::string_view text);

// "500ms", "30s", "2m", "1h": a whole number with an optional unit; "90" alone is 90 s.
// Negative, empty, overflowing or unknown units are kInvalidArgument.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// Inverse for messages and logs: 120000ms -> "2m", 1500ms -> "1500ms".
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace callrec::core
