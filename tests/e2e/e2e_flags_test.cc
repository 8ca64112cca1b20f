// End to end, starting `callrec serve` wrong: every bad flag stops it at once with exit 2 and a
// message naming the flag, before the store is opened; a store another process holds is refused
// with exit 1.
#include <gtest/gtest.h>

#include <filesystem>

#include "e2e/e2e_env.h"

namespace callrec::testing::e2e {
namespace {

struct Outcome {
  int exit_code = -1;
  std::string err;
};

// Runs `callrec serve <args>` in a clean environment (plus `env`) and waits for it to exit.
Outcome RunServe(E2eEnv& env, const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}) {
  ServeProcess p;
  std::vector<std::string> full = {"serve", "--data-dir", env.data_dir()};
  full.insert(full.end(), args.begin(), args.end());
  if (!p.Spawn(BinaryPath("callrec"), full, extra_env, env.log_dir(), "bad-flags")) return {};
  Outcome o;
  o.exit_code = p.WaitExit(kDeadline);
  o.err = p.Stderr();
  return o;
}

TEST(E2eFlags, BadValuesExitTwoNamingTheFlag) {
  E2eEnv env;
  const std::string key = env.sim().public_key_base64();
  struct Case {
    std::vector<std::string> args;
    std::string must_name;
  };
  std::vector<Case> cases = {
      {{"--telnyx-public-key", key, "--fetch-delay", "5x"}, "--fetch-delay"},
      {{"--telnyx-public-key", key, "--fetch-interval", "-1s"}, "--fetch-interval"},
      {{"--telnyx-public-key", key, "--match-window", ""}, "--match-window"},
      {{"--telnyx-public-key", key, "--fetch-max-attempts", "0"}, "--fetch-max-attempts"},
      {{"--telnyx-public-key", key, "--record-mode", "sometimes"}, "--record-mode"},
      {{"--telnyx-public-key", key, "--storage", "s3"}, "--storage"},
      {{"--telnyx-public-key", key, "--listen", "nonsense"}, "--listen"},
      {{"--telnyx-public-key", key, "--listen", "127.0.0.1:99999"}, "--listen"},
      {{"--listen", "127.0.0.1:0"}, "--telnyx-public-key"},  // no key, no --insecure-skip-signature
      {{"--telnyx-public-key", "not-a-key"}, "public key"},
      {{"--telnyx-public-key", key, "--storage", "supabase"}, "--supabase-url"},
      {{"--telnyx-public-key", key, "--delete-after-upload"}, "--delete-after-upload"},
      {{"--telnyx-public-key", key, "--no-such-flag"}, "--no-such-flag"},
      {{"--telnyx-public-key", key, "--workers-live", "0"}, "--workers-live"},
      {{"--telnyx-public-key", key, "--workers-query", "65"}, "--workers-query"},
      {{"--telnyx-public-key", key, "--workers-copy", "many"}, "--workers-copy"},
      {{"--telnyx-public-key", key, "--match-header", "X Intake Id"}, "--match-header"},
      {{"--telnyx-public-key", key, "--match-header", ""}, "--match-header"},
      {{"--telnyx-public-key", key, "--match-header", std::string(129, 'X')}, "--match-header"},
  };
  for (const auto& c : cases) {
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    SCOPED_TRACE("callrec serve " + joined);
    Outcome o = RunServe(env, c.args);
    EXPECT_EQ(o.exit_code, 2) << o.err;
    EXPECT_NE(o.err.find(c.must_name), std::string::npos) << o.err;
    // Refused before anything is opened: no store, so no `service.started` in an audit log
    // for a service that never ran.
    EXPECT_FALSE(std::filesystem::exists(env.data_dir())) << "a store was created";
    std::filesystem::remove_all(env.data_dir());
  }
  // supabase with a URL but no service key is refused the same way, naming what is missing.
  Outcome no_key = RunServe(env, {"--telnyx-public-key", key, "--storage", "supabase"},
                            {"SUPABASE_URL=http://127.0.0.1:1"});
  EXPECT_EQ(no_key.exit_code, 2) << no_key.err;
  EXPECT_NE(no_key.err.find("SUPABASE_SERVICE_ROLE_KEY"), std::string::npos) << no_key.err;
}

TEST(E2eFlags, AStoreHeldByARunningServeIsRefusedByASecondServeAndByReplay) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe()) << env.serve().Stderr();

  Outcome second = RunServe(env, {"--telnyx-public-key", env.sim().public_key_base64(), "--listen", "127.0.0.1:0"});
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.err.find("in use"), std::string::npos) << second.err;

  CommandResult replay = env.Callrec({"replay"});
  EXPECT_EQ(replay.exit_code, 1) << replay.err;
  EXPECT_NE(replay.err.find("serve"), std::string::npos) << replay.err;
  EXPECT_NE(replay.err.find("in use"), std::string::npos) << replay.err;

  // The running service was not disturbed, and the readers still work beside it.
  EXPECT_EQ(env.Api("GET", "/readyz").status, 200);
  std::string id = env.CreateIntake("+15550100081");
  CommandResult show = env.Callrec({"show", id, "--json"});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_EQ(Json(show.out).Str("/state"), "created") << show.out;
  EXPECT_EQ(env.StopServe(), 0);

  // Stopped: replay now has the store to itself.
  CommandResult after = env.Callrec({"replay"});
  EXPECT_EQ(after.exit_code, 0) << after.err;
}

TEST(E2eFlags, AdminRoutesWithoutTheTokenAreRefused) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe()) << env.serve().Stderr();
  httplib::Client client("127.0.0.1", env.serve().port());
  auto none = client.Post("/api/intakes", R"({"patient_phone":"+15550100082"})", "application/json");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401) << none->body;
  httplib::Headers wrong = {{"Authorization", "Bearer not-the-token"}};
  auto bad = client.Get("/api/intakes", wrong);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401) << bad->body;
  EXPECT_NE(bad->body.find("\"error\""), std::string::npos) << bad->body;
  EXPECT_EQ(env.StopServe(), 0);
}

}  // namespace
}  // namespace callrec::testing::e2e
