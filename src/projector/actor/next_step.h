// next_step.h — what the actor should do next for one intake, and when.
//
// A pure function of the intake's projected state, the pipeline settings and the time, so the
// whole policy is unit-tested without threads, and after a restart the same decision comes out of
// the same state: pending work is never stored anywhere but in the events the state came from.
//
//   state       condition                                        step
//   answered    manual mode, no record_start result yet          kRecordStart, now
//   answered    manual, last result retry/transient, tries left  kRecordStart, last + 1s·2^(n-1) (≤30 s)
//   answered    manual, attempts used up                         kFail(record_start_failed)
//   answered    auto mode, no hangup seen                        kCallStatus (as recording)
//   recording   no hangup seen, never checked                    kCallStatus, answered_at + max_call_duration
//   recording   no hangup seen, checked before                   kCallStatus, at next_attempt_at
//   ended       nothing scheduled yet                            kScheduleFetch, now
//   ended       next_attempt_at set                              kQuery, at next_attempt_at
//   fetched     --storage fs|supabase                            kStore, at next_attempt_at or now
//   stored      --delete-after-upload, not deleted, tries left   kDelete, now
//   anything else (created, recording, failed, final states)     kNone
// `recording` waits for call.hangup, but not forever: a call still "up" after --max-call-duration
// is asked about (GET /v2/calls/{id}); the answer is appended (telnyx.call_status, whose retry_at
// becomes next_attempt_at) and a dead call is declared ended (call.presumed_ended), so a lost
// hangup webhook never strands a recording. `created` waits for call.answered.
//
// Thread-safety: pure.
#pragma once

#include <cstdint>
#include <string>

#include "projector/actor/pipeline_config.h"
#include "projector/projection/intake_state.h"

namespace callrec::projector {

enum class StepKind : uint8_t {
  kNone,
  kRecordStart,
  kScheduleFetch,
  kQuery,
  kStore,
  kDelete,
  kFail,
  kCallStatus,  // a live call: its lane is the one record_start uses (deadlines, not backlog)
};

const char* StepKindName(StepKind kind);

struct Step {
  StepKind kind = StepKind::kNone;
  int64_t due_at_ms = 0;     // run when now >= due_at_ms
  std::string fail_reason;   // kFail: the failure_reason to record
  std::string fail_error;    // kFail: the last_error to record
};

Step NextStep(const IntakeState& intake, const PipelineConfig& config, int64_t now_ms);

}  // namespace callrec::projector
