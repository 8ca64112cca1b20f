// intake_queries.h — the reads behind the operator's console: newest-first listing with search,
// counts by state, recent unmatched webhooks, calls per day. All of them read the store's derived
// keys (docs/ARCHITECTURE.md), never the projector's memory, and every scan is bounded so a
// store with 100,000+ intakes answers in milliseconds:
//
//   newest/<~seq:be64>/<id>   newest-first order (the projector writes it once at intake.created)
//   intake/<id>               the intake JSON
//   state/<state>/<id>        state membership (a point read with a bloom filter)
//   projector/unmatched/<seq:be64>, projector/unmatched_total
//
// Bounds (each answer says when it hit one, so a caller can page on or say "partial"):
//   - ListNewest examines at most kMaxSearchExamined index entries per call when it filters
//     (state or q); it returns the cursor where it stopped (`next_before`);
//   - CallsPerDay reads at most kMaxChartExamined of the newest intakes;
//   - CountByState walks the state/ keys (keys only: ~100k keys is a few tens of ms);
//   - RecentUnmatched looks back from the newest unmatched key in growing seq windows.
//
// Thread-safety: stateless apart from the borrowed store; call from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/event_store.h"
#include "core/status.h"

namespace callrec::ingest {

// Measured on the 110,580-intake history_bench store on a loaded 2-core machine: a search that
// examines 20,000 entries took 0.5-1.8 s, so a page examines 5,000 (and the console offers
// "Older" to go on); the chart, polled every 10 s, reads up to 20,000 (1.1-1.7 s).
inline constexpr size_t kMaxSearchExamined = 5000;
inline constexpr size_t kMaxChartExamined = 20000;

struct NewestQuery {
  std::string state;                 // "" = any
  std::string q;                     // "" = no search; else id / patient id / phone digits
  size_t limit = 50;                 // 1..1000
  std::optional<uint64_t> before;    // only intakes created at a seq below this (paging)
};

// {"intakes":[...],"next_before":seq|null,"examined":N}: the page, newest first.
// `next_before` is set when more entries remain past what was examined.
core::Result<std::string> ListNewest(core::EventStore& store, const NewestQuery& query);

// {"counts":{"created":N,...all seven...},"total":N}
core::Result<std::string> CountByState(core::EventStore& store);

// {"total":N,"webhooks":[{"seq","recorded_at","event_type","call_control_id","reason"}...]},
// newest first, at most `limit`.
core::Result<std::string> RecentUnmatched(core::EventStore& store, size_t limit);

// {"days":[{"day":"YYYY-MM-DD","<state>":N,...}...] oldest first, for the `days` UTC days ending
// on the day of `now_ms`; "examined":N, "complete":bool (false when the bound cut the scan).
core::Result<std::string> CallsPerDay(core::EventStore& store, int64_t now_ms, int days);

// True when `q` finds this intake: a substring of its id or patient id, or (at least 3 digits,
// ignoring '+', spaces and dashes) the end of its phone number. Exposed for tests.
bool IntakeMatches(std::string_view id, std::string_view patient_id, std::string_view phone,
                   std::string_view q);

}  // namespace callrec::ingest
