// timeline.h — one intake's story, one line per event, for support engineers.
//
// An intake's events are those appended with its id (the store's intake index) plus the webhooks
// the projector tied to it afterwards (derived keys `link/<id>/<seq:be64>`): two range reads,
// merged in seq order — never a scan of the log, so it stays fast as the log grows.
//
// Summaries are written for a person reading an incident: "call.answered, patient …4567, call
// v3:…Yw2a", "record_start → 200 in 84 ms", "recordings list → 200, 0 of 3 verified (other
// calls)", "fetch #3 scheduled for 15:12:00", "matched rec 7b2f…4b11, 334.8 s", "stored, sha256
// ab12…". Phone numbers are masked to their last 4 digits.
//
// Thread-safety: pure functions over a store the caller owns.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/event_store.h"
#include "core/status.h"

namespace callrec::core {

struct TimelineEntry {
  Event event;
  std::string summary;
};

// The derived key that ties event `seq` to an intake's timeline.
std::string TimelineLinkKey(std::string_view intake_id, uint64_t seq);

// Events of `intake_id` in seq order. An unknown intake gives an empty list (the caller decides
// whether that is an error: it checks `intake/<id>` exists).
Result<std::vector<TimelineEntry>> LoadTimeline(EventStore& store, std::string_view intake_id);

// One line, no newline.
std::string SummarizeEvent(const Event& event);

// {"intake_id":..,"events":[{"seq","type","recorded_at","source","summary","payload"},...]}:
// the body of GET /api/intakes/{id}/timeline and the output of `callrec timeline --json`.
std::string TimelineJson(std::string_view intake_id, const std::vector<TimelineEntry>& entries);

// "v3:MdI9…Yw2a" -> "v3:…Yw2a"; "7b2f9c52-…-0c3e7a9d4b11" -> "7b2f…4b11".
std::string ShortId(std::string_view id);

}  // namespace callrec::core
