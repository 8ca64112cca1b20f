// End to end with --storage supabase: a long call's recording, larger than the project's
// single-request upload limit, is stored through a resumable (TUS) upload in Supabase's 6 MB
// chunks, and survives a connection that breaks mid-chunk by resuming from the server's offset.
#include <gtest/gtest.h>

#include "e2e/e2e_env.h"

namespace callrec::testing::e2e {
namespace {

TEST(E2eSupabase, ALongRecordingOverTheUploadLimitIsStoredResumably) {
  SimConfig config = E2eEnv::DefaultSimConfig();
  config.storage_max_bytes = 1 << 20;                        // a 1 MB single-upload limit
  config.media_duration = std::chrono::seconds(420);         // 13.4 MB of dual-channel 8 kHz WAV
  config.faults.storage_tus_break_next = 1;                  // the first chunk breaks...
  config.faults.storage_tus_break_after = 1 << 20;           // ...after 1 MB has landed
  E2eEnv env(config);
  ASSERT_TRUE(env.StartServe({"--storage", "supabase", "--supabase-url", env.sim().base_url()},
                             {"SUPABASE_SERVICE_ROLE_KEY=sb_secret_e2e_key"}))
      << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100801");
  env.PlaceRecordedCall(id, "+15550100801");
  Json intake = env.WaitForState(id, {"stored", "failed"}, std::chrono::seconds(60));
  ASSERT_EQ(intake.Str("/state"), "stored") << intake.text();

  const std::string object = id + "/recording.wav";
  EXPECT_EQ(intake.Str("/metadata/recording_url_supabase"),
            env.sim().base_url() + "/storage/v1/object/public/call-recordings/" + object);
  auto stored = env.sim().storage().GetObjectForTest("call-recordings", object);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->size(), size_t{420 * 8000 * 2 * 2 + 44});
  EXPECT_EQ(Sha256Hex(*stored), intake.Str("/metadata/recording_sha256"));
  EXPECT_EQ(stored->substr(0, 4), "RIFF");

  // Resumable from the start (over 6 MB): the first chunk broke after 1 MB; from the server's
  // 1 MB on, one whole 6 MB chunk and the rest. No byte stored twice, no single POST tried.
  EXPECT_EQ(env.sim().RequestCount("POST /storage/v1/object"), 0u);
  EXPECT_EQ(env.sim().RequestCount("POST /storage/v1/upload/resumable"), 1u);
  EXPECT_EQ(env.sim().RequestCount("HEAD /storage/v1/upload/resumable/{id}"), 1u);
  EXPECT_EQ(env.sim().RequestCount("PATCH /storage/v1/upload/resumable/{id}"), 3u);
  EXPECT_EQ(env.sim().storage().tus_bytes_stored(), stored->size());
}

// Under 6 MB the single POST is tried first; refused as too large (Supabase's 400 with
// statusCode "413"), the same bytes go resumably at once instead of failing or retrying.
TEST(E2eSupabase, ARecordingRefusedAsTooLargeGoesResumable) {
  SimConfig config = E2eEnv::DefaultSimConfig();
  config.storage_max_bytes = 1 << 20;
  config.media_duration = std::chrono::seconds(60);  // ~1.9 MB
  E2eEnv env(config);
  ASSERT_TRUE(env.StartServe({"--storage", "supabase", "--supabase-url", env.sim().base_url()},
                             {"SUPABASE_SERVICE_ROLE_KEY=sb_secret_e2e_key"}))
      << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100802");
  env.PlaceRecordedCall(id, "+15550100802");
  Json intake = env.WaitForState(id, {"stored", "failed"}, std::chrono::seconds(60));
  ASSERT_EQ(intake.Str("/state"), "stored") << intake.text();
  auto stored = env.sim().storage().GetObjectForTest("call-recordings", id + "/recording.wav");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(Sha256Hex(*stored), intake.Str("/metadata/recording_sha256"));
  EXPECT_EQ(env.sim().RequestCount("POST /storage/v1/object"), 1u);
  EXPECT_EQ(env.sim().RequestCount("PATCH /storage/v1/upload/resumable/{id}"), 1u);
}

}  // namespace
}  // namespace callrec::testing::e2e
