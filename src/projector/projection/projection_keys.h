// projection_keys.h — the derived-data keys the projection writes, in one place (internal to
// projection*.cc). The keys other modules read, and the seq encoding, are core's
// (core/derived_keys.h); this file names them here and adds the projector-private ones.
// docs/ARCHITECTURE.md has the table; projection.h says what each holds and who reads it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/derived_keys.h"
#include "projector/projection/intake_state.h"

namespace callrec::projector::keys {

// Stored names: never rename (old stores would need a replay).
using core::keys::kIntake;
using core::keys::kLastSeq;
using core::keys::kLink;
using core::keys::kNewest;
using core::keys::kOpen;
using core::keys::kState;
using core::keys::kUnmatched;
using core::keys::kUnmatchedTotal;
using core::keys::kUpdated;
inline constexpr std::string_view kFormat = "projector/format";
inline constexpr std::string_view kSettings = "projector/settings";
inline constexpr std::string_view kPhone = "projector/phone/";
inline constexpr std::string_view kUnbound = "projector/unbound/";
inline constexpr std::string_view kCall = "projector/call/";
inline constexpr std::string_view kOrphan = "projector/orphan/";
inline constexpr std::string_view kIntakeSeq = "projector/updated/";
inline constexpr std::string_view kAmbiguousTotal = "projector/ambiguous_total";
inline constexpr std::string_view kWaitingCall = "projector/waiting_call/";

// The derived-data layout this code writes. 2 added open/, projector/unbound/ and
// projector/updated/ (so finished intakes can live only in the store); a store at an older
// format is rebuilt from the log before serving (Projector::Open). 3: intakes record how they
// were matched (metadata.match, call_direction), duration_millis and the public Supabase URL;
// projector/waiting_call/ and projector/ambiguous_total.
inline constexpr int kFormatVersion = 3;

using core::keys::Be64;
using core::keys::DecodeBe64;
using core::keys::IntakeKey;
using core::keys::UpdatedKey;
// A signed time as 8 bytes that sort in numeric order (sign bit flipped).
inline std::string TimeBe64(int64_t ms) { return Be64(uint64_t(ms) ^ (uint64_t(1) << 63)); }

inline std::string StateKey(State state, std::string_view id) {
  return core::keys::StateKey(StateName(state), id);
}
inline std::string OpenPrefix(State state) {
  return std::string(kOpen) + std::string(StateName(state)) + "/";
}
inline std::string OpenKey(State state, std::string_view id) { return OpenPrefix(state) + std::string(id); }
inline std::string IntakeSeqKey(std::string_view id) { return std::string(kIntakeSeq) + std::string(id); }
inline std::string PhoneKey(std::string_view e164, std::string_view id) {
  return std::string(kPhone) + std::string(e164) + "/" + std::string(id);
}
inline std::string UnboundPrefix(std::string_view e164) {
  return std::string(kUnbound) + std::string(e164) + "/";
}
// projector/unbound/<e164>/<created_ms:be64>/<created_seq:be64>/<id>: the last key of a time
// range is the most recent creation, ties broken by seq, as the matching rule wants.
inline std::string UnboundKey(std::string_view e164, int64_t created_ms, uint64_t created_seq,
                              std::string_view id) {
  return UnboundPrefix(e164) + TimeBe64(created_ms) + "/" + Be64(created_seq) + "/" + std::string(id);
}
// Byte offsets inside an unbound key after its prefix.
inline constexpr size_t kUnboundTimeBytes = 8;
inline constexpr size_t kUnboundIdOffset = 8 + 1 + 8 + 1;

}  // namespace callrec::projector::keys
