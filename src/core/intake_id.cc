#include "core/intake_id.h"

namespace callrec::core {

bool IsValidIntakeId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIntakeIdChars) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace callrec::core
