// intake_id.h — the one rule for intake ids (INTERFACE §3): 1–64 of [A-Za-z0-9_-].
//
// The id travels in URLs (/api/intakes/{id}), derived-data keys (`intake/<id>`), file names
// (<storage-dir>/<id>/recording.wav) and Telnyx's custom_file_name; the rule keeps it safe in
// all of them. ingest, projector and tools all check ids with this function.
//
// Thread-safety: pure.
#pragma once

#include <cstddef>
#include <string_view>

namespace callrec::core {

inline constexpr size_t kMaxIntakeIdChars = 64;

bool IsValidIntakeId(std::string_view id);

}  // namespace callrec::core
