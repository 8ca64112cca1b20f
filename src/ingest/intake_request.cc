#include "ingest/intake_request.h"

#include <simdjson.h>

#include "core/json.h"
#include "core/json_nul.h"
#include "core/phone.h"

namespace callrec::ingest {
namespace {

using simdjson::dom::element_type;

// The object's bytes as received, whitespace outside strings removed. Read with simdjson's
// on-demand API because the DOM would re-print numbers (1e2 -> 100.0).
std::optional<std::string> RawMinifiedField(std::string_view body, std::string_view field) {
  simdjson::padded_string padded(body);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc)) return std::nullopt;
  simdjson::ondemand::object object;
  std::string_view raw;
  if (doc.find_field(field).get_object().get(object) || object.raw_json().get(raw)) {
    return std::nullopt;
  }
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' ||
                          raw.back() == '\t')) {
    raw.remove_suffix(1);
  }
  std::string out(raw.size(), '\0');
  size_t len = 0;
  if (simdjson::minify(raw.data(), raw.size(), out.data(), len)) return std::nullopt;
  out.resize(len);
  return out;
}

std::optional<FieldError> ReadPhone(simdjson::dom::element value, NewIntake& out) {
  std::string_view text;
  if (value.get_string().get(text)) return FieldError{"patient_phone", "patient_phone must be a string"};
  auto e164 = core::NormalizeE164(text);
  if (!e164.ok()) return FieldError{"patient_phone", e164.status().message()};
  out.patient_phone = std::move(*e164);
  return std::nullopt;
}

std::optional<FieldError> ReadId(simdjson::dom::element value, NewIntake& out) {
  if (value.type() == element_type::NULL_VALUE) return std::nullopt;
  std::string_view text;
  if (value.get_string().get(text) || !IsValidIntakeId(text)) {
    return FieldError{"id", std::string(core::IntakeIdRule())};
  }
  out.id = text;
  return std::nullopt;
}

std::optional<FieldError> ReadPatientId(simdjson::dom::element value, NewIntake& out) {
  if (value.type() == element_type::NULL_VALUE) return std::nullopt;
  std::string_view text;
  if (value.get_string().get(text) || text.empty() || text.size() > kMaxPatientIdBytes) {
    return FieldError{"patient_id", "patient_id must be null or a string of 1-255 bytes"};
  }
  if (text.find('\0') != std::string_view::npos) {
    return FieldError{"patient_id", "patient_id must not contain the NUL character (\\u0000)"};
  }
  out.patient_id = std::string(text);
  return std::nullopt;
}

}  // namespace

std::string UuidV4(uint64_t high, uint64_t low) {
  high = (high & ~uint64_t(0xF000)) | 0x4000;                       // version 4
  low = (low & ~(uint64_t(0xC) << 60)) | (uint64_t(0x8) << 60);     // variant 10xx
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 32; ++i) {
    uint64_t word = i < 16 ? high : low;
    int shift = 60 - 4 * (i % 16);
    if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
    out.push_back(kHex[(word >> shift) & 0xF]);
  }
  return out;
}

std::variant<NewIntake, FieldError> ParseNewIntake(std::string_view body, const RandomSource& random) {
  thread_local simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, body);
  if (!root.ok()) return FieldError{"", "body is not JSON: " + root.status().message()};
  simdjson::dom::object object;
  if (root->get_object().get(object)) return FieldError{"", "body must be a JSON object"};

  NewIntake intake;
  bool seen[4] = {false, false, false, false};
  for (auto [key, value] : object) {
    static constexpr std::string_view kFields[] = {"patient_phone", "id", "patient_id", "metadata"};
    size_t i = 0;
    while (i < 4 && key != kFields[i]) ++i;
    if (i == 4) return FieldError{std::string(key), "unknown field '" + std::string(key) + "'"};
    if (seen[i]) return FieldError{std::string(key), "field '" + std::string(key) + "' appears twice"};
    seen[i] = true;
    std::optional<FieldError> error;
    if (i == 0) error = ReadPhone(value, intake);
    if (i == 1) error = ReadId(value, intake);
    if (i == 2) error = ReadPatientId(value, intake);
    if (i == 3 && value.type() != element_type::NULL_VALUE) {
      if (value.type() != element_type::OBJECT) {
        return FieldError{"metadata", "metadata must be a JSON object"};
      }
      auto raw = RawMinifiedField(body, "metadata");
      if (!raw) return FieldError{"metadata", "metadata could not be read"};
      // PostgreSQL's jsonb cannot hold U+0000: refused here, where the sender can still fix it.
      if (core::HasJsonNulEscape(*raw))
        return FieldError{"metadata", "metadata must not contain the NUL character (\\u0000)"};
      intake.metadata_json = std::move(*raw);
    }
    if (error) return *error;
  }
  if (!seen[0]) return FieldError{"patient_phone", "patient_phone is required"};
  if (intake.id.empty()) {
    uint64_t high = random();
    intake.id = UuidV4(high, random());
    intake.id_generated = true;
  }
  return intake;
}

std::string CanonicalIntakePayload(const NewIntake& intake) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("id").String(intake.id);
  w.Key("patient_phone").String(intake.patient_phone);
  w.Key("patient_id").OptString(intake.patient_id);
  w.Key("metadata").Raw(intake.metadata_json);
  w.EndObject();
  return w.Take();
}

}  // namespace callrec::ingest
