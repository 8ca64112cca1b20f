#include "core/phone.h"

namespace callrec::core {

Result<std::string> NormalizeE164(std::string_view text) {
  std::string out;
  out.reserve(kMaxE164Digits + 1);
  size_t digits = 0;
  for (char c : text) {
    switch (c) {
      case ' ': case '-': case '.': case '(': case ')':
        continue;  // formatting people type; carries no digits
      case '+':
        if (!out.empty()) return Status::InvalidArgument("'+' may only start the phone number");
        out.push_back(c);
        continue;
      default:
        break;
    }
    if (c < '0' || c > '9') {
      return Status::InvalidArgument(
          "phone number may contain only digits, '+', spaces, dashes, dots and parentheses");
    }
    if (out.empty()) {
      return Status::InvalidArgument("phone number must start with '+' and the country code");
    }
    // Stop early so a hostile megabyte of digits costs nothing more than the first 16.
    if (++digits > kMaxE164Digits) {
      return Status::InvalidArgument("phone number has more than 15 digits");
    }
    out.push_back(c);
  }
  if (out.empty()) return Status::InvalidArgument("phone number is empty");
  if (digits < kMinE164Digits) return Status::InvalidArgument("phone number has fewer than 8 digits");
  return out;
}

}  // namespace callrec::core
