// Projection: the intake lifecycle through API results, scheduler decisions and operator actions.
// Call matching and webhook orderings are in projection_webhooks_test.cc.
#include "projector/projection/projection.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/derived_keys.h"
#include "matchers/status_matchers.h"
#include "projector/event_builders.h"
#include "projector/projection_harness.h"

namespace callrec::projector {
namespace {

using namespace callrec::testing;  // NOLINT: builders

const std::string kId = "intake-1";

std::string ReadSample(const std::string& name) {
  std::ifstream in(std::string(CALLREC_SOURCE_DIR) + "/data/webhooks/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// created -> answered -> (record_start ok) -> recording, on call `call`.
class LifecycleTest : public ::testing::Test {
 protected:
  void CreateAndAnswer(bool start_recording = true) {
    h.Apply(ServiceStarted(kT0 - kMin));
    h.Apply(IntakeCreated(kT0, kId, "+15550123456"));
    h.Apply(Webhook(kT0 + 40 * kSec, "call.answered", "wh-ans", call));
    if (start_recording) h.Apply(RecordStart(kT0 + 41 * kSec, kId, "ok"));
  }
  void HangUp(int64_t at = kT0 + 5 * kMin) { h.Apply(Webhook(at, "call.hangup", "wh-hup", call)); }
  void Fetch(int64_t at = kT0 + 8 * kMin) {
    h.Apply(Matched(at, kId, "rec-1", RecordingUrl(kId), 334.798));
  }
  const IntakeState& s() { return h.Get(kId); }

  ProjectionHarness h;
  Call call;
};

TEST_F(LifecycleTest, HappyPathEndsStoredWithEverySeedKey) {
  h.Apply(ServiceStarted(kT0 - kMin));
  EXPECT_EQ(h.Apply(IntakeCreated(kT0, kId, "+1 (555) 012-3456", "p-9")),
            std::vector<std::string>{kId});
  EXPECT_EQ(s().state, State::kCreated);
  EXPECT_EQ(s().patient_phone, "+15550123456");
  h.Flush();
  EXPECT_TRUE(h.HasKey("state/created/" + kId));

  h.Apply(Webhook(kT0 + 30 * kSec, "call.initiated", "wh-init", call));  // seq 3: before answer
  EXPECT_EQ(h.projection.orphan_count(), 1u);
  EXPECT_EQ(h.Apply(Webhook(kT0 + 41 * kSec, "call.answered", "wh-ans", call, kT0 + 40 * kSec)),
            std::vector<std::string>{kId});
  EXPECT_EQ(h.projection.orphan_count(), 0u);
  EXPECT_EQ(s().state, State::kAnswered);
  EXPECT_EQ(s().call_control_id, call.ccid);
  EXPECT_EQ(s().call_leg_id, call.leg);
  EXPECT_EQ(s().call_session_id, call.session);
  EXPECT_EQ(s().answered_at_ms, kT0 + 40 * kSec);  // Telnyx's occurred_at

  h.Apply(RecordStart(kT0 + 42 * kSec, kId, "ok"));
  EXPECT_EQ(s().state, State::kRecording);
  EXPECT_EQ(s().recording_started_at_ms, kT0 + 42 * kSec);
  EXPECT_EQ(s().record_start_attempts, 1);

  HangUp();  // seq 6
  EXPECT_EQ(s().state, State::kEnded);
  EXPECT_EQ(s().hangup_at_ms, kT0 + 5 * kMin);
  EXPECT_EQ(s().hangup_cause, "normal_clearing");

  h.Apply(FetchScheduled(kT0 + 5 * kMin + 1, kId, 1, 0, kT0 + 7 * kMin));
  EXPECT_EQ(s().next_attempt_at_ms, kT0 + 7 * kMin);
  EXPECT_EQ(s().fetch_queries, 1);
  h.Apply(RecordingsList(kT0 + 7 * kMin, kId, "not_found"));
  EXPECT_EQ(s().first_query_at_ms, kT0 + 7 * kMin);
  EXPECT_EQ(s().state, State::kEnded);
  EXPECT_FALSE(s().last_error.has_value()) << "not found yet is not an error";
  h.Apply(FetchScheduled(kT0 + 7 * kMin + 1, kId, 2, 1, kT0 + 8 * kMin));
  EXPECT_EQ(s().fetch_attempts, 1);
  EXPECT_EQ(s().fetch_queries, 2);
  h.Apply(RecordingsList(kT0 + 8 * kMin, kId, "ok"));
  EXPECT_EQ(s().first_query_at_ms, kT0 + 7 * kMin) << "the first query's time is kept";

  Fetch(kT0 + 8 * kMin + 5);
  EXPECT_EQ(s().state, State::kFetched);
  EXPECT_EQ(s().recording_id, "rec-1");
  EXPECT_EQ(s().recording_url_telnyx, RecordingUrl(kId));
  // An old recording.matched (seconds only) gives Telnyx's integer milliseconds back exactly.
  EXPECT_EQ(s().recording_duration_ms, 334798);
  EXPECT_EQ(s().recording_fetched_at_ms, kT0 + 8 * kMin + 5);
  EXPECT_EQ(s().verified_ids, std::vector<std::string>{"rec-1"});
  EXPECT_FALSE(s().next_attempt_at_ms.has_value());

  std::string fresh = RecordingUrl(kId, 1795188000);
  h.Apply(RecordingGet(kT0 + 9 * kMin, kId, "ok",
                       R"({"data":{"id":"rec-1","download_urls":{"wav":")" + fresh + R"("}}})"));
  EXPECT_EQ(s().recording_url_telnyx, fresh);

  std::string location = "https://sb.example/storage/v1/object/public/call-recordings/intake-1.wav";
  h.Apply(StorageUpload(kT0 + 9 * kMin + 10, kId,
                        UploadOk(location, std::string(64, 'f'))));
  EXPECT_EQ(s().state, State::kStored);
  EXPECT_EQ(s().recording_url_supabase, location);
  EXPECT_EQ(s().recording_migrated_at_ms, kT0 + 9 * kMin + 10);
  EXPECT_EQ(s().recording_sha256, std::string(64, 'f'));
  EXPECT_EQ(s().updated_at_ms, kT0 + 9 * kMin + 10);
  EXPECT_TRUE(s().is_final());

  h.Flush();
  EXPECT_EQ(h.derived["intake/" + kId], IntakeToJson(s()));
  EXPECT_TRUE(h.HasKey("state/stored/" + kId));
  EXPECT_FALSE(h.HasKey("state/created/" + kId)) << "the old state key must be deleted";
  EXPECT_EQ(h.derived.lower_bound("state/")->first, "state/stored/" + kId);
  EXPECT_TRUE(h.HasLink(kId, 3)) << "call.initiated delivered before the answer";
  EXPECT_TRUE(h.HasLink(kId, 4));
  EXPECT_TRUE(h.HasLink(kId, 6));
  EXPECT_FALSE(h.HasLink(kId, 5)) << "API results are in the intake index, not linked";
  EXPECT_EQ(h.derived["projector/last_seq"], std::to_string(h.seq()));
  // pg-sync's change index: one key per intake, at the seq of its last change.
  auto updated = h.derived.lower_bound("updated/");
  ASSERT_NE(updated, h.derived.end());
  EXPECT_EQ(updated->first, core::keys::UpdatedKey(h.seq(), kId));
  EXPECT_TRUE(std::next(updated) == h.derived.end() ||
              std::next(updated)->first.rfind("updated/", 0) != 0)
      << "the key of the earlier change (seq 2) must be gone";
  EXPECT_EQ(h.derived["projector/call/c/" + call.ccid], kId);
  EXPECT_EQ(h.derived["projector/call/s/" + call.session], kId);
}

TEST_F(LifecycleTest, DuplicateFactsChangeNothing) {
  CreateAndAnswer();
  HangUp();
  int64_t updated = s().updated_at_ms;
  std::string before = IntakeToJson(s());
  h.Flush();
  uint64_t changed_at = h.seq();
  EXPECT_TRUE(h.Apply(Webhook(kT0 + 6 * kMin, "call.hangup", "wh-hup-2", call)).empty());
  EXPECT_TRUE(h.Apply(Webhook(kT0 + 6 * kMin, "call.answered", "wh-ans-2", call)).empty());
  EXPECT_EQ(IntakeToJson(s()), before);
  EXPECT_EQ(s().updated_at_ms, updated);
  h.Flush();
  EXPECT_TRUE(h.HasKey(core::keys::UpdatedKey(changed_at, kId))) << "pg-sync has nothing new to copy";
  EXPECT_TRUE(h.HasLink(kId, h.seq())) << "but the timeline shows the redelivery";
}

TEST_F(LifecycleTest, StorageNoneEndsFetchedAndDeleteIsNoted) {
  CreateAndAnswer();
  HangUp();
  Fetch();
  EXPECT_EQ(s().state, State::kFetched);
  h.Apply(RecordingDelete(kT0 + 9 * kMin, kId, "ok"));
  EXPECT_EQ(s().recording_deleted_at_ms, kT0 + 9 * kMin);
  EXPECT_EQ(s().state, State::kFetched);
  h.Apply(RecordingDelete(kT0 + 10 * kMin, kId, "ok"));
  EXPECT_EQ(s().recording_deleted_at_ms, kT0 + 9 * kMin) << "first deletion time kept";
}

TEST_F(LifecycleTest, RecordStartFailureCopiesTelnyxDetail) {
  CreateAndAnswer(/*start_recording=*/false);
  h.Apply(RecordStart(kT0 + 41 * kSec, kId, "failed", 422, ReadSample("api.error.422.json")));
  EXPECT_EQ(s().state, State::kFailed);
  EXPECT_EQ(s().failure_reason, FailureReason::kRecordStartFailed);
  ASSERT_TRUE(s().last_error.has_value());
  EXPECT_NE(s().last_error->find("This call is no longer active and can't receive commands."),
            std::string::npos) << *s().last_error;
  EXPECT_NE(s().last_error->find("90018"), std::string::npos);
  EXPECT_FALSE(s().next_attempt_at_ms.has_value());
}

TEST_F(LifecycleTest, RecordStartFailureWithoutBodyUsesEnvelopeError) {
  CreateAndAnswer(false);
  h.Apply(RecordStart(kT0 + 41 * kSec, kId, "failed", 0, "", "connection refused"));
  EXPECT_EQ(s().state, State::kFailed);
  EXPECT_EQ(s().last_error, "record_start failed: connection refused");
}

TEST_F(LifecycleTest, RecordStartRetriesAreCountedUntilOk) {
  CreateAndAnswer(false);
  h.Apply(RecordStart(kT0 + 41 * kSec, kId, "transient", 503, "", "HTTP 503"));
  EXPECT_EQ(s().state, State::kAnswered);
  EXPECT_EQ(s().record_start_attempts, 1);
  EXPECT_EQ(s().last_error, "record_start: HTTP 503");
  h.Apply(RecordStart(kT0 + 43 * kSec, kId, "retry", 429,
                      R"({"errors":[{"code":"10011","title":"Too many requests"}]})"));
  EXPECT_EQ(s().record_start_attempts, 2);
  EXPECT_EQ(s().last_error, "record_start: Too many requests (code 10011)");
  EXPECT_EQ(s().record_start_last_at_ms, kT0 + 43 * kSec);
  h.Apply(RecordStart(kT0 + 45 * kSec, kId, "ok"));
  EXPECT_EQ(s().state, State::kRecording);
  EXPECT_EQ(s().record_start_attempts, 3);
  EXPECT_FALSE(s().last_error.has_value()) << "recording started: the old error is resolved";
}

TEST_F(LifecycleTest, RecordStartFailingAfterHangupFailsOnlyWhenNothingRecorded) {
  CreateAndAnswer(false);
  HangUp();
  EXPECT_EQ(s().state, State::kEnded);
  h.Apply(RecordStart(kT0 + 5 * kMin + 1, kId, "failed", 422, ReadSample("api.error.422.json")));
  EXPECT_EQ(s().state, State::kFailed);

  ProjectionHarness other;
  other.Apply(IntakeCreated(kT0, kId, "+15550123456"));
  other.Apply(Webhook(kT0 + 40 * kSec, "call.answered", "wh-ans", call));
  other.Apply(RecordStart(kT0 + 41 * kSec, kId, "ok"));
  other.Apply(Webhook(kT0 + 5 * kMin, "call.hangup", "wh-hup", call));
  other.Apply(RecordStart(kT0 + 5 * kMin + 1, kId, "failed", 422, ReadSample("api.error.422.json")));
  EXPECT_EQ(other.Get(kId).state, State::kEnded) << "a recording started; polling decides";
}

TEST_F(LifecycleTest, StaleScheduleOnAFinishedIntakeIsIgnored) {
  CreateAndAnswer();
  HangUp();
  Fetch();
  std::string before = IntakeToJson(s());
  EXPECT_TRUE(h.Apply(FetchScheduled(kT0 + 9 * kMin, kId, 3, 2, kT0 + 10 * kMin)).empty());
  EXPECT_EQ(IntakeToJson(s()), before);
}

TEST_F(LifecycleTest, StorageTransientSchedulesThenFileStorageStores) {
  CreateAndAnswer();
  HangUp();
  Fetch();
  h.Apply(StorageUpload(kT0 + 9 * kMin, kId,
                        UploadTransient("HTTP 503", kT0 + 10 * kMin)));
  EXPECT_EQ(s().state, State::kFetched);
  EXPECT_EQ(s().storage_attempts, 1);
  EXPECT_EQ(s().next_attempt_at_ms, kT0 + 10 * kMin);
  EXPECT_EQ(s().last_error, "storage upload: HTTP 503");
  h.Apply(StorageUpload(kT0 + 10 * kMin, kId,
                        UploadOk("file:///var/lib/callrec/recordings/intake-1/recording.wav")));
  EXPECT_EQ(s().state, State::kStored);
  EXPECT_EQ(s().recording_url_storage, "file:///var/lib/callrec/recordings/intake-1/recording.wav");
  EXPECT_FALSE(s().recording_url_supabase.has_value());
  EXPECT_FALSE(s().next_attempt_at_ms.has_value());
  EXPECT_FALSE(s().last_error.has_value());
}

TEST_F(LifecycleTest, UploadFailureThenRetryReArmsTheUpload) {
  CreateAndAnswer();
  HangUp();
  Fetch();
  h.Apply(StorageUpload(kT0 + 9 * kMin, kId, UploadTransient("timeout")));
  h.Apply(StorageUpload(kT0 + 10 * kMin, kId,
                        UploadFailed("verify", "sha256 mismatch")));
  EXPECT_EQ(s().last_error, "storage verify: sha256 mismatch");
  h.Apply(IntakeFailed(kT0 + 10 * kMin + 1, kId, "upload_failed", "sha256 mismatch"));
  EXPECT_EQ(s().state, State::kFailed);
  EXPECT_EQ(s().failure_reason, FailureReason::kUploadFailed);

  EXPECT_EQ(h.Apply(RetryRequested(kT0 + 20 * kMin, kId)), std::vector<std::string>{kId});
  EXPECT_EQ(s().state, State::kFetched);
  EXPECT_FALSE(s().failure_reason.has_value());
  EXPECT_EQ(s().storage_attempts, 0);
  EXPECT_EQ(s().recording_id, "rec-1") << "what was found stays found";
  EXPECT_EQ(s().updated_at_ms, kT0 + 20 * kMin);
}

TEST_F(LifecycleTest, NotFoundThenRetryRestartsPolling) {
  CreateAndAnswer();
  HangUp();
  for (int q = 1; q <= 3; ++q) {
    h.Apply(FetchScheduled(kT0 + (5 + q) * kMin, kId, q, q - 1, kT0 + (6 + q) * kMin));
    h.Apply(RecordingsList(kT0 + (6 + q) * kMin, kId, "not_found"));
  }
  h.Apply(IntakeFailed(kT0 + 10 * kMin, kId, "recording_not_found", "no recording after 3 queries"));
  EXPECT_EQ(s().state, State::kFailed);
  EXPECT_EQ(s().last_error, "no recording after 3 queries");
  h.Apply(RetryRequested(kT0 + 30 * kMin, kId));
  EXPECT_EQ(s().state, State::kEnded);
  EXPECT_EQ(s().fetch_attempts, 0);
  EXPECT_FALSE(s().next_attempt_at_ms.has_value());
  EXPECT_FALSE(s().first_query_at_ms.has_value()) << "a fresh polling budget";
  EXPECT_FALSE(s().failure_reason.has_value());
  EXPECT_EQ(s().fetch_queries, 3) << "query numbers keep growing";
}

TEST_F(LifecycleTest, RetryOfRecordStartFailureWhileCallIsUpReArmsRecordStart) {
  CreateAndAnswer(false);
  h.Apply(RecordStart(kT0 + 41 * kSec, kId, "failed", 422, ReadSample("api.error.422.json")));
  h.Apply(RetryRequested(kT0 + 50 * kSec, kId));
  EXPECT_EQ(s().state, State::kAnswered);
  EXPECT_EQ(s().record_start_attempts, 0);
}

TEST_F(LifecycleTest, RetryOfAnUnfailedIntakeIsANoOp) {
  CreateAndAnswer();
  std::string before = IntakeToJson(s());
  EXPECT_TRUE(h.Apply(RetryRequested(kT0 + kMin, kId)).empty());
  EXPECT_EQ(IntakeToJson(s()), before);
}

TEST_F(LifecycleTest, StoredIntakesIgnoreLateFailures) {
  CreateAndAnswer();
  HangUp();
  Fetch();
  h.Apply(StorageUpload(kT0 + 9 * kMin, kId, UploadOk("https://sb/x.wav")));
  h.Apply(IntakeFailed(kT0 + 10 * kMin, kId, "upload_failed", "late"));
  EXPECT_EQ(s().state, State::kStored);
  h.Apply(RetryRequested(kT0 + 11 * kMin, kId));
  EXPECT_EQ(s().state, State::kStored);
}

TEST_F(LifecycleTest, UnknownFailureReasonBecomesGaveUp) {
  CreateAndAnswer();
  h.Apply(IntakeFailed(kT0 + kMin, kId, "bored", "gave up after 24 h"));
  EXPECT_EQ(s().failure_reason, FailureReason::kGaveUp);
  EXPECT_EQ(s().last_error, "gave up after 24 h");
}

TEST_F(LifecycleTest, RecordingsListErrorsAreEvidenceOnly) {
  CreateAndAnswer();
  HangUp();
  h.Apply(RecordingsList(kT0 + 7 * kMin, kId, "retry", 429, ReadSample("api.error.422.json")));
  EXPECT_EQ(s().state, State::kEnded);
  ASSERT_TRUE(s().last_error.has_value());
  EXPECT_EQ(s().last_error->rfind("recordings list: Call has already ended", 0), 0u);
}

TEST_F(LifecycleTest, RecordingGetForAnotherRecordingKeepsTheUrl) {
  CreateAndAnswer();
  HangUp();
  Fetch();
  h.Apply(RecordingGet(kT0 + 9 * kMin, kId, "ok",
                       R"({"data":{"id":"rec-other","download_urls":{"wav":"https://evil/x"}}})"));
  EXPECT_EQ(s().recording_url_telnyx, RecordingUrl(kId));
}

// ---- intake.created and hostile input --------------------------------------------------------

TEST(ProjectionCreateTest, FirstCreationStandsAndBadIdsAreRefused) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, "i1", "+15550123456", "first"));
  EXPECT_TRUE(h.Apply(IntakeCreated(kT0 + 1, "i1", "+15559999999", "second")).empty());
  EXPECT_EQ(h.Get("i1").patient_id, "first");
  EXPECT_EQ(h.Get("i1").patient_phone, "+15550123456");
  for (const std::string& bad : std::vector<std::string>{"", "a/b", "a b", std::string(65, 'x'),
                                                     std::string("a\0b", 3)}) {
    EXPECT_TRUE(h.Apply(IntakeCreated(kT0, bad, "+15550123456")).empty()) << bad;
    EXPECT_EQ(h.projection.Find(bad), nullptr);
  }
  core::Event mismatched = IntakeCreated(kT0, "i2", "+15550123456");
  mismatched.intake_id = "i3";
  EXPECT_TRUE(h.Apply(mismatched).empty());
  for (const std::string& payload : std::vector<std::string>{
           "", "nope", "[]", R"({"id":"i4"})", R"({"id":"i4","patient_phone":7})"}) {
    EXPECT_TRUE(h.Apply(MakeEvent("intake.created", "api", "i4", kT0, payload)).empty()) << payload;
  }
  EXPECT_EQ(h.projection.Find("i4"), nullptr);
}

TEST(ProjectionCreateTest, UserMetadataIsKeptAndOurKeysCannotBeForged) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, "i1", "+15550123456", std::nullopt,
                        R"({"clinic":"north","recording_id":"forged","state":"x",)"
                        R"("nested":{"a":[1,2.5,"\u00fc"]},"clinic":"south"})"));
  const IntakeState& s = h.Get("i1");
  EXPECT_FALSE(s.recording_id.has_value());
  ASSERT_EQ(s.user_metadata.size(), 3u);
  EXPECT_EQ(s.user_metadata[0], (std::pair<std::string, std::string>{"clinic", R"("south")"}));
  EXPECT_EQ(s.user_metadata[1].first, "state") << "only metadata keys are reserved";
  EXPECT_EQ(s.user_metadata[2].first, "nested");
  std::string json = IntakeToJson(s);
  EXPECT_NE(json.find(R"("recording_id":null)"), std::string::npos);
  EXPECT_EQ(json.find("forged"), std::string::npos);
  auto back = IntakeFromJson(json);
  ASSERT_OK(back);
  EXPECT_EQ(*back, s);
}

