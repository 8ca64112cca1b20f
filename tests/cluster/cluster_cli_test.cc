// `callrec migrate-log`, `callrec check --event-log` and the readers with --event-log, as an
// operator moving an installation into cluster mode runs them: the real binary, a real store with
// a known history (tools/audit_test_support.h) and the real PostgreSQL of ./scripts/test.
#include <gtest/gtest.h>

#include <filesystem>

#include "cluster/pg_event_log.h"
#include "fakes/run_command.h"
#include "fakes/temp_dir.h"
#include "fakes/test_postgres.h"
#include "tools/audit_test_support.h"
#include "matchers/status_matchers.h"

namespace callrec::testing {
namespace {

class ClusterCli : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = CreateTestDatabase();
    ASSERT_OK(db);
    url_ = *db;
    BuildStoryStore(embedded());
  }
  std::string embedded() const { return dir_.Sub("embedded"); }
  std::string replica() const { return dir_.Sub("replica"); }

  TempDir dir_;
  std::string url_;
};

TEST_F(ClusterCli, MigrateLogCopiesTheSameSeqsAndBytesAndResumesWhereItStopped) {
  auto r = RunCallrec({"migrate-log", "--data-dir", embedded(), "--event-log", url_, "--batch", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto store = core::EventStore::OpenReader(embedded());
  ASSERT_OK(store);
  const uint64_t n = (*store)->LastSeq();
  EXPECT_TRUE(Contains(r.out, "copied " + std::to_string(n) + " events (seqs 1.." + std::to_string(n) + ")")) << r.out;
  ManualClock clock;
  auto log = cluster::PgEventLog::Connect(url_, clock);
  ASSERT_OK(log);
  for (uint64_t s = 1; s <= n; ++s)
    EXPECT_EQ(**(*log)->ReadRecord(s), core::EncodeEventRecord(*(*store)->Read(s))) << "seq " << s;

  r = RunCallrec({"migrate-log", "--data-dir", embedded(), "--event-log", url_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "nothing to copy")) << r.out;

  {  // the embedded serve went on appending meanwhile
    store->reset();
    auto writer = core::EventStore::Open(embedded(), clock);
    ASSERT_OK(writer);
    AppendOrFail(**writer, IntakeCreated(kT0 + kMin, "intake_late_0001", "+15550100000", "", "{}"));
  }
  r = RunCallrec({"migrate-log", "--data-dir", embedded(), "--event-log", url_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "copied 1 events (seqs " + std::to_string(n + 1) + ".." + std::to_string(n + 1) + ")")) << r.out;

  r = RunCallrec({"check", "--event-log", url_, "--data-dir", embedded()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "agrees with the shared log byte for byte on seqs 1.." + std::to_string(n + 1))) << r.out;
}

TEST_F(ClusterCli, ReadersOnAReplicaShowWhatTheEmbeddedStoreShows) {
  ASSERT_EQ(RunCallrec({"migrate-log", "--data-dir", embedded(), "--event-log", url_}).exit_code, 0);
  for (std::vector<std::string> cmd : {std::vector<std::string>{"show", kStored, "--json"},
                                       {"timeline", kStored, "--json"},
                                       {"intakes", "--json"},
                                       {"events"}}) {
    auto want = cmd, got = cmd;
    want.insert(want.end(), {"--data-dir", embedded()});
    got.insert(got.end(), {"--data-dir", replica(), "--event-log", url_});
    auto expected = RunCallrec(want), actual = RunCallrec(got);
    ASSERT_EQ(actual.exit_code, 0) << cmd[0] << ": " << actual.err;
    EXPECT_EQ(actual.out, expected.out) << cmd[0];
  }
  auto verify = RunCallrec({"replay", "--verify", "--data-dir", replica(), "--event-log", url_});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto check = RunCallrec({"check", "--event-log", url_, "--data-dir", replica()});
  EXPECT_EQ(check.exit_code, 0) << check.err;
}

TEST_F(ClusterCli, AnotherStoreIsRefusedAndReportedNeverMixedIn) {
  ASSERT_EQ(RunCallrec({"migrate-log", "--data-dir", embedded(), "--event-log", url_}).exit_code, 0);
  std::string other = dir_.Sub("other");
  {
    ManualClock clock;
    auto store = core::EventStore::Open(other, clock);
    ASSERT_OK(store);
    AppendOrFail(**store, IntakeCreated(kT0, "intake_other_0001", "+15550100001", "", "{}"));
  }
  auto r = RunCallrec({"check", "--event-log", url_, "--data-dir", other});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "differ at seq 1")) << r.err;
  r = RunCallrec({"migrate-log", "--data-dir", other, "--event-log", url_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "holds another log")) << r.err;
  r = RunCallrec({"events", "--data-dir", other, "--event-log", url_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "not a replica of this log")) << r.err;
}

TEST_F(ClusterCli, ABadOrUnreachableEventLogIsAClearError) {
  auto r = RunCallrec({"events", "--data-dir", replica(), "--event-log", "/var/lib/callrec"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(Contains(r.err, "--event-log")) << r.err;
  r = RunCallrec({"migrate-log", "--data-dir", embedded()});
  EXPECT_EQ(r.exit_code, 2) << "--event-log is required";
  r = RunCallrec({"check", "--event-log", "postgresql://callrec:s3cret@127.0.0.1:1/x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "cannot reach PostgreSQL")) << r.err;
  EXPECT_FALSE(Contains(r.err, "s3cret")) << r.err;
}

// A node that cannot reach the shared log does not start (and never serves from its replica alone).
TEST_F(ClusterCli, ServeWithAnUnreachableEventLogStopsAtStart) {
  auto r = RunCallrec({"serve", "--event-log", "postgresql://callrec:s3cret@127.0.0.1:1/x", "--data-dir", dir_.Sub("serve"),
                       "--listen", "127.0.0.1:0", "--insecure-skip-signature"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(Contains(r.err, "cannot reach PostgreSQL")) << r.err;
  EXPECT_FALSE(Contains(r.err, "s3cret")) << r.err;
  r = RunCallrec({"serve", "--data-dir", dir_.Sub("serve"), "--listen", "127.0.0.1:0", "--insecure-skip-signature",
                  "--leader-lease", "10ms"},
                 {"CALLREC_EVENT_LOG=" + url_});
  EXPECT_EQ(r.exit_code, 2) << "a lease too short to renew is a usage error: " << r.err;
  EXPECT_TRUE(Contains(r.err, "--leader-lease")) << r.err;
  for (std::string bad : {std::string("node 1"), std::string("n\nforged log line"), std::string(65, 'n')}) {
    r = RunCallrec({"serve", "--data-dir", dir_.Sub("serve"), "--listen", "127.0.0.1:0", "--insecure-skip-signature",
                    "--node-id", bad},
                   {"CALLREC_EVENT_LOG=" + url_});
    EXPECT_EQ(r.exit_code, 2) << "--node-id '" << bad << "': " << r.err;
    EXPECT_TRUE(Contains(r.err, "--node-id: 1 to 64 letters")) << r.err;
  }
}

}  // namespace
}  // namespace callrec::testing
