// derived_keys.h — the catalogue of derived-data keys other modules read, and the one encoding
// of a seq inside a key.
//
// The projector writes these keys (projector/projection/projection_keys.h adds its private
// ones); ingest, the CLI, the timeline and the PostgreSQL sync read them. docs/ARCHITECTURE.md
// "Derived data" is the table of what each holds. The grammar:
//
//   intake/<id>                 the intake JSON (README "HTTP"), as GET /api/intakes/{id} serves it
//   state/<state>/<id>          empty: intakes by state
//   link/<id>/<seq:be64>        empty: a webhook event tied to the intake after the fact
//   newest/<~seq:be64>/<id>     empty: intakes newest first (the seq's bits inverted)
//   updated/<seq:be64>/<id>     empty: one per intake, at the seq that last changed it (pg-sync)
//   open/<state>/<id>           empty: the intakes the actor may still act on
//   projector/last_seq          decimal seq the derived data reflects
//   projector/unmatched/<seq:be64>, projector/unmatched_total   webhooks that matched no intake
//
//   seq:be64 := 8 bytes, big-endian, so bytewise key order is numeric order. The event log's own
//   keys (core/event_store.cc) use the same encoding.
//
// Stored names: NEVER rename one (old stores would need a replay).
//
// Thread-safety: constants and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace callrec::core::keys {

inline constexpr std::string_view kIntake = "intake/";
inline constexpr std::string_view kState = "state/";
inline constexpr std::string_view kLink = "link/";
inline constexpr std::string_view kNewest = "newest/";
inline constexpr std::string_view kUpdated = "updated/";
inline constexpr std::string_view kOpen = "open/";
inline constexpr std::string_view kLastSeq = "projector/last_seq";
inline constexpr std::string_view kUnmatched = "projector/unmatched/";
inline constexpr std::string_view kUnmatchedTotal = "projector/unmatched_total";

// 8 big-endian bytes: bytewise order is numeric order.
inline std::string Be64(uint64_t v) {
  char out[8];  // one allocation-free fill, then one string (the replay's hot path)
  for (int i = 0; i < 8; ++i) out[i] = char((v >> (56 - 8 * i)) & 0xFF);
  return std::string(out, 8);
}
// The first 8 bytes of `bytes` as a big-endian number (fewer bytes: those there are).
inline uint64_t DecodeBe64(std::string_view bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i) v = (v << 8) | uint8_t(bytes[i]);
  return v;
}

inline std::string IntakeKey(std::string_view id) { return std::string(kIntake) + std::string(id); }
// state/<state>/ : every intake in `state` (a StateName).
inline std::string StatePrefix(std::string_view state) {
  return std::string(kState) + std::string(state) + "/";
}
inline std::string StateKey(std::string_view state, std::string_view id) {
  return StatePrefix(state) + std::string(id);
}
inline std::string LinkPrefix(std::string_view id) { return std::string(kLink) + std::string(id) + "/"; }
inline std::string LinkKey(std::string_view id, uint64_t seq) { return LinkPrefix(id) + Be64(seq); }
// The derived key pg-sync scans: intake `id` last changed at `seq`.
inline std::string UpdatedKey(uint64_t seq, std::string_view id) {
  return std::string(kUpdated) + Be64(seq) + "/" + std::string(id);
}

}  // namespace callrec::core::keys
