// End to end, finding the recording when Telnyx is unhelpful: other calls' newer recordings in
// the account, rate limits and 5xx while polling, and a recording that never appears (then an
// operator's retry). Real `callrec serve` against the in-process telnyx-sim.
#include <gtest/gtest.h>

#include <algorithm>

#include "e2e/e2e_env.h"
#include "matchers/status_matchers.h"

namespace callrec::testing::e2e {
namespace {

std::vector<TimelineEvent> OfType(const std::vector<TimelineEvent>& events, const std::string& type) {
  std::vector<TimelineEvent> out;
  std::copy_if(events.begin(), events.end(), std::back_inserter(out),
               [&](const TimelineEvent& e) { return e.type == type; });
  return out;
}

int64_t PayloadStatus(const TimelineEvent& e) { return Json(e.payload).Int("/status"); }

TEST(E2ePolling, OtherCallsNewerRecordingsListedFirstTheRightOneIsChosen) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe()) << env.serve().Stderr();
  ASSERT_OK(env.sim().SetFaults(R"({"foreign_recordings":3})"));
  std::string id = env.CreateIntake("+15550100003");
  CallIds call = env.PlaceRecordedCall(id, "+15550100003");

  Json intake = env.WaitForState(id, {"fetched", "failed"});
  ASSERT_EQ(intake.Str("/state"), "fetched") << intake.text();

  Json sim_call = env.SimCall(call.call_control_id);
  std::vector<std::string> own = sim_call.Strings("/recording_ids");
  std::vector<std::string> foreign = sim_call.Strings("/foreign_recording_ids");
  ASSERT_EQ(own.size(), 1u) << sim_call.text();
  ASSERT_EQ(foreign.size(), 3u) << sim_call.text();

  // The account's listing really does put the other calls' recordings first (newest first),
  // one of them even from this call's session.
  telnyx_sim::RecordingPage everything = env.sim().world().ListRecordings({}, 1, 50);
  ASSERT_EQ(everything.items.size(), 4u);
  EXPECT_TRUE(everything.items[0].foreign);
  EXPECT_NE(everything.items[0].id, own[0]);
  telnyx_sim::RecordingFilter by_session;
  by_session.call_session_id = call.call_session_id;
  telnyx_sim::RecordingPage session = env.sim().world().ListRecordings(by_session, 1, 50);
  ASSERT_EQ(session.items.size(), 2u);
  EXPECT_TRUE(session.items[0].foreign) << "another leg of the same session is listed first";

  // ...and still the intake has this call's recording, the only one verified.
  EXPECT_EQ(intake.Str("/metadata/recording_id"), own[0]);
  EXPECT_EQ(intake.Strings("/metadata/verified_ids"), own);
  for (const auto& f : foreign) EXPECT_NE(intake.Str("/metadata/recording_id"), f);
  EXPECT_EQ(intake.Str("/metadata/call_leg_id"), call.call_leg_id);

  std::vector<TimelineEvent> lists = OfType(env.Timeline(id), "telnyx.recordings_list");
  ASSERT_FALSE(lists.empty());
  Json last_list(lists.back().payload);
  EXPECT_EQ(last_list.Int("/verified"), 1) << lists.back().payload;
  EXPECT_EQ(last_list.Strings("/verified_ids"), own);
  EXPECT_EQ(env.StopServe(), 0);
}

