// NextStep is pure: each row of the table in next_step.h, with an injected "now".
#include "projector/actor/next_step.h"

#include <gtest/gtest.h>

namespace callrec::projector {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kT0 = 1795186800000;  // 2026-11-20T15:00:00.000Z
constexpr int64_t kHour = 3600 * 1000;

IntakeState Answered(State state) {
  IntakeState s;
  s.id = "intake-1";
  s.created_at_ms = kT0 - 60'000;
  s.state = state;
  s.call_control_id = "v3:ccid-1";
  s.answered_at_ms = kT0;
  return s;
}

TEST(NextStepTest, RecordingWithoutHangupIsCheckedAfterMaxCallDuration) {
  PipelineConfig c;  // default --max-call-duration 4h
  IntakeState s = Answered(State::kRecording);
  Step step = NextStep(s, c, kT0 + kHour);
  EXPECT_EQ(step.kind, StepKind::kCallStatus);
  EXPECT_EQ(step.due_at_ms, kT0 + 4 * kHour);  // not before: a long call is not a lost hangup
  EXPECT_STREQ(StepKindName(step.kind), "call_status");

  c.max_call_duration = 1s;
  step = NextStep(s, c, kT0 + 5 * kHour);  // a restart long after: due at once
  EXPECT_EQ(step.kind, StepKind::kCallStatus);
  EXPECT_LE(step.due_at_ms, kT0 + 5 * kHour);
}

TEST(NextStepTest, AliveCallIsCheckedAgainAtNextAttemptAt) {
  PipelineConfig c;
  IntakeState s = Answered(State::kRecording);
  s.call_status_checks = 1;
  s.next_attempt_at_ms = kT0 + 5 * kHour;
  Step step = NextStep(s, c, kT0 + 4 * kHour);
  EXPECT_EQ(step.kind, StepKind::kCallStatus);
  EXPECT_EQ(step.due_at_ms, kT0 + 5 * kHour);
}

TEST(NextStepTest, AutoModeAnsweredWaitsForTheCallStatusToo) {
  PipelineConfig c;
  c.manual_record = false;
  IntakeState s = Answered(State::kAnswered);
  Step step = NextStep(s, c, kT0);
  EXPECT_EQ(step.kind, StepKind::kCallStatus);
  EXPECT_EQ(step.due_at_ms, kT0 + 4 * kHour);
}

TEST(NextStepTest, ManualAnsweredStillStartsTheRecordingFirst) {
  PipelineConfig c;
  Step step = NextStep(Answered(State::kAnswered), c, kT0);
  EXPECT_EQ(step.kind, StepKind::kRecordStart);
  EXPECT_EQ(step.due_at_ms, kT0);
}

TEST(NextStepTest, AHangupOrARecordingEndsTheWait) {
  PipelineConfig c;
  IntakeState s = Answered(State::kRecording);
  s.hangup_at_ms = kT0 + kHour;
  EXPECT_EQ(NextStep(s, c, kT0 + 5 * kHour).kind, StepKind::kNone);
  s.state = State::kEnded;
  EXPECT_EQ(NextStep(s, c, kT0 + 5 * kHour).kind, StepKind::kScheduleFetch);

  IntakeState saved = Answered(State::kFetched);  // call.recording.saved, no hangup
  saved.recording_id = "rec-1";
  EXPECT_EQ(NextStep(saved, c, kT0 + 5 * kHour).kind, StepKind::kNone);  // --storage none: done
  c.storage = StorageKind::kFs;
  EXPECT_EQ(NextStep(saved, c, kT0 + 5 * kHour).kind, StepKind::kStore);
}

TEST(NextStepTest, PresumedEndedIntakeSchedulesItsFetch) {
  PipelineConfig c;
  IntakeState s = Answered(State::kEnded);  // call.presumed_ended: hangup_at set, nothing scheduled
  s.hangup_at_ms = kT0 + 4 * kHour;
  s.hangup_cause = "presumed_ended:not_alive";
  Step step = NextStep(s, c, kT0 + 4 * kHour + 5);
  EXPECT_EQ(step.kind, StepKind::kScheduleFetch);
  EXPECT_EQ(step.due_at_ms, kT0 + 4 * kHour + 5);
}

}  // namespace
}  // namespace callrec::projector
