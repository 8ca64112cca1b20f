// percent_encoding.h — RFC 3986 percent-encoding of one URL path segment or query component.
//
// Used where URLs are built (the Telnyx and storage clients) and where a stored download URL's
// file name is read back (the projection's recording file-name rule), so both agree byte for
// byte.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace callrec::core {

// Percent-encodes everything outside RFC 3986 "unreserved" (A-Z a-z 0-9 - . _ ~), so a value
// is safe as one path segment or query component: "v3:ab/c" -> "v3%3Aab%2Fc".
inline std::string PercentEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(char(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Decodes %XX escapes ('+' is left alone: paths do not use it for spaces). A malformed escape
// is kept literally, so decoding never fails.
inline std::string PercentDecode(std::string_view value) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '%' && i + 2 < value.size() && hex(value[i + 1]) >= 0 &&
        hex(value[i + 2]) >= 0) {
      out.push_back(char(hex(value[i + 1]) * 16 + hex(value[i + 2])));
      i += 2;
    } else {
      out.push_back(value[i]);
    }
  }
  return out;
}

}  // namespace callrec::core
