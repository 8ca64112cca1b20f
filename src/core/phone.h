// phone.h — patient phone numbers in one canonical form (E.164).
//
// The clinic types numbers as people write them ("+1 (555) 123-4567"); Telnyx sends them as
// "+15551234567". Both sides go through NormalizeE164 so the intake API stores, and the projector
// matches, one spelling per number.
//
// Thread-safety: pure functions.
//
//   CALLREC_ASSIGN_OR_RETURN(std::string e164, NormalizeE164("+1 (555) 123-4567"));
//   // e164 == "+15551234567"
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace callrec::core {

inline constexpr size_t kMinE164Digits = 8;
inline constexpr size_t kMaxE164Digits = 15;  // ITU-T E.164's maximum

// Drops spaces, dashes, dots and parentheses; the rest must be '+' followed by 8–15 ASCII digits.
// kInvalidArgument (message fit for an API client, without the number itself) otherwise.
Result<std::string> NormalizeE164(std::string_view text);

}  // namespace callrec::core
