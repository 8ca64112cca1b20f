// ClusterStore: two nodes on one shared log (the real PostgreSQL of ./scripts/test), each with its
// own RocksDB replica.
#include "cluster/cluster_store.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "cluster/head_lock_holder.h"
#include "cluster/leader_lease.h"
#include "cluster/log_test_events.h"
#include "fakes/manual_clock.h"
#include "fakes/temp_dir.h"
#include "fakes/test_postgres.h"
#include "matchers/status_matchers.h"

namespace callrec::cluster {
namespace {

using core::StatusCode;
using testing::StatusIs;
using namespace std::chrono_literals;

class ClusterStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = testing::CreateTestDatabase();
    ASSERT_OK(db);
    url_ = *db;
  }
  std::unique_ptr<ClusterStore> Node(const std::string& name) {
    auto local = core::EventStore::Open(dir_.Sub(name), clock_);
    EXPECT_OK(local);
    auto store = ClusterStore::Open(std::move(*local), url_, clock_, 2);
    EXPECT_OK(store);
    return std::move(*store);
  }
  static bool WaitFor(const std::function<bool()>& done) {
    for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(10ms);
    return done();
  }

  testing::ManualClock clock_;
  testing::TempDir dir_;
  std::string url_;
};

TEST_F(ClusterStoreTest, EachNodeReadsItsOwnWritesAndTailsTheOthers) {
  auto a = Node("a"), b = Node("b");
  b->StartTailing(5s);  // a long poll: only NOTIFY can wake b in time
  auto r = a->Append(Webhook("1"), core::Durability::kSync);
  ASSERT_OK(r);
  EXPECT_EQ(r->seq, 1u);
  EXPECT_EQ(a->LastSeq(), 1u) << "read-your-writes: the replica has it when Append returns";
  ASSERT_OK(a->Read(1));
  ASSERT_TRUE(WaitFor([&] { return b->LastSeq() == 1; })) << "b heard the NOTIFY and copied seq 1";

  auto dup = b->Append(Webhook("1"), core::Durability::kSync);
  ASSERT_OK(dup);
  EXPECT_TRUE(dup->duplicate) << "a redelivery to another node is a duplicate";
  EXPECT_EQ(dup->seq, 1u);
  ASSERT_OK(b->Append(Webhook("2"), core::Durability::kSync));
  EXPECT_EQ(b->WaitForAppend(1, 1s), 2u);
  ASSERT_OK(a->SyncFromShared());
  EXPECT_EQ(core::EncodeEventRecord(*a->Read(2)), core::EncodeEventRecord(*b->Read(2)))
      << "both replicas hold the same record at the same seq";
}

// A node copies its own commits into its replica from memory; when other nodes committed in
// between, their events come first (from the shared log), so the replica stays the log's prefix.
TEST_F(ClusterStoreTest, OwnCommitsReachTheReplicaInLogOrderAfterOtherNodesCommits) {
  auto a = Node("a"), b = Node("b");  // no tailing: only the appends move the replicas
  ASSERT_OK(a->Append(Webhook("1"), core::Durability::kSync));
  ASSERT_OK(b->AppendAll({Webhook("2"), Webhook("3")}, core::Durability::kSync));
  EXPECT_EQ(b->LastSeq(), 3u) << "b copied a's seq 1, then its own 2 and 3";
  auto four = a->Append(Webhook("4"), core::Durability::kSync);
  ASSERT_OK(four);
  EXPECT_EQ(four->seq, 4u);
  EXPECT_EQ(a->LastSeq(), 4u) << "a copied b's 2 and 3 before its own 4";
  auto log = PgEventLog::Connect(url_, clock_);
  ASSERT_OK(log);
  for (uint64_t seq = 1; seq <= 4; ++seq) {
    auto shared = (*log)->ReadRecord(seq);
    ASSERT_OK(shared);
    ASSERT_TRUE(shared->has_value());
    EXPECT_EQ(core::EncodeEventRecord(*a->Read(seq)), **shared) << "a, seq " << seq;
    if (seq <= 3) {
      EXPECT_EQ(core::EncodeEventRecord(*b->Read(seq)), **shared) << "b, seq " << seq;
    }
  }
}

