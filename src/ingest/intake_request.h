// intake_request.h — validating a POST /api/intakes body into the `intake.created` payload.
//
// Body: {"patient_phone": "+1 (555) 123-4567", "id"?, "patient_id"?, "metadata"?}
//   patient_phone  required string, normalised to E.164 (core/phone.h)
//   id             1–64 of [A-Za-z0-9_-]; absent or null: a UUID v4 from the injected source
//   patient_id     string (1–255 bytes) or null; absent means null
//   metadata       object, kept as received (whitespace removed, numbers untouched); absent or
//                  null means {}
// Strings holding U+0000 ("\u0000") are refused in patient_id and anywhere in metadata: PostgreSQL
// cannot store them (text and jsonb), and the mirror must take every intake.
// Unknown or repeated top-level fields are rejected, so a misspelt field is an error instead of
// silently dropped data.
//
// The canonical payload — {"id","patient_phone","patient_id","metadata"} in that order — is what
// the event stores and what a repeated POST is compared with: same id and same canonical
// payload is the same intake; same id and another payload is a conflict.
//
// Thread-safety: pure functions (the random source is called once per generated id).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/intake_id.h"

namespace callrec::ingest {

using core::kMaxIntakeIdChars;
inline constexpr size_t kMaxPatientIdBytes = 255;

struct NewIntake {
  std::string id;
  bool id_generated = false;
  std::string patient_phone;              // E.164
  std::optional<std::string> patient_id;  // nullopt: JSON null
  std::string metadata_json = "{}";       // a JSON object, minified
};

// What is wrong with a body, for {"error": message, "field": field}.
struct FieldError {
  std::string field;  // empty when the body as a whole is wrong (not JSON, not an object)
  std::string message;
};

using RandomSource = std::function<uint64_t()>;

std::variant<NewIntake, FieldError> ParseNewIntake(std::string_view body, const RandomSource& random);

std::string CanonicalIntakePayload(const NewIntake& intake);

// 1–40 of [A-Za-z0-9_-] (core/intake_id.h).
using core::IsValidIntakeId;

// RFC 9562 version 4 (random) UUID in lowercase 8-4-4-4-12 form from 128 random bits.
std::string UuidV4(uint64_t high, uint64_t low);

}  // namespace callrec::ingest
