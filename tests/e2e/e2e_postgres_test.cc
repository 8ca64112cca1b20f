// End to end with PostgreSQL (the one ./scripts/test starts; without CALLREC_TEST_POSTGRES_URL
// these tests FAIL): serve keeps callrec_intakes up to date, and a PostgreSQL that is down does
// not stop the service from receiving; `callrec pg-sync --once` catches up later.
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include "e2e/e2e_env.h"
#include "fakes/test_postgres.h"
#include "matchers/status_matchers.h"

namespace callrec::testing::e2e {
namespace {

// A loopback port nothing listens on (bound, read, closed).
int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string PgValue(const std::string& url, const std::string& sql) {
  auto r = QueryOne(url, sql);
  return r.ok() ? *r : "<error: " + r.status().message() + ">";
}

TEST(E2ePostgres, ServeKeepsTheIntakeRowUpToDate) {
  auto db = CreateTestDatabase();
  ASSERT_OK(db);
  E2eEnv env;
  ASSERT_TRUE(env.StartServe({"--storage", "fs", "--postgres-url", *db})) << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100101", "pg-intake-1");
  env.PlaceRecordedCall(id, "+15550100101");
  Json intake = env.WaitForState(id, {"stored", "failed"});
  ASSERT_EQ(intake.Str("/state"), "stored") << intake.text();

  const std::string where = " FROM callrec_intakes WHERE id = 'pg-intake-1'";
  EXPECT_TRUE(Eventually([&] { return PgValue(*db, "SELECT state" + where) == "stored"; }))
      << PgValue(*db, "SELECT state" + where);
  EXPECT_EQ(PgValue(*db, "SELECT metadata->>'recording_id'" + where), intake.Str("/metadata/recording_id"));
  EXPECT_EQ(PgValue(*db, "SELECT patient_phone" + where), "+15550100101");
  EXPECT_EQ(PgValue(*db, "SELECT metadata->>'recording_sha256'" + where), intake.Str("/metadata/recording_sha256"));
  EXPECT_EQ(env.StopServe(), 0);
}

TEST(E2ePostgres, PostgresDownTheServiceKeepsReceivingAndPgSyncCatchesUp) {
  auto db = CreateTestDatabase();
  ASSERT_OK(db);
  E2eEnv env;
  std::string down = "postgresql://callrec@127.0.0.1:" + std::to_string(ClosedPort()) + "/nowhere?connect_timeout=2";
  ASSERT_TRUE(env.StartServe({"--postgres-url", down})) << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100102", "pg-intake-2");
  env.PlaceRecordedCall(id, "+15550100102");
  Json intake = env.WaitForState(id, {"fetched", "failed"});
  ASSERT_EQ(intake.Str("/state"), "fetched") << intake.text();
  ASSERT_TRUE(env.sim().WaitWebhooksIdle(kDeadline));
  for (const auto& d : env.sim().WebhookDeliveries())
    EXPECT_EQ(d.status, 200) << d.event_type << ": webhooks are answered while PostgreSQL is down";
  EXPECT_EQ(env.Api("GET", "/readyz").status, 200);
  std::string log = env.serve().Stderr();
  EXPECT_NE(log.find("pg_sync.failed"), std::string::npos) << "the outage is logged";

  // Caught up from the store by the CLI, beside the running service.
  CommandResult sync = env.Callrec({"pg-sync", "--postgres-url", *db, "--once"});
  ASSERT_EQ(sync.exit_code, 0) << sync.err;
  EXPECT_NE(sync.out.find("\"rows\":"), std::string::npos) << sync.out;
  const std::string where = " FROM callrec_intakes WHERE id = 'pg-intake-2'";
  EXPECT_EQ(PgValue(*db, "SELECT state" + where), "fetched");
  EXPECT_EQ(PgValue(*db, "SELECT metadata->>'recording_id'" + where), intake.Str("/metadata/recording_id"));
  // Once more changes nothing: the checkpoint already covers the log.
  CommandResult again = env.Callrec({"pg-sync", "--postgres-url", *db, "--once"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("\"rows\":0"), std::string::npos) << again.out;
  // PostgreSQL still down and the sync backing off 4 s: SIGTERM is not held up by that wait.
  ASSERT_TRUE(Eventually([&] { return env.serve().Stderr().find("\"retry_ms\":4000") != std::string::npos; }))
      << env.serve().Stderr();
  auto stop_started = std::chrono::steady_clock::now();
  EXPECT_EQ(env.StopServe(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, std::chrono::milliseconds(2500));
}

}  // namespace
}  // namespace callrec::testing::e2e
