// The actor end to end below HTTP: a real store and projector, a ManualClock, and scripted Telnyx
// and media answers. RunDue(now) runs what is due, so no test sleeps for a due time.
#include "projector/pipeline_fixture.h"

namespace callrec::projector {
namespace pipeline_test {
namespace {

TEST_F(Pipeline, AnsweredCallStartsARecordingNamedAfterTheIntake) {
  Append(t::IntakeCreated(Now(), kId, "+15550123456"));
  Append(t::Webhook(Now(), "call.answered", "evt-answered", t::Call{}));
  api_.On("POST", "/v2/calls/v3%3Accid-1/actions/record_start",
          ScriptedTransport::Json(200, R"({"data":{"result":"ok"}})"));
  RunDue();
  ASSERT_EQ(api_.requests().size(), 1u);
  std::string body = api_.requests()[0].body;
  EXPECT_NE(body.find(R"("custom_file_name":"intake_8f14e45f")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("format":"wav")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("channels":"dual")"), std::string::npos);
  EXPECT_NE(body.find(R"("command_id":"callrec-intake_8f14e45f-record-start-1")"), std::string::npos);
  EXPECT_EQ(Intake().state, State::kRecording);
  RunDue();
  EXPECT_EQ(api_.requests().size(), 1u) << "a recording intake waits for the hangup";
}

TEST_F(Pipeline, CallAlreadyEndedFailsWithTelnyxDetail) {
  Append(t::IntakeCreated(Now(), kId, "+15550123456"));
  Append(t::Webhook(Now(), "call.answered", "evt-answered", t::Call{}));
  api_.On("POST", "/actions/record_start",
          ScriptedTransport::Json(422, R"({"errors":[{"code":"90018","title":"Call has already ended","detail":"This call is no longer active and can't receive commands."}]})"));
  RunDue();
  IntakeState s = Intake();
  EXPECT_EQ(s.state, State::kFailed);
  EXPECT_EQ(s.failure_reason, FailureReason::kRecordStartFailed);
  EXPECT_NE(s.last_error.value_or("").find("no longer active"), std::string::npos) << s.last_error.value_or("");
}

TEST_F(Pipeline, AudioNotStartedYetIsRetriedShortlyWithANewCommandId) {
  Append(t::IntakeCreated(Now(), kId, "+15550123456"));
  Append(t::Webhook(Now(), "call.answered", "evt-answered", t::Call{}));
  api_.On("POST", "/actions/record_start",
          ScriptedTransport::Json(422, R"({"errors":[{"code":"90020","title":"Recording not started","detail":"audio not started"}]})"));
  auto next = RunDue();
  EXPECT_EQ(Intake().state, State::kAnswered);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next - clock_.WallMillis(), 1000) << "retry after 1 s";
  clock_.Advance(999ms);
  RunDue();
  EXPECT_EQ(api_.requests().size(), 1u);
  clock_.Advance(1ms);
  api_.On("POST", "/actions/record_start", ScriptedTransport::Json(200, R"({"data":{"result":"ok"}})"));
  RunDue();
  ASSERT_EQ(api_.requests().size(), 2u);
  EXPECT_NE(api_.requests()[1].body.find("record-start-2"), std::string::npos);
  EXPECT_EQ(Intake().state, State::kRecording);
}

// Telnyx's guidance: a command whose answer was a 5xx or never came may have run; repeat it with
// the same command_id (ignored by Telnyx if it ran) so the call is never recorded twice.
TEST_F(Pipeline, AFailedAnswerIsRetriedWithTheSameCommandId) {
  Append(t::IntakeCreated(Now(), kId, "+15550123456"));
  Append(t::Webhook(Now(), "call.answered", "evt-answered", t::Call{}));
  api_.On("POST", "/actions/record_start",
          ScriptedTransport::Json(503, R"({"errors":[{"code":"10007","title":"Unexpected error"}]})"));
  auto next = RunDue();
  ASSERT_TRUE(next.has_value());
  clock_.Advance(std::chrono::milliseconds(*next - clock_.WallMillis()));
  api_.On("POST", "/actions/record_start", ScriptedTransport::Json(200, R"({"data":{"result":"ok"}})"));
  RunDue();
  ASSERT_EQ(api_.requests().size(), 2u);
  EXPECT_NE(api_.requests()[0].body.find(R"("command_id":"callrec-intake_8f14e45f-record-start-1")"),
            std::string::npos);
  EXPECT_EQ(api_.requests()[1].body, api_.requests()[0].body) << "the identical command";
  EXPECT_EQ(Intake().state, State::kRecording);
}

TEST_F(Pipeline, FirstQueryAfterTheDelayPicksThisCallsRecordingNotTheNewerForeignOne) {
  AnsweredAndHungUp();
  ASSERT_TRUE(Intake().next_attempt_at_ms.has_value());
  EXPECT_EQ(*Intake().next_attempt_at_ms - clock_.WallMillis(), 120000) << "--fetch-delay 2m";
  clock_.Advance(119s);
  RunDue();
  EXPECT_EQ(api_.requests().size(), 1u) << "not before the delay";
  clock_.Advance(1s);
  api_.On("GET", "/v2/recordings?filter%5Bcall_leg_id%5D=leg-1",
          ScriptedTransport::Json(200, Listing({
              // Newer and listed first, from another call and intake: must not be attached.
              RecordingJson("rec-foreign", "leg-9", "session-9", "intake_other", "2026-11-20T15:09:59Z"),
              // Same session, other leg: rejected too.
              RecordingJson("rec-otherleg", "leg-2", "session-1", "intake_8f14e45f", "2026-11-20T15:09:58Z"),
              RecordingJson("rec-ours", "leg-1", "session-1", "intake_8f14e45f", "2026-11-20T15:09:48Z"),
          })));
  RunDue();
  IntakeState s = Intake();
  EXPECT_EQ(s.state, State::kFetched);
  EXPECT_EQ(s.recording_id.value_or(""), "rec-ours");
  EXPECT_NE(s.recording_url_telnyx.value_or("").find("intake_8f14e45f-1795187352.wav"), std::string::npos);
  EXPECT_EQ(s.recording_duration_ms, 334798) << "Telnyx's duration_millis";
  EXPECT_EQ(s.verified_ids, std::vector<std::string>{"rec-ours"});
  EXPECT_FALSE(s.next_attempt_at_ms.has_value());
}

TEST_F(Pipeline, NotFoundRetriesEveryIntervalThenFailsAfterMaxAttempts) {
  config_.fetch_max_attempts = 3;
  AnsweredAndHungUp();
  api_.Always("GET", "/v2/recordings", ScriptedTransport::Json(200, Listing({})));
  clock_.Advance(2min);
  RunDue();
  EXPECT_EQ(Intake().fetch_attempts, 1);
  EXPECT_EQ(*Intake().next_attempt_at_ms - clock_.WallMillis(), 60000) << "--fetch-interval 1m";
  clock_.Advance(1min);
  RunDue();
  EXPECT_EQ(Intake().fetch_attempts, 2);
  EXPECT_EQ(Intake().state, State::kEnded);
  clock_.Advance(1min);
  RunDue();
  IntakeState s = Intake();
  EXPECT_EQ(s.state, State::kFailed);
  EXPECT_EQ(s.failure_reason, FailureReason::kRecordingNotFound);
  EXPECT_EQ(api_.request_count(), 1u + 3u);  // record_start + 3 queries
  clock_.Advance(10min);
  RunDue();
  EXPECT_EQ(api_.request_count(), 4u) << "a failed intake waits for an operator";
}

TEST_F(Pipeline, RateLimitHonoursRetryAfterAndDoesNotUseUpAttempts) {
  AnsweredAndHungUp();
  clock_.Advance(2min);
  api_.On("GET", "/v2/recordings",
          ScriptedTransport::Json(429, R"({"errors":[{"code":"10011","title":"Too many requests"}]})",
                                  {{"Retry-After", "30"}}));
  RunDue();
  IntakeState s = Intake();
  EXPECT_EQ(s.fetch_attempts, 0);
  EXPECT_EQ(*s.next_attempt_at_ms - clock_.WallMillis(), 30000);
  api_.On("GET", "/v2/recordings", ScriptedTransport::Json(503, "<html>busy</html>"));
  clock_.Advance(30s);
  RunDue();
  s = Intake();
  EXPECT_EQ(s.fetch_attempts, 0) << "5xx never counts as not found";
  int64_t expected = FullJitterDelay(2, config_.backoff, kRandom).count();
  EXPECT_EQ(*s.next_attempt_at_ms - clock_.WallMillis(), expected);
}

TEST_F(Pipeline, TransientTroubleGivesUpAfter24Hours) {
  random_ = [] { return ~uint64_t(0); };  // jitter spread over the range, so delays grow
  AnsweredAndHungUp();
  api_.Always("GET", "/v2/recordings", ScriptedTransport::NoAnswer());
  clock_.Advance(2min);
  for (int i = 0; i < 2000 && Intake().state != State::kFailed; ++i) {
    clock_.Advance(std::chrono::milliseconds(std::max<int64_t>(0, *Intake().next_attempt_at_ms - clock_.WallMillis())));
    RunDue();
  }
  IntakeState s = Intake();
  EXPECT_EQ(s.state, State::kFailed);
  EXPECT_EQ(s.failure_reason, FailureReason::kGaveUp);
  EXPECT_EQ(s.fetch_attempts, 0) << "no answer is never \"not found\"";
  EXPECT_GE(clock_.WallMillis() - *s.first_query_at_ms, 24 * 3600 * 1000);
}

TEST_F(Pipeline, PendingQuerySurvivesARestart) {
  AnsweredAndHungUp();
  int64_t due = *Intake().next_attempt_at_ms;
  Close();
  Open();
  clock_.Advance(std::chrono::milliseconds(due - clock_.WallMillis()));
  api_.On("GET", "/v2/recordings",
          ScriptedTransport::Json(200, Listing({RecordingJson("rec-ours", "leg-1", "session-1",
                                                              "intake_8f14e45f", "2026-11-20T15:09:48Z")})));
  RunDue();
  EXPECT_EQ(Intake().recording_id.value_or(""), "rec-ours");
}

TEST_F(Pipeline, RecordingSavedWebhookResolvesItWithoutPolling) {
  AnsweredAndHungUp();
  t::WebhookExtras x;
  x.recording_id = "rec-ours";
  x.recording_url = t::RecordingUrl("intake_8f14e45f");
  Append(t::Webhook(Now(), "call.recording.saved", "evt-saved", t::Call{}, std::nullopt, x));
  EXPECT_EQ(Intake().state, State::kFetched);
  clock_.Advance(10min);
  RunDue();
  EXPECT_EQ(api_.request_count(), 1u) << "only record_start: the poll stopped";
}

class PipelineWithStorage : public Pipeline {
 protected:
  void SetUp() override {
    config_.storage = StorageKind::kFs;
    config_.delete_after_upload = true;
    Open();
  }
  void Matched() {
    AnsweredAndHungUp();
    clock_.Advance(2min);
    api_.On("GET", "/v2/recordings?",
            ScriptedTransport::Json(200, Listing({RecordingJson("rec-ours", "leg-1", "session-1",
                                                                "intake_8f14e45f", "2026-11-20T15:09:48Z")})));
  }
  std::string Fresh() {
    return R"({"data":)" + RecordingJson("rec-ours", "leg-1", "session-1", "intake_8f14e45f", "2026-11-20T15:09:48Z") + "}";
  }
};

TEST_F(PipelineWithStorage, DownloadsWithAFreshUrlStoresVerifiedCopyThenDeletesFromTelnyx) {
  Matched();
  api_.On("GET", "/v2/recordings/rec-ours", ScriptedTransport::Json(200, Fresh()));
  media_.On("GET", "media.example", ScriptedTransport::Reply(200, Wav(8000), {{"content-type", "audio/wav"}}));
  api_.On("DELETE", "/v2/recordings/rec-ours", ScriptedTransport::Json(200, Fresh()));
  RunDue();
  IntakeState s = Intake();
  EXPECT_EQ(s.state, State::kStored);
  std::string path = dir_.Sub("recordings") + "/" + kId + "/recording.wav";
  EXPECT_EQ(s.recording_url_storage.value_or(""), "file://" + path);
  EXPECT_EQ(std::filesystem::file_size(path), Wav(8000).size());
  EXPECT_EQ(s.recording_sha256.value_or("").size(), 64u);
  EXPECT_TRUE(s.recording_deleted_at_ms.has_value()) << "deleted only after the copy verified";
  api_.ExpectAllServed();
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path()))
    EXPECT_NE(entry.path().extension(), ".part") << "temp download left behind: " << entry.path();
}

TEST_F(PipelineWithStorage, ExpiredUrlIsRefreshedAndAnHtmlPageIsNeverStored) {
  Matched();
  api_.Always("GET", "/v2/recordings/rec-ours", ScriptedTransport::Json(200, Fresh()));
  media_.On("GET", "media.example", ScriptedTransport::Reply(403, "<Error><Code>AccessDenied</Code></Error>"));
  media_.On("GET", "media.example", ScriptedTransport::Reply(200, "<html>not audio</html>"));
  RunDue();
  IntakeState s = Intake();
  EXPECT_EQ(s.state, State::kFetched) << "an HTML page is not a recording";
  EXPECT_EQ(s.storage_attempts, 1);
  ASSERT_TRUE(s.next_attempt_at_ms.has_value());
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("recordings") + "/" + kId + "/recording.wav"));
  clock_.Advance(std::chrono::milliseconds(*s.next_attempt_at_ms - clock_.WallMillis()));
  media_.On("GET", "media.example", ScriptedTransport::Reply(200, Wav(100)));
  api_.On("DELETE", "/v2/recordings/rec-ours", ScriptedTransport::Json(404, R"({"errors":[{"code":"10005","title":"Resource not found"}]})"));
  RunDue();
  s = Intake();
  EXPECT_EQ(s.state, State::kStored);
  EXPECT_TRUE(s.recording_deleted_at_ms.has_value()) << "404 on delete: already gone";
}

}  // namespace
}  // namespace pipeline_test
}  // namespace callrec::projector
