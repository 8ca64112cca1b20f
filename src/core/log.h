// log.h — one JSON line per decision, to stderr.
//
// Every line has "ts" (RFC 3339 ms), "level" and "msg", then the caller's fields in order:
//   LogInfo("webhook.stored", {{"seq", 42}, {"event_type", "call.answered"}});
//   -> {"ts":"2026-11-24T15:04:12.411Z","level":"info","msg":"webhook.stored","seq":42,...}
// Never pass API keys or tokens; pass phone numbers through MaskPhone() (patient data).
// Lines are written with one write(2) each, so concurrent threads never interleave within a line.
//
// Thread-safety: all functions may be called from any thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace callrec::core {

enum class LogLevel : uint8_t { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(std::string(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string(v)) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  LogField(std::string_view k, int64_t v) : key(k), value(v) {}
  LogField(std::string_view k, uint64_t v) : key(k), value(int64_t(v)) {}
  LogField(std::string_view k, int v) : key(k), value(int64_t(v)) {}
  LogField(std::string_view k, unsigned v) : key(k), value(int64_t(v)) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
  std::string_view key;
  std::variant<std::string, int64_t, double, bool> value;
};

// Lines below `level` are dropped. Default kInfo; CALLREC_LOG_LEVEL=debug|info|warn|error.
void SetLogLevel(LogLevel level);
// Tests capture log lines instead of writing them to stderr; nullptr restores stderr.
void SetLogSinkForTest(void (*sink)(std::string_view line));

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
inline void LogInfo(std::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, msg, fields);
}
inline void LogWarn(std::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarn, msg, fields);
}
inline void LogError(std::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, msg, fields);
}
inline void LogDebug(std::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kDebug, msg, fields);
}

// "+15550123456" -> "…3456" (UTF-8 ellipsis); shorter inputs become "…".
std::string MaskPhone(std::string_view phone);

}  // namespace callrec::core
