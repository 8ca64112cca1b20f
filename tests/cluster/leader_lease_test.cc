// LeaderLease and fenced appends against the real PostgreSQL of ./scripts/test. Leases are short
// (a few hundred ms of PostgreSQL's clock) so the tests stay quick.
#include "cluster/leader_lease.h"

#include <gtest/gtest.h>

#include <thread>

#include "cluster/log_test_events.h"
#include "cluster/pg_event_log.h"
#include "fakes/manual_clock.h"
#include "fakes/test_postgres.h"
#include "matchers/status_matchers.h"

namespace callrec::cluster {
namespace {

using core::StatusCode;
using testing::StatusIs;
using namespace std::chrono_literals;

class LeaderLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = testing::CreateTestDatabase();
    ASSERT_OK(db);
    url_ = *db;
    log_ = std::move(PgEventLog::Connect(url_, clock_).value());
  }
  std::unique_ptr<LeaderLease> Node(const std::string& id, std::chrono::milliseconds lease) {
    return std::move(LeaderLease::Connect(url_, id, lease).value());
  }

  testing::ManualClock clock_;
  std::string url_;
  std::unique_ptr<PgEventLog> log_;
};

TEST_F(LeaderLeaseTest, OneNodeLeadsAndRenewingKeepsItsTerm) {
  auto a = Node("a", 5s), b = Node("b", 5s);
  auto ta = a->TryAcquireOrRenew();
  ASSERT_OK(ta);
  ASSERT_TRUE(ta->has_value());
  EXPECT_EQ(**ta, 1u);
  auto tb = b->TryAcquireOrRenew();
  ASSERT_OK(tb);
  EXPECT_FALSE(tb->has_value()) << "a's lease is running";
  EXPECT_EQ(**a->TryAcquireOrRenew(), 1u) << "a renewal is not a new term";
  auto info = b->Current();
  ASSERT_OK(info);
  EXPECT_EQ(info->holder, "a");
  EXPECT_FALSE(info->expired);
}

// The SIGSTOP case: the leader's lease runs out while it is paused. From then on its appends are
// refused, before and after another node takes over, and its renewal tells it it was deposed.
TEST_F(LeaderLeaseTest, ALeaderWhoseLeaseRanOutAppendsNothing) {
  auto a = Node("a", 300ms), b = Node("b", 300ms);
  uint64_t term_a = **a->TryAcquireOrRenew();
  ASSERT_OK(log_->Append(Step("intake-1", "a leads"), term_a));
  std::this_thread::sleep_for(450ms);  // a is "paused" past its lease
  EXPECT_THAT(log_->Append(Step("intake-1", "a, expired"), term_a).status(), StatusIs(StatusCode::kFailedPrecondition));
  auto tb = b->TryAcquireOrRenew();
  ASSERT_OK(tb);
  ASSERT_TRUE(tb->has_value());
  EXPECT_EQ(**tb, term_a + 1);
  EXPECT_THAT(log_->Append(Step("intake-1", "a, deposed"), term_a).status(), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_FALSE(a->TryAcquireOrRenew()->has_value()) << "a learns it no longer leads";
  ASSERT_OK(log_->Append(Step("intake-1", "b leads"), **tb));
  EXPECT_EQ(*log_->LastSeq(), 2u) << "only the leaders' appends in their terms";
  EXPECT_OK(log_->Append(Step("intake-1", "a webhook"), std::nullopt)) << "unfenced appends (webhooks) need no lease";
}

TEST_F(LeaderLeaseTest, AReleasedLeaseIsTakenAtOnceWithANewTerm) {
  auto a = Node("a", 10s), b = Node("b", 10s);
  uint64_t term_a = **a->TryAcquireOrRenew();
  ASSERT_OK(a->Release(term_a));
  auto tb = b->TryAcquireOrRenew();
  ASSERT_OK(tb);
  ASSERT_TRUE(tb->has_value()) << "no wait for the 10 s lease after a clean shutdown";
  EXPECT_EQ(**tb, term_a + 1);
}

// Two processes started with the same --node-id (a copied configuration) are still two holders:
// the second does not "renew" the first one's lease and lead beside it.
TEST_F(LeaderLeaseTest, TwoNodesWithTheSameNodeIdDoNotBothLead) {
  auto first = Node("node-1", 5s), copy = Node("node-1", 5s);
  auto t1 = first->TryAcquireOrRenew();
  ASSERT_OK(t1);
  ASSERT_TRUE(t1->has_value());
  auto t2 = copy->TryAcquireOrRenew();
  ASSERT_OK(t2);
  EXPECT_FALSE(t2->has_value()) << "the copy would lead in term " << **t2 << " beside the first";
  EXPECT_NE(first->holder(), copy->holder());
  auto info = copy->Current();
  ASSERT_OK(info);
  EXPECT_EQ(info->holder, "node-1") << "the row names the node id, the instance cut off";
  ASSERT_OK(first->Release(**t1));
  auto taken = copy->TryAcquireOrRenew();
  ASSERT_OK(taken);
  EXPECT_EQ(*taken, std::optional<uint64_t>(2)) << "released: the copy takes over with a new term";
}

TEST_F(LeaderLeaseTest, RacingNodesGetOneLeader) {
  std::vector<std::unique_ptr<LeaderLease>> nodes;
  for (int i = 0; i < 4; ++i) nodes.push_back(Node("n" + std::to_string(i), 5s));
  std::atomic<int> leaders{0}, ready{0};
  std::vector<std::thread> threads;
  for (auto& n : nodes)
    threads.emplace_back([&, node = n.get()] {
      ++ready;
      while (ready < 4) std::this_thread::yield();
      auto t = node->TryAcquireOrRenew();
      ASSERT_OK(t);
      if (t->has_value()) ++leaders;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(leaders.load(), 1);
}

}  // namespace
}  // namespace callrec::cluster