TEST(ProjectionCreateTest, UnusualPhoneIsKeptButNeverMatched) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, "i1", "12345"));
  EXPECT_EQ(h.Get("i1").patient_phone, "12345");
  Call call;
  call.to = "12345";
  h.Apply(Webhook(kT0 + kSec, "call.answered", "wh", call));
  EXPECT_EQ(h.Get("i1").state, State::kCreated);
  EXPECT_EQ(h.projection.unmatched_total(), 1u);
}

TEST(ProjectionCreateTest, AlreadyAppliedSeqsAndUnknownEventsChangeNothing) {
  Projection p;
  core::Event created = IntakeCreated(kT0, "i1", "+15550123456");
  created.seq = 5;
  EXPECT_EQ(p.Apply(created).size(), 1u);
  core::Event again = IntakeCreated(kT0 + 1, "i2", "+15550123456");
  again.seq = 5;
  EXPECT_TRUE(p.Apply(again).empty());
  EXPECT_EQ(p.Find("i2"), nullptr);
  core::Event unseq = IntakeCreated(kT0 + 1, "i3", "+15550123456");  // seq 0: never stored
  EXPECT_TRUE(p.Apply(unseq).empty());
  core::Event unknown = MakeEvent("intake.teleported", "api", "i1", kT0, "{}");
  unknown.seq = 6;
  EXPECT_TRUE(p.Apply(unknown).empty());
  core::Event garbage = RecordStart(kT0, "i1", "ok");
  garbage.payload = "\xff\xfe";
  garbage.seq = 7;
  EXPECT_TRUE(p.Apply(garbage).empty());
  core::Event orphan_api = RecordStart(kT0, "nobody", "ok");
  orphan_api.seq = 8;
  EXPECT_TRUE(p.Apply(orphan_api).empty());
  EXPECT_EQ(p.last_seq(), 8u);
  EXPECT_EQ(p.Find("i1")->state, State::kCreated);
}

TEST(ProjectionCreateTest, ServiceStartedSettingsAreValidated) {
  ProjectionHarness h;
  EXPECT_EQ(h.projection.settings().record_mode, RecordMode::kManual);
  EXPECT_EQ(h.projection.settings().match_window_ms, 10 * kMin);
  h.Apply(ServiceStarted(kT0, "auto", 2 * kMin));
  EXPECT_EQ(h.projection.settings().record_mode, RecordMode::kAuto);
  EXPECT_EQ(h.projection.settings().match_window_ms, 2 * kMin);
  h.Apply(ServiceStarted(kT0, "sideways", -5));
  EXPECT_EQ(h.projection.settings().record_mode, RecordMode::kAuto) << "bad values keep the last";
  EXPECT_EQ(h.projection.settings().match_window_ms, 2 * kMin);
  h.Flush();
  EXPECT_EQ(h.derived["projector/settings"],
            R"({"record_mode":"auto","match_window_ms":120000,"match_header":"X-Intake-Id"})");
}

}  // namespace
}  // namespace callrec::projector
