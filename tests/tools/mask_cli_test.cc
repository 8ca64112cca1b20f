// Secrets in URLs never reach the terminal: usage errors (which echo arguments), --help (which
// shows values from the environment) and failure messages all go through core::MaskSecrets.
#include <gtest/gtest.h>

#include "core/event_store.h"
#include "fakes/manual_clock.h"
#include "fakes/run_command.h"
#include "fakes/temp_dir.h"
#include "matchers/status_matchers.h"

namespace callrec::testing {
namespace {

constexpr const char* kUrl = "postgresql://callrec:Sup3rSecret@127.0.0.1:1/clinic";

void ExpectNoSecret(const CommandResult& r, const std::string& what) {
  EXPECT_EQ(r.out.find("Sup3rSecret"), std::string::npos) << what << "\n" << r.out;
  EXPECT_EQ(r.err.find("Sup3rSecret"), std::string::npos) << what << "\n" << r.err;
}

TEST(MaskCli, AUsageErrorEchoingThePostgresUrlMasksItsPassword) {
  CommandResult r = RunCommand({BinaryPath("callrec"), "pg-sync", "--postgres-url", kUrl, "--onse"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  ExpectNoSecret(r, "mistyped flag");
  r = RunCommand({BinaryPath("callrec"), "pg-sync", "--postgres-url", kUrl, kUrl});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("callrec:***@"), std::string::npos) << "the URL is still recognisable: " << r.err;
  ExpectNoSecret(r, "extra argument");
  r = RunCommand({BinaryPath("callrec"), "serve", "--postgres-url", kUrl, "--port", "x"});
  EXPECT_EQ(r.exit_code, 2);
  ExpectNoSecret(r, "serve usage error");
}

TEST(MaskCli, HelpAndFailuresMaskTheUrlFromTheEnvironment) {
  TempDir dir;
  std::vector<std::string> env = {std::string("CALLREC_POSTGRES_URL=") + kUrl};
  CommandResult r = RunCommand({BinaryPath("callrec"), "pg-sync", "--help"}, env);
  EXPECT_EQ(r.exit_code, 0);
  ExpectNoSecret(r, "--help");
  r = RunCommand({BinaryPath("callrec"), "serve", "--help"}, env);
  ExpectNoSecret(r, "serve --help");
  // A store exists but PostgreSQL is unreachable: the failure names the URL, masked.
  {
    ManualClock clock;
    ASSERT_OK(core::EventStore::Open(dir.path(), clock));
  }
  r = RunCommand({BinaryPath("callrec"), "pg-sync", "--once", "--data-dir", dir.path()}, env);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  ExpectNoSecret(r, "unreachable PostgreSQL");
}

}  // namespace
}  // namespace callrec::testing
