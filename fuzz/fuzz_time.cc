// RFC 3339 and duration parsing. Properties: whatever parses formats to text that parses to the
// same instant (the year-0 brick of issue 11), and a parsed duration formats back to itself.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/time_format.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace callrec;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ms = core::ParseRfc3339Millis(text);
  if (ms.ok()) {
    std::string formatted = core::FormatRfc3339Millis(*ms);
    auto again = core::ParseRfc3339Millis(formatted);
    if (!again.ok() || *again != *ms) fuzz::PropertyFailed("rfc3339 parse -> format -> parse", formatted);
  }
  // Any int64 formats to something that parses (clamped to the four-digit years).
  if (size >= 8) {
    int64_t raw = 0;
    for (int i = 0; i < 8; ++i) raw = (raw << 8) | data[i];
    auto back = core::ParseRfc3339Millis(core::FormatRfc3339Millis(raw));
    if (!back.ok()) fuzz::PropertyFailed("format of any int64 parses", core::FormatRfc3339Millis(raw));
  }
  auto d = core::ParseDuration(text);
  if (d.ok()) {
    std::string formatted = core::FormatDuration(*d);
    auto again = core::ParseDuration(formatted);
    if (!again.ok() || *again != *d) fuzz::PropertyFailed("duration parse -> format -> parse", formatted);
  }
  return 0;
}
