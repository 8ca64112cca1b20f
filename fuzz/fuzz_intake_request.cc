// POST /api/intakes body parsing. Properties: an accepted body's canonical payload is accepted
// again as the same intake; no accepted intake carries U+0000 (PostgreSQL could not store it).
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "core/json_nul.h"
#include "fuzz_support.h"
#include "ingest/intake_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace callrec;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  uint64_t n = 0;
  auto random = [&n] { return ++n; };
  auto parsed = ingest::ParseNewIntake(body, random);
  if (!std::holds_alternative<ingest::NewIntake>(parsed)) {
    if (std::get<ingest::FieldError>(parsed).message.empty()) fuzz::PropertyFailed("error has a message", "");
    return 0;
  }
  const auto& intake = std::get<ingest::NewIntake>(parsed);
  std::string canonical = ingest::CanonicalIntakePayload(intake);
  if (core::HasJsonNulEscape(canonical)) fuzz::PropertyFailed("no NUL accepted", canonical);
  auto again = ingest::ParseNewIntake(canonical, random);
  if (!std::holds_alternative<ingest::NewIntake>(again))
    fuzz::PropertyFailed("canonical payload is accepted", canonical + " -> " + std::get<ingest::FieldError>(again).message);
  if (ingest::CanonicalIntakePayload(std::get<ingest::NewIntake>(again)) != canonical)
    fuzz::PropertyFailed("canonical payload is a fixed point", canonical);
  return 0;
}
