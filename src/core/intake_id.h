// intake_id.h — the one rule for intake ids (README "HTTP"): 1–40 of [A-Za-z0-9_-].
//
// The id travels in URLs (/api/intakes/{id}), derived-data keys (`intake/<id>`), file names
// (<storage-dir>/<id>/recording.wav) and Telnyx's custom_file_name, which Telnyx limits to 40
// characters; the rule keeps it safe in all of them. ingest, projector and tools all check ids
// with these functions.
//
// Stores written before the 40-character limit may hold ids of up to 64 characters (the old
// limit). Those intakes stay readable (IsStoredIntakeId: replay, GET, `callrec show`), but no new
// intake may take such an id (IsValidIntakeId: POST /api/intakes, `callrec intake create`).
//
// Thread-safety: pure.
#pragma once

#include <cstddef>
#include <string_view>

namespace callrec::core {

// Telnyx's custom_file_name is 1-40 characters.
inline constexpr size_t kMaxIntakeIdChars = 40;
// The limit before 40: ids of old stores, still readable.
inline constexpr size_t kMaxStoredIntakeIdChars = 64;

// What a new intake may be called: 1-40 of [A-Za-z0-9_-].
bool IsValidIntakeId(std::string_view id);
// What a stored intake may be called: 1-64 of [A-Za-z0-9_-] (ids of old stores included).
bool IsStoredIntakeId(std::string_view id);
// "intake ids are 1-40 characters of A-Z, a-z, 0-9, '_' and '-' (Telnyx's custom_file_name
// limit)": the message every refusal of a new id uses.
std::string_view IntakeIdRule();

}  // namespace callrec::core