// A 429 and a 503 while polling are waits, not "not found" answers: with --fetch-max-attempts 1
// either one counted as an attempt would fail the intake. (One of each: the jittered backoff after
// them starts at 2 s and doubles, and has no flag, so more would make the test slow.)
TEST(E2ePolling, RateLimitAndServerErrorsDoNotConsumeFetchAttempts) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe({"--fetch-max-attempts", "1"})) << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100005");
  // The call stays up until the faults are armed, so record_start (also /v2) is not hit by them.
  CallIds call = env.PlaceHeldCall("+15550100005");
  env.WaitForState(id, {"recording"});
  ASSERT_OK(env.sim().SetFaults(R"({"rate_limit_next":1,"server_error_next":1,"server_error_status":503})"));
  ASSERT_OK(env.sim().HangupCall(call.call_control_id));

  Json intake = env.WaitForState(id, {"fetched", "failed"});
  ASSERT_EQ(intake.Str("/state"), "fetched") << intake.text();
  EXPECT_EQ(intake.Int("/fetch_attempts"), 0) << intake.text();
  EXPECT_EQ(intake.Str("/metadata/recording_id"), env.SimCall(call.call_control_id).Strings("/recording_ids").at(0));

  // Each answer is in the timeline, in the order Telnyx gave them.
  std::vector<TimelineEvent> timeline = env.Timeline(id);
  std::vector<int64_t> statuses;
  for (const auto& e : OfType(timeline, "telnyx.recordings_list")) statuses.push_back(PayloadStatus(e));
  EXPECT_EQ(statuses, (std::vector<int64_t>{429, 503, 200}));
  EXPECT_EQ(env.sim().RequestCount("GET /v2/recordings"), 3u) << "one request per scheduled query";
  bool shows_429 = false;
  for (const auto& e : timeline) shows_429 |= e.summary.find("→ 429") != std::string::npos;
  EXPECT_TRUE(shows_429);
  CommandResult text = env.Callrec({"timeline", id});
  EXPECT_NE(text.out.find("recordings list → 429"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("rate limited (429)"), std::string::npos) << "the wait says why:\n" << text.out;
  EXPECT_EQ(env.StopServe(), 0);
}

TEST(E2ePolling, RecordingThatNeverAppearsFailsAfterMaxAttemptsAndRetryPollsAgain) {
  E2eEnv env;
  // The delay keeps the re-armed `ended` state visible for a while on a slow machine.
  ASSERT_TRUE(env.StartServe({"--fetch-max-attempts", "3", "--fetch-delay", "500ms"})) << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100006");
  env.PlaceRecordedCall(id, "+15550100006", [](CallSpec& s) { s.recording_missing = true; });

  Json failed = env.WaitForState(id, {"failed", "fetched"});
  ASSERT_EQ(failed.Str("/state"), "failed") << failed.text();
  EXPECT_EQ(failed.Str("/failure_reason"), "recording_not_found");
  EXPECT_EQ(failed.Int("/fetch_attempts"), 3);
  EXPECT_TRUE(failed.IsNull("/next_attempt_at"));
  EXPECT_EQ(env.sim().RequestCount("GET /v2/recordings"), 3u);

  // Nothing else happens to a failed intake by itself.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(env.sim().RequestCount("GET /v2/recordings"), 3u);

  // Only failed intakes can be retried; an unknown one is 404.
  EXPECT_EQ(env.Api("POST", "/api/intakes/no-such-intake/retry", "{}").status, 404);
  ApiAnswer retry = env.Api("POST", "/api/intakes/" + id + "/retry", "{}");
  ASSERT_TRUE(retry.status == 200 || retry.status == 202) << retry.status << " " << retry.body;
  EXPECT_EQ(Json(retry.body).Str("/id"), id);

  Json rearmed = env.WaitForState(id, {"ended", "fetched"}, std::chrono::seconds(5));
  EXPECT_EQ(rearmed.Str("/state"), "ended") << rearmed.text();
  EXPECT_EQ(rearmed.Int("/fetch_attempts"), 0);
  EXPECT_TRUE(rearmed.IsNull("/failure_reason"));
  EXPECT_EQ(env.Api("POST", "/api/intakes/" + id + "/retry", "{}").status, 409) << "not failed any more";

  // It polls again, three more times, and fails the same way.
  Json again = env.WaitForState(id, {"failed"});
  EXPECT_EQ(again.Str("/failure_reason"), "recording_not_found");
  EXPECT_EQ(env.sim().RequestCount("GET /v2/recordings"), 6u);
  std::vector<TimelineEvent> timeline = env.Timeline(id);
  EXPECT_EQ(OfType(timeline, "intake.retry_requested").size(), 1u);
  EXPECT_EQ(OfType(timeline, "intake.failed").size(), 2u);
  EXPECT_EQ(OfType(timeline, "telnyx.recordings_list").size(), 6u);
  EXPECT_EQ(env.StopServe(), 0);
}

}  // namespace
}  // namespace callrec::testing::e2e
