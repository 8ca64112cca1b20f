#include "core/intake_id.h"

namespace callrec::core {
namespace {

bool IdOfAtMost(std::string_view id, size_t max_chars) {
  if (id.empty() || id.size() > max_chars) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool IsValidIntakeId(std::string_view id) { return IdOfAtMost(id, kMaxIntakeIdChars); }

bool IsStoredIntakeId(std::string_view id) { return IdOfAtMost(id, kMaxStoredIntakeIdChars); }

std::string_view IntakeIdRule() {
  return "intake ids are 1-40 characters of A-Z, a-z, 0-9, '_' and '-' (Telnyx limits "
         "custom_file_name, which the id becomes, to 40)";
}

}  // namespace callrec::core
