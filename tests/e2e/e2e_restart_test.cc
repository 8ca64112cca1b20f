// End to end, the store across process lives: SIGKILL with a fetch pending and a restart on the
// same --data-dir; `callrec replay` afterwards rebuilds the same state without touching Telnyx.
#include <gtest/gtest.h>

#include <filesystem>

#include "e2e/e2e_env.h"

namespace callrec::testing::e2e {
namespace {

// The events of `callrec events` (all of them), parsed.
std::vector<Json> AllEvents(E2eEnv& env) {
  CommandResult r = env.Callrec({"events"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<Json> out;
  size_t start = 0;
  while (start < r.out.size()) {
    size_t nl = r.out.find('\n', start);
    if (nl == std::string::npos) nl = r.out.size();
    out.emplace_back(r.out.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

TEST(E2eRestart, SigkillWithAFetchPendingThenRestartStillFetchesTheRecording) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe({"--fetch-delay", "2s", "--storage", "fs"})) << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100031");
  CallIds call = env.PlaceRecordedCall(id, "+15550100031");

  // Hung up, the first query scheduled 2 s out, none made yet: kill -9 now.
  ASSERT_TRUE(Eventually([&] { return env.TimelineHas(id, "recording.fetch_scheduled"); }))
      << env.GetIntake(id).text();
  ASSERT_TRUE(env.sim().WaitWebhooksIdle(kDeadline));
  EXPECT_EQ(env.GetIntake(id).Str("/state"), "ended");
  pid_t first_pid = env.serve().pid();
  env.serve().Signal(SIGKILL);
  EXPECT_EQ(env.serve().WaitExit(kDeadline), 128 + SIGKILL);
  ASSERT_EQ(env.sim().RequestCount("GET /v2/recordings"), 0u) << "the fetch was still pending at the kill";

  // A new process on the same store picks the pending fetch up by itself.
  ASSERT_TRUE(env.StartServe({"--fetch-delay", "2s", "--storage", "fs"})) << env.serve().Stderr();
  EXPECT_NE(env.serve().pid(), first_pid);
  Json intake = env.WaitForState(id, {"stored", "failed"});
  ASSERT_EQ(intake.Str("/state"), "stored") << intake.text();
  EXPECT_EQ(intake.Str("/metadata/recording_id"), env.SimCall(call.call_control_id).Strings("/recording_ids").at(0));
  EXPECT_TRUE(std::filesystem::is_regular_file(env.storage_dir() + "/" + id + "/recording.wav"));
  // Neither lost nor done twice: one query (the recording was there), one record_start.
  EXPECT_EQ(env.sim().RequestCount("GET /v2/recordings"), 1u);
  EXPECT_EQ(env.sim().RequestCount("POST /v2/calls/{call_control_id}/actions/record_start"), 1u);
  EXPECT_EQ(env.StopServe(), 0);

  CommandResult check = env.Callrec({"check"});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("contiguous"), std::string::npos) << check.out;
  std::vector<Json> events = AllEvents(env);
  ASSERT_FALSE(events.empty());
  int started = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].Int("/seq"), int64_t(i + 1)) << "seqs must be contiguous from 1";
    started += events[i].Str("/type") == "service.started";
  }
  EXPECT_EQ(started, 2) << "one service.started per process life";
  CommandResult verify = env.Callrec({"replay", "--verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

TEST(E2eRestart, ReplayAfterACompleteCallChangesNothingAndCallsNoApi) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe({"--storage", "fs"})) << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100032");
  env.PlaceRecordedCall(id, "+15550100032");
  Json intake = env.WaitForState(id, {"stored", "failed"});
  ASSERT_EQ(intake.Str("/state"), "stored") << intake.text();
  ASSERT_TRUE(env.sim().WaitWebhooksIdle(kDeadline));
  EXPECT_EQ(env.StopServe(), 0);

  CommandResult show_before = env.Callrec({"show", id, "--json"});
  CommandResult timeline_before = env.Callrec({"timeline", id, "--json"});
  ASSERT_EQ(show_before.exit_code, 0) << show_before.err;
  EXPECT_EQ(show_before.out, intake.text() + "\n") << "a stopped store shows what the service served";
  std::string file = env.storage_dir() + "/" + id + "/recording.wav";
  std::string sha_before = Sha256Hex(ReadFileText(file));
  auto mtime_before = std::filesystem::last_write_time(file);
  uint64_t api_before = env.sim().ApiRequestCount();
  uint64_t media_before = env.sim().RequestCount("GET /media");

  CommandResult replay = env.Callrec({"replay"});
  EXPECT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_NE(replay.out.find("replayed"), std::string::npos) << replay.out;
  EXPECT_NE(replay.out.find("1 stored"), std::string::npos) << replay.out;
  CommandResult verify = env.Callrec({"replay", "--verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("verified"), std::string::npos) << verify.out;

  EXPECT_EQ(env.sim().ApiRequestCount(), api_before) << "replay must not call Telnyx";
  EXPECT_EQ(env.sim().RequestCount("GET /media"), media_before) << "replay must not download";
  EXPECT_EQ(env.Callrec({"show", id, "--json"}).out, show_before.out);
  EXPECT_EQ(env.Callrec({"timeline", id, "--json"}).out, timeline_before.out);
  EXPECT_EQ(Sha256Hex(ReadFileText(file)), sha_before);
  EXPECT_EQ(std::filesystem::last_write_time(file), mtime_before) << "replay must not rewrite the copy";
}

}  // namespace
}  // namespace callrec::testing::e2e
