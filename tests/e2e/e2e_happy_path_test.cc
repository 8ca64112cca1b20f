// End to end, the path every call should take: intake created (API and CLI) → call answered →
// record_start → hangup → recordings polled → matched → stored on disk, with the real `callrec
// serve` binary against the in-process telnyx-sim, over loopback.
#include <gtest/gtest.h>

#include <filesystem>

#include "e2e/e2e_env.h"

namespace callrec::testing::e2e {
namespace {

// Index of the first line of `text` at or after `from` that contains `needle`, or npos.
size_t FindLine(const std::vector<std::string>& lines, const std::string& needle, size_t from = 0) {
  for (size_t i = from; i < lines.size(); ++i)
    if (lines[i].find(needle) != std::string::npos) return i;
  return std::string::npos;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

// What a user checks after a call: the sim's recording of THAT call is attached, the file on
// disk is a WAV whose sha256 the intake records, and every reader tells the same story.
void ExpectStoredCopyOfItsOwnCall(E2eEnv& env, const std::string& id, const CallIds& call) {
  SCOPED_TRACE("intake " + id);
  Json intake = env.WaitForState(id, {"stored", "failed"});
  ASSERT_EQ(intake.Str("/state"), "stored") << intake.text();
  EXPECT_TRUE(intake.IsNull("/failure_reason"));
  EXPECT_EQ(intake.Str("/metadata/call_control_id"), call.call_control_id);
  EXPECT_EQ(intake.Str("/metadata/call_leg_id"), call.call_leg_id);

  Json sim_call = env.SimCall(call.call_control_id);
  std::vector<std::string> sim_recordings = sim_call.Strings("/recording_ids");
  ASSERT_EQ(sim_recordings.size(), 1u) << sim_call.text();
  EXPECT_EQ(intake.Str("/metadata/recording_id"), sim_recordings[0]);
  EXPECT_EQ(intake.Strings("/metadata/verified_ids"), sim_recordings);

  std::string path = env.storage_dir() + "/" + id + "/recording.wav";
  ASSERT_TRUE(std::filesystem::is_regular_file(path)) << path;
  std::string bytes = ReadFileText(path);
  ASSERT_GT(bytes.size(), 44u);
  EXPECT_EQ(bytes.substr(0, 4), "RIFF");
  EXPECT_EQ(bytes.substr(8, 4), "WAVE");
  EXPECT_EQ(Sha256Hex(bytes), intake.Str("/metadata/recording_sha256"));
  EXPECT_TRUE(intake.Str("/metadata/recording_url_storage").ends_with("/" + id + "/recording.wav"))
      << intake.Str("/metadata/recording_url_storage");
  EXPECT_EQ((std::filesystem::status(path).permissions() & std::filesystem::perms::others_all),
            std::filesystem::perms::none) << "a patient's recording must not be world-readable";

  // The CLI reads the same intake the API serves, byte for byte.
  CommandResult show = env.Callrec({"show", id, "--json"});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_EQ(show.out, env.Api("GET", "/api/intakes/" + id).body + "\n");

  // The human timeline tells the story in order.
  CommandResult text = env.Callrec({"timeline", id});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  std::vector<std::string> lines = Lines(text.out);
  size_t at = 0;
  for (const char* step : {"intake created", "call.answered", "record_start → 200", "call.hangup",
                           "fetch #1 scheduled", "recordings list → 200", "matched rec", "stored, sha256"}) {
    at = FindLine(lines, step, at);
    EXPECT_NE(at, std::string::npos) << "no '" << step << "' line (in order) in:\n" << text.out;
    if (at == std::string::npos) break;
  }
  EXPECT_EQ(text.out.find(call.call_control_id), std::string::npos) << "ids are shortened for people";

  // GET /api/intakes/{id}/timeline and `callrec timeline --json` are the same events.
  CommandResult json = env.Callrec({"timeline", id, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  std::vector<TimelineEvent> from_cli = ParseTimeline(json.out);
  std::vector<TimelineEvent> from_api = env.Timeline(id);
  ASSERT_GE(from_cli.size(), 8u) << json.out;
  ASSERT_EQ(from_cli.size(), from_api.size());
  for (size_t i = 0; i < from_cli.size(); ++i) {
    EXPECT_EQ(from_cli[i].seq, from_api[i].seq);
    EXPECT_EQ(from_cli[i].type, from_api[i].type);
    EXPECT_EQ(from_cli[i].summary, from_api[i].summary);
    EXPECT_EQ(from_cli[i].payload, from_api[i].payload);
    if (i > 0) {
      EXPECT_LT(from_cli[i - 1].seq, from_cli[i].seq) << "timeline not in seq order";
    }
  }
}

TEST(E2eHappyPath, ManualModeStoresEachCallsOwnRecordingOnDisk) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe({"--storage", "fs"})) << env.serve().Stderr();

  // One intake through the API (phone written the way people type it), one through the CLI.
  ApiAnswer created = env.Api("POST", "/api/intakes", R"({"patient_phone":"+1 (555) 010-0001","patient_id":"p-1"})");
  ASSERT_EQ(created.status, 201) << created.body;
  Json api_intake(created.body);
  EXPECT_EQ(api_intake.Str("/patient_phone"), "+15550100001");
  EXPECT_EQ(api_intake.Str("/state"), "created");
  std::string api_id = api_intake.Str("/id");
  ASSERT_EQ(api_id.size(), 36u) << "a UUID is generated when no id is given: " << api_id;

  CommandResult cli = env.Callrec({"intake", "create", "--phone", "+15550100002", "--id", "cli-intake-1",
                                   "--server", env.serve().base_url()}, false);
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(cli.out, "cli-intake-1\n");

  // Both calls at once: each intake must get its own call's recording, never the other's.
  CallIds call_1 = env.PlaceHeldCall("+15550100001");
  CallIds call_2 = env.PlaceHeldCall("+15550100002");
  env.HangUpWhileRecording(api_id, call_1);
  env.HangUpWhileRecording("cli-intake-1", call_2);
  ExpectStoredCopyOfItsOwnCall(env, api_id, call_1);
  ExpectStoredCopyOfItsOwnCall(env, "cli-intake-1", call_2);
  EXPECT_NE(env.GetIntake(api_id).Str("/metadata/recording_id"),
            env.GetIntake("cli-intake-1").Str("/metadata/recording_id"));

  // Both recordings were started by callrec (manual mode), once each.
  EXPECT_EQ(env.sim().RequestCount("POST /v2/calls/{call_control_id}/actions/record_start"), 2u);
  // The store holds patient data: owner-only, as README "Configuration" says (created 0700).
  EXPECT_EQ(std::filesystem::status(env.data_dir()).permissions() &
                (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
            std::filesystem::perms::none);
  EXPECT_EQ(env.StopServe(), 0);
}

}  // namespace
}  // namespace callrec::testing::e2e