// Group commit: concurrent appends share transactions, and each caller still gets its own
// answers (seq, duplicate) and can read its event at once.
TEST_F(ClusterStoreTest, ConcurrentAppendsShareCommitsAndEachGetsItsOwnAnswer) {
  auto a = Node("a");
  constexpr int kThreads = 8, kEach = 40;
  std::vector<std::thread> threads;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  std::atomic<int> wrong{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Every thread also redelivers thread 0's first webhook: one event, however many copies.
        std::string id = i == kEach - 1 ? "0-0" : std::to_string(t) + "-" + std::to_string(i);
        auto r = a->Append(Webhook(id), core::Durability::kSync);
        if (!r.ok()) {
          ++wrong;
          continue;
        }
        auto e = a->Read(r->seq);  // read-your-writes
        if (!e.ok() || e->idempotency_key != "telnyx:" + id) ++wrong;
        if (!r->duplicate) seqs[t].push_back(r->seq);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  std::set<uint64_t> all;
  for (auto& s : seqs) all.insert(s.begin(), s.end());
  const uint64_t expected = kThreads * (kEach - 1);
  EXPECT_EQ(all.size(), expected);
  EXPECT_EQ(*all.rbegin(), expected) << "contiguous from 1, no seq given twice";
  EXPECT_EQ(a->LastSeq(), expected);
}

// With several nodes a commit mostly waits for the head lock behind the others' commits; the
// appends that queue on this node meanwhile go into its next commit together (one transaction,
// one WAL flush), not one commit each.
TEST_F(ClusterStoreTest, AppendsQueuedBehindAnotherNodesCommitShareOneCommit) {
  auto a = Node("a");
  auto other = HeadLockHolder::Start(url_, clock_);
  ASSERT_TRUE(other);
  constexpr int kAppends = 6;
  std::atomic<int> answered{0};
  std::vector<std::thread> appends;
  for (int i = 0; i < kAppends; ++i)
    appends.emplace_back([&, i] {
      auto r = a->Append(Webhook("queued-" + std::to_string(i)), core::Durability::kSync);
      EXPECT_OK(r);
      if (r.ok() && !r->duplicate && a->LastSeq() >= r->seq) ++answered;
    });
  std::this_thread::sleep_for(500ms);  // every append has queued behind the first, which waits for the lock
  EXPECT_EQ(answered.load(), 0);
  other->Release();
  for (auto& t : appends) t.join();
  EXPECT_EQ(answered.load(), kAppends);
  EXPECT_EQ(*testing::QueryOne(url_, "SELECT count(DISTINCT committed_at) FROM callrec_log WHERE seq > 1"), "1")
      << "the six appends in one transaction (committed_at is its start time)";
  EXPECT_EQ(a->LastSeq(), uint64_t{kAppends + 1});
}

// A group is ONE insert PostgreSQL holds at once: big bodies (up to --max-body-bytes) split the
// queue into several commits, as the embedded store's groups are bounded by bytes.
TEST_F(ClusterStoreTest, BigBodiesQueuedTogetherGoInSeveralCommits) {
  auto a = Node("a");
  auto other = HeadLockHolder::Start(url_, clock_);
  ASSERT_TRUE(other);
  constexpr int kAppends = 3;
  std::vector<std::thread> appends;
  for (int i = 0; i < kAppends; ++i)
    appends.emplace_back([&, i] {
      EXPECT_OK(a->Append(Webhook("big-" + std::to_string(i), std::string(3 << 20, 'x')), core::Durability::kSync));
    });
  std::this_thread::sleep_for(500ms);  // all three queue while the other node holds the head lock
  other->Release();
  for (auto& t : appends) t.join();
  EXPECT_EQ(*testing::QueryOne(url_, "SELECT count(*) FROM callrec_log"), "4");
  EXPECT_EQ(*testing::QueryOne(url_, "SELECT count(DISTINCT committed_at) FROM callrec_log WHERE seq > 1"), "3")
      << "3 MiB each: one per commit (a group holds at most 4 MiB)";
}

// A redelivery of a key the replica holds is answered from the replica (a prefix of the shared
// log): a duplicate at once, without waiting for the head lock another node holds, and without
// the INSERT's unique violation, which would roll back the group it joined.
TEST_F(ClusterStoreTest, ARedeliveryTheReplicaKnowsIsADuplicateWithoutATripToPostgres) {
  auto a = Node("a");
  ASSERT_OK(a->Append(Webhook("1"), core::Durability::kSync));
  auto other = HeadLockHolder::Start(url_, clock_);
  ASSERT_TRUE(other);
  auto again = a->AppendAll({Webhook("1", R"({"redelivered":true})")}, core::Durability::kSync);
  other->Release();
  ASSERT_OK(again);
  EXPECT_TRUE((*again)[0].duplicate);
  EXPECT_EQ((*again)[0].seq, 1u);
  EXPECT_EQ(*testing::QueryOne(url_, "SELECT count(*) FROM callrec_log"), "2");

  auto mixed = a->AppendAll({Webhook("2"), Webhook("1"), Webhook("3")}, core::Durability::kSync);
  ASSERT_OK(mixed);
  EXPECT_EQ((*mixed)[0].seq, 3u);
  EXPECT_FALSE((*mixed)[0].duplicate);
  EXPECT_TRUE((*mixed)[1].duplicate);
  EXPECT_EQ((*mixed)[1].seq, 1u);
  EXPECT_EQ((*mixed)[2].seq, 4u) << "the answers in the caller's order";
}

// An intake id longer than the intake index holds fails its own append before it joins a group
// (a group that held it would fail every webhook in it); the others queued with it commit.
TEST_F(ClusterStoreTest, AnOverlongIntakeIdFailsOnlyItsOwnAppend) {
  auto a = Node("a");
  auto other = HeadLockHolder::Start(url_, clock_);
  ASSERT_TRUE(other);
  core::Result<core::AppendResult> good = core::Status::Internal("not run"), bad = good;
  std::thread queued([&] { good = a->Append(Webhook("queued"), core::Durability::kSync); });
  std::this_thread::sleep_for(200ms);  // queued behind the head lock: the next group is forming
  std::thread overlong([&] {
    bad = a->Append(Step(std::string(core::kMaxIntakeIdBytes + 1, 'i'), "{}"), core::Durability::kSync);
  });
  std::this_thread::sleep_for(200ms);
  other->Release();
  queued.join();
  overlong.join();
  EXPECT_OK(good);
  EXPECT_THAT(bad.status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_OK(a->Append(Step(std::string(core::kMaxIntakeIdBytes, 'i'), "{}"), core::Durability::kSync))
      << "255 bytes fit";
  EXPECT_EQ(*testing::QueryOne(url_, "SELECT count(*) FROM callrec_log"), "3") << "the other node's, queued, 255";
}

TEST_F(ClusterStoreTest, TheActorsViewAppendsOnlyWithALiveLeaderTerm) {
  auto a = Node("a");
  core::Event step;
  step.type = "telnyx.record_start";
  step.source = std::string(core::source::kTelnyxApi);
  step.payload = "{}";
  EXPECT_THAT(a->Fenced().Append(step, core::Durability::kSync).status(), StatusIs(StatusCode::kFailedPrecondition))
      << "not leading: nothing appended";
  auto lease = LeaderLease::Connect(url_, "a", 5s);
  ASSERT_OK(lease);
  auto term = (*lease)->TryAcquireOrRenew();
  ASSERT_OK(term);
  a->SetLeaderTerm(*term);
  auto r = a->Fenced().Append(step, core::Durability::kSync);
  ASSERT_OK(r);
  EXPECT_EQ(a->LastSeq(), r->seq);
  a->SetLeaderTerm(**term + 7);  // a term this node does not hold
  EXPECT_THAT(a->Fenced().Append(step, core::Durability::kSync).status(), StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(ClusterStoreTest, AStoreThatIsNotAReplicaIsRefused) {
  auto a = Node("a");
  ASSERT_OK(a->Append(Webhook("1"), core::Durability::kSync));
  auto local = core::EventStore::Open(dir_.Sub("embedded"), clock_);
  ASSERT_OK((*local)->Append(Webhook("mine"), core::Durability::kSync));
  EXPECT_THAT(ClusterStore::Open(std::move(*local), url_, clock_).status(), StatusIs(StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace callrec::cluster
