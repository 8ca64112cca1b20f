#include "core/log.h"

#include "core/mask.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "core/json.h"
#include "core/time_format.h"

namespace callrec::core {
namespace {

LogLevel LevelFromEnv() {
  const char* env = std::getenv("CALLREC_LOG_LEVEL");
  if (env == nullptr) return LogLevel::kInfo;
  if (std::strcmp(env, "debug") == 0) return LogLevel::kDebug;
  if (std::strcmp(env, "warn") == 0) return LogLevel::kWarn;
  if (std::strcmp(env, "error") == 0) return LogLevel::kError;
  return LogLevel::kInfo;
}

std::atomic<int> g_level{int(LevelFromEnv())};
std::atomic<void (*)(std::string_view)> g_sink{nullptr};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(int(level)); }
void SetLogSinkForTest(void (*sink)(std::string_view line)) { g_sink.store(sink); }

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (int(level) < g_level.load(std::memory_order_relaxed)) return;
  // Log lines record real wall time: logs are for people, not for deterministic state.
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  JsonWriter w;
  w.BeginObject();
  w.Key("ts").String(FormatRfc3339Millis(now));
  w.Key("level").String(LevelName(level));
  w.Key("msg").String(msg);
  for (const LogField& f : fields) {
    w.Key(f.key);
    if (auto* s = std::get_if<std::string>(&f.value)) w.String(MaskSecrets(*s));
    else if (auto* i = std::get_if<int64_t>(&f.value)) w.Int(*i);
    else if (auto* d = std::get_if<double>(&f.value)) w.Double(*d);
    else w.Bool(std::get<bool>(f.value));
  }
  w.EndObject();
  std::string line = w.Take();
  if (auto* sink = g_sink.load()) {
    sink(line);
    return;
  }
  line.push_back('\n');
  // One write per line keeps concurrent lines whole (stderr is unbuffered; short writes are rare
  // on pipes below PIPE_BUF and harmless for a log).
  ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
  (void)written;
}

std::string MaskPhone(std::string_view phone) {
  if (phone.size() <= 4) return "\xE2\x80\xA6";
  return "\xE2\x80\xA6" + std::string(phone.substr(phone.size() - 4));
}

}  // namespace callrec::core
