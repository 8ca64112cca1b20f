#include "core/json_nul.h"

namespace callrec::core {
namespace {

// Calls on_nul(pos) for each "\u0000" escape at `pos`. Backslashes occur only inside strings in
// valid JSON, and each starts a two-character escape (or six for \uXXXX), so skipping pairs keeps
// "\\u0000" (a backslash, then the text u0000) from counting.
template <typename F>
void ForEachNulEscape(std::string_view json, F on_nul) {
  for (size_t i = 0; i < json.size(); ++i) {
    if (json[i] != '\\') continue;
    if (json.compare(i, 6, "\\u0000") == 0) on_nul(i);
    ++i;  // the escaped character
  }
}

}  // namespace

bool HasJsonNulEscape(std::string_view json) {
  bool found = false;
  ForEachNulEscape(json, [&](size_t) { found = true; });
  return found;
}

size_t ReplaceJsonNulEscapes(std::string& json) {
  size_t n = 0;
  ForEachNulEscape(json, [&](size_t pos) {
    json.replace(pos + 2, 4, "fffd");
    ++n;
  });
  return n;
}

}  // namespace callrec::core
