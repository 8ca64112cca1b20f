// json_nul.h — the NUL character (U+0000) in JSON text, which PostgreSQL's jsonb and text refuse.
//
// Valid JSON cannot hold a raw NUL byte, only the escape "\u0000" inside a string. The intake API
// refuses such input (README "HTTP": 400 naming the field); stores written before that rule may
// still hold it, so the PostgreSQL sync replaces it on the way out instead of failing forever.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace callrec::core {

// True when some string (or key) of the JSON text `json` holds U+0000, i.e. "\u0000" appears as
// an escape (not as the text "\\u0000", an escaped backslash followed by "u0000").
bool HasJsonNulEscape(std::string_view json);

// Replaces every "\u0000" escape in `json` with "\ufffd" (the Unicode replacement character) and
// returns how many it replaced. The text stays valid JSON of the same shape.
size_t ReplaceJsonNulEscapes(std::string& json);

}  // namespace callrec::core
