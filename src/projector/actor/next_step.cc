#include "projector/actor/next_step.h"

#include <algorithm>

namespace callrec::projector {

const char* StepKindName(StepKind kind) {
  switch (kind) {
    case StepKind::kNone: return "none";
    case StepKind::kRecordStart: return "record_start";
    case StepKind::kScheduleFetch: return "schedule_fetch";
    case StepKind::kQuery: return "query";
    case StepKind::kStore: return "store";
    case StepKind::kDelete: return "delete";
    case StepKind::kFail: return "fail";
    case StepKind::kCallStatus: return "call_status";
  }
  return "none";
}

namespace {

Step RecordStartStep(const IntakeState& s, const PipelineConfig& c, int64_t now_ms) {
  if (s.record_start_attempts == 0) return {StepKind::kRecordStart, now_ms, "", ""};
  if (s.record_start_attempts >= c.record_start_max_attempts)
    return {StepKind::kFail, now_ms, "record_start_failed",
            "record_start gave up after " + std::to_string(s.record_start_attempts) +
                " attempts: " + s.last_error.value_or("no detail")};
  // 1 s, 2 s, 4 s ... capped: 90020 clears within a second or two once audio flows.
  int64_t delay = c.record_start_retry.count() << std::min<int64_t>(s.record_start_attempts - 1, 5);
  delay = std::min<int64_t>(delay, 30'000);
  return {StepKind::kRecordStart, s.record_start_last_at_ms.value_or(now_ms) + delay, "", ""};
}

// A call without its hangup: asked about once it has lasted --max-call-duration, then whenever
// the last answer said to ask again (next_attempt_at).
Step CallStatusStep(const IntakeState& s, const PipelineConfig& c) {
  if (c.max_call_duration.count() <= 0 || !s.call_bound()) return {};
  if (s.next_attempt_at_ms) return {StepKind::kCallStatus, *s.next_attempt_at_ms, "", ""};
  int64_t answered = s.answered_at_ms.value_or(s.created_at_ms);
  return {StepKind::kCallStatus, answered + c.max_call_duration.count(), "", ""};
}

}  // namespace

Step NextStep(const IntakeState& s, const PipelineConfig& c, int64_t now_ms) {
  switch (s.state) {
    case State::kAnswered:
      if (s.hangup_seen()) return {};
      if (c.manual_record) return RecordStartStep(s, c, now_ms);
      return CallStatusStep(s, c);
    case State::kRecording:
      if (s.hangup_seen()) return {};
      return CallStatusStep(s, c);
    case State::kEnded:
      if (!s.next_attempt_at_ms) return {StepKind::kScheduleFetch, now_ms, "", ""};
      return {StepKind::kQuery, *s.next_attempt_at_ms, "", ""};
    case State::kFetched:
      if (c.storage == StorageKind::kNone) return {};
      return {StepKind::kStore, s.next_attempt_at_ms.value_or(now_ms), "", ""};
    case State::kStored:
      if (c.delete_after_upload && !s.recording_deleted_at_ms &&
          s.delete_attempts < c.delete_max_attempts)
        return {StepKind::kDelete, s.next_attempt_at_ms.value_or(now_ms), "", ""};
      return {};
    case State::kCreated:
    case State::kFailed:
      return {};
  }
  return {};
}

}  // namespace callrec::projector
