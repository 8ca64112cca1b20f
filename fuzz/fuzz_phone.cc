// Phone normalisation: never crashes; what it returns is E.164 and normalises to itself.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/phone.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace callrec;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto e164 = core::NormalizeE164(text);
  if (!e164.ok()) return 0;
  const std::string& n = *e164;
  if (n.size() < 2 || n[0] != '+' || n.size() > 16) fuzz::PropertyFailed("E.164 shape", n);
  for (size_t i = 1; i < n.size(); ++i)
    if (n[i] < '0' || n[i] > '9') fuzz::PropertyFailed("E.164 digits", n);
  auto again = core::NormalizeE164(n);
  if (!again.ok() || *again != n) fuzz::PropertyFailed("normalise is idempotent", n);
  return 0;
}
