// End to end, the hangup that never comes (--max-call-duration): a call whose call.hangup
// webhook is lost is asked about with GET /v2/calls/{id}; dead -> call.presumed_ended and the
// recording is fetched as usual; alive -> asked again; a restart checks at once a call answered
// longer ago than the limit. And a failed start (port taken) exits cleanly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "e2e/e2e_env.h"

namespace callrec::testing::e2e {
namespace {

constexpr char kCallStatusRoute[] = "GET /v2/calls/{call_control_id}";

int CountTimeline(E2eEnv& env, const std::string& id, const std::string& type) {
  int n = 0;
  for (const auto& e : env.Timeline(id)) n += e.type == type;
  return n;
}

void DropHangup(CallSpec& s) { s.drop_hangup_webhook = true; }

TEST(E2eHangup, DroppedHangupWebhookStillEndsStored) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe({"--max-call-duration", "1s", "--storage", "fs"})) << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100091");
  env.PlaceRecordedCall(id, "+15550100091", DropHangup);

  Json intake = env.WaitForState(id, {"stored", "failed"});
  ASSERT_EQ(intake.Str("/state"), "stored") << intake.text();
  EXPECT_EQ(intake.Str("/metadata/hangup_cause"), "presumed_ended:not_alive") << intake.text();
  EXPECT_TRUE(env.TimelineHas(id, "call.presumed_ended"));
  EXPECT_GE(CountTimeline(env, id, "telnyx.call_status"), 1);
  EXPECT_GE(env.sim().RequestCount(kCallStatusRoute), 1u);
  EXPECT_TRUE(std::filesystem::is_regular_file(env.storage_dir() + "/" + id + "/recording.wav"));
  EXPECT_EQ(env.StopServe(), 0);
}

TEST(E2eHangup, AnAliveCallIsCheckedAgainUntilItIsOver) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe({"--max-call-duration", "1s"})) << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100092");
  CallIds call = env.PlaceHeldCall("+15550100092", DropHangup);
  ASSERT_EQ(env.WaitForState(id, {"recording"}).Str("/state"), "recording");

  // Still up: asked at answer + 1 s, then every second; the intake keeps waiting.
  ASSERT_TRUE(Eventually([&] { return CountTimeline(env, id, "telnyx.call_status") >= 2; }))
      << env.GetIntake(id).text();
  Json waiting = env.GetIntake(id);
  EXPECT_EQ(waiting.Str("/state"), "recording") << waiting.text();
  EXPECT_FALSE(waiting.IsNull("/next_attempt_at")) << waiting.text();
  EXPECT_FALSE(env.TimelineHas(id, "call.presumed_ended"));

  ASSERT_TRUE(env.sim().HangupCall(call.call_control_id).ok());  // its webhook is dropped
  Json intake = env.WaitForState(id, {"fetched", "failed"});
  ASSERT_EQ(intake.Str("/state"), "fetched") << intake.text();
  EXPECT_TRUE(env.TimelineHas(id, "call.presumed_ended"));
  EXPECT_EQ(env.StopServe(), 0);
}

TEST(E2eHangup, ARestartChecksACallAnsweredLongerAgoThanTheLimitAtOnce) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe({"--max-call-duration", "1h"})) << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100093");
  env.PlaceRecordedCall(id, "+15550100093", [](CallSpec& s) {
    s.drop_hangup_webhook = true;
    s.send_recording_saved = false;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  ASSERT_TRUE(env.sim().WaitWebhooksIdle(kDeadline));
  EXPECT_EQ(env.GetIntake(id).Str("/state"), "recording");
  EXPECT_EQ(env.sim().RequestCount(kCallStatusRoute), 0u) << "not due for an hour";
  EXPECT_EQ(env.StopServe(), 0);

  // The call was answered over a second ago: with a 1 s limit it is due at start.
  ASSERT_TRUE(env.StartServe({"--max-call-duration", "1s"})) << env.serve().Stderr();
  Json intake = env.WaitForState(id, {"fetched", "failed"});
  ASSERT_EQ(intake.Str("/state"), "fetched") << intake.text();
  EXPECT_EQ(intake.Str("/metadata/hangup_cause"), "presumed_ended:not_alive");
  EXPECT_EQ(env.StopServe(), 0);
}

TEST(E2eHangup, ARecordingSavedWebhookEndsTheWaitWithoutAHangup) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe({"--max-call-duration", "1h"})) << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100094");
  env.PlaceRecordedCall(id, "+15550100094", [](CallSpec& s) {
    s.drop_hangup_webhook = true;
    s.send_recording_saved = true;
  });
  Json intake = env.WaitForState(id, {"fetched", "failed"});
  ASSERT_EQ(intake.Str("/state"), "fetched") << intake.text();
  EXPECT_TRUE(intake.IsNull("/metadata/hangup_at")) << intake.text();
  EXPECT_EQ(env.sim().RequestCount(kCallStatusRoute), 0u);
  EXPECT_EQ(env.StopServe(), 0);
}

TEST(E2eHangup, AFailedStartOnATakenPortExitsCleanly) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe()) << env.serve().Stderr();
  const int port = env.serve().port();

  // A second service, its own store and a copy folder with a leftover download, same port.
  TempDir other;
  std::filesystem::create_directories(other.Sub("recordings/.incoming"));
  { std::ofstream(other.Sub("recordings/.incoming/callrec-x-1-2.part")) << "partial"; }
  ServeProcess p;
  ASSERT_TRUE(p.Spawn(BinaryPath("callrec"),
                      {"serve", "--data-dir", other.Sub("store"), "--telnyx-public-key",
                       env.sim().public_key_base64(), "--telnyx-api-base", env.sim().base_url(),
                       "--storage", "fs", "--storage-dir", other.Sub("recordings"), "--listen",
                       "127.0.0.1:" + std::to_string(port)},
                      {}, other.path(), "taken-port"));
  int code = p.WaitExit(kDeadline);
  std::string err = p.Stderr();
  EXPECT_EQ(code, 1) << err;  // not a signal (128+n), not a hang (-1)
  EXPECT_NE(err.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos) << err;
  EXPECT_NE(err.find("serve.start_failed"), std::string::npos) << err;
  EXPECT_NE(err.find("\"removed\":1"), std::string::npos) << "one line with the count: " << err;
  EXPECT_FALSE(std::filesystem::exists(other.Sub("recordings/.incoming/callrec-x-1-2.part")));

  EXPECT_EQ(env.Api("GET", "/readyz").status, 200) << "the first service was not disturbed";
  EXPECT_EQ(env.StopServe(), 0);
}

}  // namespace
}  // namespace callrec::testing::e2e
