#include "projector/projection/intake_state.h"

#include <gtest/gtest.h>

#include "matchers/status_matchers.h"
#include "projector/event_builders.h"

namespace callrec::projector {
namespace {

using testing::kMin;
using testing::kSec;
using testing::kT0;

IntakeState FullIntake() {
  IntakeState s;
  s.id = "intake_8f14e45f";
  s.patient_phone = "+15550123456";
  s.patient_id = "p-17";
  s.created_at_ms = kT0;
  s.updated_at_ms = kT0 + 10 * kMin + 123;
  s.state = State::kStored;
  s.fetch_attempts = 2;
  s.next_attempt_at_ms = kT0 + 12 * kMin;
  s.last_error = "line1\nline2 \"quoted\" \x01 ü";
  s.call_control_id = "v3:abc";
  s.call_session_id = "session-1";
  s.call_leg_id = "leg-1";
  s.recording_started_at_ms = kT0 + 5 * kSec;
  s.recording_id = "rec-1";
  s.recording_url_telnyx = "https://x/y/intake_8f14e45f-1.wav?a=b&c=d";
  s.recording_duration_ms = 334798;
  s.recording_fetched_at_ms = kT0 + 9 * kMin;
  s.recording_url_supabase = "https://sb/storage/v1/object/public/b/intake_8f14e45f.wav";
  s.recording_migrated_at_ms = kT0 + 10 * kMin;
  s.answered_at_ms = kT0 + 4 * kSec;
  s.hangup_at_ms = kT0 + 6 * kMin;
  s.hangup_cause = "normal_clearing";
  s.record_start_attempts = 3;
  s.record_start_last_at_ms = kT0 + 6 * kSec;
  s.fetch_queries = 3;
  s.first_query_at_ms = kT0 + 8 * kMin;
  s.storage_attempts = 1;
  s.recording_sha256 = std::string(64, 'a');
  s.recording_deleted_at_ms = kT0 + 11 * kMin;
  s.verified_ids = {"rec-1", "rec-0"};
  s.user_metadata = {{"clinic", R"("north")"}, {"tags", R"(["a",{"b":1.5,"c":null}])"}};
  return s;
}

TEST(IntakeStateTest, JsonHasTheInterfaceShapeInFixedOrder) {
  IntakeState s;
  s.id = "i1";
  s.patient_phone = "+15550123456";
  s.created_at_ms = kT0;
  s.updated_at_ms = kT0;
  EXPECT_EQ(IntakeToJson(s),
            R"({"id":"i1","patient_phone":"+15550123456","patient_id":null,)"
            R"("created_at":"2026-11-20T15:00:00.000Z","updated_at":"2026-11-20T15:00:00.000Z",)"
            R"("state":"created","failure_reason":null,"fetch_attempts":0,"next_attempt_at":null,)"
            R"("last_error":null,"metadata":{"call_control_id":null,"call_session_id":null,)"
            R"("call_leg_id":null,"recording_started_at":null,"recording_id":null,)"
            R"("recording_url_telnyx":null,"recording_duration":null,"recording_fetched_at":null,)"
            R"("recording_url_supabase":null,"recording_migrated_at":null,)"
            R"("recording_url_storage":null,"answered_at":null,"hangup_at":null,)"
            R"("hangup_cause":null,"record_start_attempts":0,"record_start_last_at":null,)"
            R"("fetch_queries":0,"first_query_at":null,"storage_attempts":0,)"
            R"("recording_sha256":null,"recording_deleted_at":null,"delete_attempts":0,"verified_ids":[],)"
            R"("match":null,"match_candidates":[],"call_direction":null,"call_direction_source":null,)"
            R"("record_start_retries":0}})");
}

TEST(IntakeStateTest, RoundTripsEveryFieldByteForByte) {
  IntakeState s = FullIntake();
  std::string json = IntakeToJson(s);
  auto back = IntakeFromJson(json);
  ASSERT_OK(back);
  EXPECT_EQ(*back, s);
  EXPECT_EQ(IntakeToJson(*back), json);
  EXPECT_NE(json.find(R"("recording_duration":334798,)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("clinic":"north","tags":["a",{"b":1.5,"c":null}]})"), std::string::npos);
}

TEST(IntakeStateTest, EveryStateAndReasonRoundTrips) {
  for (State state : kAllStates) {
    IntakeState s = FullIntake();
    s.state = state;
    s.failure_reason = state == State::kFailed ? std::optional(FailureReason::kUploadFailed)
                                               : std::nullopt;
    auto back = IntakeFromJson(IntakeToJson(s));
    ASSERT_OK(back);
    EXPECT_EQ(back->state, state);
    EXPECT_EQ(back->failure_reason, s.failure_reason);
  }
  for (auto name : {"record_start_failed", "recording_not_found", "download_failed",
                    "upload_failed", "gave_up"}) {
    auto reason = ParseFailureReason(name);
    ASSERT_TRUE(reason.has_value()) << name;
    EXPECT_EQ(FailureReasonName(*reason), name);
  }
  EXPECT_FALSE(ParseState("Created").has_value());
  EXPECT_FALSE(ParseFailureReason("timeout").has_value());
}

TEST(IntakeStateTest, DurationsUseTheShortestExactText) {
  EXPECT_EQ(FormatNumber(12), "12");
  EXPECT_EQ(FormatNumber(334.798), "334.798");
  EXPECT_EQ(FormatNumber(0.1 + 0.2), "0.30000000000000004");
  IntakeState s = FullIntake();
  for (int64_t ms : {int64_t{0}, int64_t{1}, int64_t{334798}, int64_t{14400000}}) {
    s.recording_duration_ms = ms;
    std::string json = IntakeToJson(s);
    EXPECT_NE(json.find("\"recording_duration\":" + std::to_string(ms) + ","), std::string::npos)
        << "an integer, milliseconds (README \"HTTP\", the intake)";
    auto back = IntakeFromJson(json);
    ASSERT_OK(back);
    EXPECT_EQ(back->recording_duration_ms, ms);
  }
}

TEST(IntakeStateTest, RejectsRecordsItDidNotWrite) {
  std::string good = IntakeToJson(FullIntake());
  auto replace = [&](std::string_view from, std::string_view to) {
    std::string s = good;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  for (const std::string& bad : {
           std::string("not json"),
           std::string("[]"),
           replace(R"("state":"stored")", R"("state":"done")"),
           replace(R"("state":"stored")", R"("state":3)"),
           replace(R"("created_at":"2026-11-20T15:00:00.000Z")", R"("created_at":"yesterday")"),
           replace(R"("created_at":"2026-11-20T15:00:00.000Z")", R"("created_at":null)"),
           replace(R"("fetch_attempts":2)", R"("fetch_attempts":"2")"),
           replace(R"("id":"intake_8f14e45f")", R"("id":"a/b")"),
           replace(R"("id":"intake_8f14e45f",)", ""),
           replace(R"("verified_ids":["rec-1","rec-0"])", R"("verified_ids":[1])"),
           replace(R"("last_error")", R"("surprise")"),
       }) {
    auto parsed = IntakeFromJson(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), core::StatusCode::kCorruption);
    }
  }
}

TEST(IntakeStateTest, IntakeIdsAreSafeKeyComponents) {
  EXPECT_TRUE(IsValidIntakeId("intake_8f14e45f"));
  EXPECT_TRUE(IsValidIntakeId("A-z_0"));
  EXPECT_TRUE(IsValidIntakeId(std::string(40, 'x')));
  EXPECT_FALSE(IsValidIntakeId(""));
  EXPECT_FALSE(IsValidIntakeId(std::string(41, 'x')));
  // Ids of stores written before the 40-character limit stay readable.
  EXPECT_TRUE(core::IsStoredIntakeId(std::string(64, 'x')));
  EXPECT_FALSE(core::IsStoredIntakeId(std::string(65, 'x')));
  EXPECT_FALSE(IsValidIntakeId("a/b"));
  EXPECT_FALSE(IsValidIntakeId("a b"));
  EXPECT_FALSE(IsValidIntakeId("ü"));
  EXPECT_FALSE(IsValidIntakeId(std::string("a\0b", 3)));
}

TEST(IntakeStateTest, ReservedKeysAreTheOnesItWrites) {
  IntakeState s = FullIntake();
  s.user_metadata.clear();
  auto parsed = IntakeFromJson(IntakeToJson(s));
  ASSERT_OK(parsed);
  EXPECT_TRUE(parsed->user_metadata.empty()) << "a written key was not recognised as reserved";
  EXPECT_TRUE(IsReservedMetadataKey("recording_id"));
  EXPECT_TRUE(IsReservedMetadataKey("recording_url_storage"));
  EXPECT_FALSE(IsReservedMetadataKey("clinic"));
}

TEST(IntakeStateTest, TransitionHelpers) {
  IntakeState s = FullIntake();
  s.state = State::kEnded;
  FailIntake(s, FailureReason::kRecordingNotFound, "10 queries, nothing");
  EXPECT_EQ(s.state, State::kFailed);
  EXPECT_EQ(s.failure_reason, FailureReason::kRecordingNotFound);
  EXPECT_EQ(s.last_error, "10 queries, nothing");
  EXPECT_FALSE(s.next_attempt_at_ms.has_value());
  EXPECT_TRUE(s.is_final());
  MarkFetched(s, kT0 + kMin);
  EXPECT_EQ(s.state, State::kFetched);
  EXPECT_FALSE(s.failure_reason.has_value());
  EXPECT_FALSE(s.last_error.has_value());
  EXPECT_EQ(s.recording_fetched_at_ms, kT0 + kMin);
  EXPECT_EQ(s.storage_attempts, 0);
  EXPECT_FALSE(s.is_final());
}

}  // namespace
}  // namespace callrec::projector
