// json.h — writing JSON, and the one way the codebase parses it.
//
// JsonWriter appends to a std::string with no intermediate tree: callers write keys and values
// in order and it places commas. Parsing uses simdjson's DOM API through ParseJson, with a parser
// the caller owns (reuse one per thread; it keeps its buffers between documents).
//
//   JsonWriter w;
//   w.BeginObject(); w.Key("seq"); w.Uint(7); w.Key("type"); w.String("call.answered");
//   w.EndObject();  // w.str() == {"seq":7,"type":"call.answered"}
//
// Thread-safety: a JsonWriter is used by one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "core/status.h"

namespace callrec::core {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);  // escapes; invalid UTF-8 becomes U+FFFD
  JsonWriter& OptString(const std::optional<std::string>& value);  // null when empty
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Requires: `json` is one valid JSON value (checked by the caller); written as is.
  JsonWriter& Raw(std::string_view json);
  // Writes bytes that may or may not be JSON so they survive byte-for-byte: valid JSON is
  // embedded as is, valid UTF-8 text as a string, anything else as {"base64":"..."}.
  JsonWriter& Payload(std::string_view bytes);

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Separate();
  std::string out_;
  std::vector<bool> first_;  // one per open container: no element written yet
  bool after_key_ = false;
};

// Appends `value` as a quoted JSON string to `out`.
void AppendJsonString(std::string& out, std::string_view value);

bool IsValidUtf8(std::string_view bytes);
bool IsValidJson(std::string_view bytes);
std::string Base64Encode(std::string_view bytes);
// Standard alphabet, padding optional, whitespace rejected. kInvalidArgument on bad input.
Result<std::string> Base64Decode(std::string_view text);

// Parses `bytes` (copied into simdjson's padded buffer). The element lives as long as `parser`
// is not reused. kInvalidArgument with simdjson's message when not JSON.
Result<simdjson::dom::element> ParseJson(simdjson::dom::parser& parser, std::string_view bytes);

// Reads a string field by JSON pointer ("/data/payload/to"); nullopt when absent, null or not a
// string.
std::optional<std::string_view> JsonString(simdjson::dom::element root, std::string_view pointer);
std::optional<int64_t> JsonInt(simdjson::dom::element root, std::string_view pointer);

}  // namespace callrec::core
