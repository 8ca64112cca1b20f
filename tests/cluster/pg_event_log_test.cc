// PgEventLog and CatchUpReplica against the real PostgreSQL that ./scripts/test starts.
#include "cluster/pg_event_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "cluster/head_lock_holder.h"
#include "cluster/log_test_events.h"
#include "cluster/replica.h"
#include "core/event_store.h"
#include "fakes/manual_clock.h"
#include "fakes/temp_dir.h"
#include "fakes/test_postgres.h"
#include "matchers/status_matchers.h"

namespace callrec::cluster {
namespace {

using core::StatusCode;
using testing::QueryOne;
using testing::StatusIs;

class PgEventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = testing::CreateTestDatabase();
    ASSERT_OK(db);
    url_ = *db;
    auto log = PgEventLog::Connect(url_, clock_);
    ASSERT_OK(log);
    log_ = std::move(*log);
  }
  std::unique_ptr<PgEventLog> Connect() { return std::move(PgEventLog::Connect(url_, clock_).value()); }

  testing::ManualClock clock_;
  std::string url_;
  std::unique_ptr<PgEventLog> log_;
};

TEST_F(PgEventLogTest, PayloadBytesRoundTripExactlyWithTheirChecksum) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(char(i));  // NUL, invalid UTF-8, everything
  core::Event e = Step("intake-1", bytes + "\r\n{ \"pretty\" :\t1 }");
  e.idempotency_key = std::string("k\0ey\xff", 5);
  auto r = log_->Append(e);
  ASSERT_OK(r);
  EXPECT_EQ(r->seq, 1u);
  EXPECT_FALSE(r->duplicate);

  auto read = log_->ReadFrom(1, 10);
  ASSERT_OK(read);
  ASSERT_EQ(read->size(), 1u);
  e.seq = 1;
  e.recorded_at_ms = testing::ManualClock::kStartMillis;  // stamped by the log's clock
  EXPECT_EQ((*read)[0], e);
  auto record = log_->ReadRecord(1);
  ASSERT_OK(record);
  EXPECT_EQ(**record, core::EncodeEventRecord(e)) << "the record as event.h encodes it, CRC included";
  EXPECT_EQ(*log_->FindIdempotencyKey(e.idempotency_key), std::optional<uint64_t>(1));
}

// The group's arrays travel as binary parameters: keys and intakes are NULL where empty, every
// byte of every element (NUL, quotes, backslashes, braces, commas) arrives as sent, in order.
TEST_F(PgEventLogTest, AGroupMixingKeysIntakesAndAwkwardBytesIsStoredExactly) {
  static constexpr char kAwkward[] = "\0\\x\"{},'NULL\xff\x00\\x41";
  const std::string awkward(kAwkward, sizeof kAwkward - 1);
  std::vector<core::Event> batch;
  batch.push_back(Webhook(awkward, awkward));       // key, no intake
  batch.push_back(Step("intake-" + awkward, "{}"));  // intake, no key
  batch.push_back(Step("", awkward));                // neither
  core::Event both = Step("intake-2", std::string(70000, '\x01'));
  both.idempotency_key = "k,{\"}";
  batch.push_back(both);
  std::vector<core::Event> sent = batch;
  auto r = log_->AppendAll(std::move(batch));
  ASSERT_OK(r);
  ASSERT_EQ(r->size(), 4u);
  auto read = log_->ReadFrom(1, 10);
  ASSERT_OK(read);
  ASSERT_EQ(read->size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*r)[i].seq, i + 1);
    sent[i].seq = i + 1;
    sent[i].recorded_at_ms = testing::ManualClock::kStartMillis;
    EXPECT_EQ((*read)[i], sent[i]) << "seq " << i + 1;
  }
  EXPECT_EQ(*QueryOne(url_, "SELECT string_agg(seq || ':' || (idempotency_key IS NULL) || (intake_id IS NULL), ' ' "
                            "ORDER BY seq) FROM callrec_log"),
            "1:falsetrue 2:truefalse 3:truetrue 4:falsefalse");
  EXPECT_EQ(*log_->FindIdempotencyKey(sent[0].idempotency_key), std::optional<uint64_t>(1));
  EXPECT_EQ(*log_->FindIdempotencyKey("k,{\"}"), std::optional<uint64_t>(4));
}

// A statement failing inside the commit's pipeline (here the insert: a row squats on the next
// seq) commits nothing, moves no head and leaves the connection usable for the next append.
TEST_F(PgEventLogTest, AFailedInsertInTheCommitTripCommitsNothingAndTheNextAppendWorks) {
  ASSERT_OK(log_->Append(Webhook("one")));
  ASSERT_OK(QueryOne(url_, "INSERT INTO callrec_log (seq, record) VALUES (2, '\\x00') RETURNING seq"));
  std::vector<core::Event> batch;
  batch.push_back(Webhook("two"));
  batch.push_back(Webhook("three"));
  auto failed = log_->AppendAll(std::move(batch));
  EXPECT_THAT(failed.status(), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(*QueryOne(url_, "SELECT last_seq FROM callrec_log_head"), "1") << "the head did not move";
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) FROM callrec_log WHERE idempotency_key IS NOT NULL"), "1");
  ASSERT_OK(QueryOne(url_, "DELETE FROM callrec_log WHERE seq = 2 RETURNING seq"));
  auto retried = log_->Append(Webhook("two"));
  ASSERT_OK(retried);
  EXPECT_EQ(retried->seq, 2u);
  EXPECT_FALSE(retried->duplicate);
  EXPECT_EQ(*QueryOne(url_, "SELECT last_seq FROM callrec_log_head"), "2");
}

TEST_F(PgEventLogTest, SeqsAreContiguousInCommitOrderUnderConcurrentAppenders) {
  constexpr int kWriters = 4, kAppends = 40;
  std::atomic<bool> done{false};
  std::atomic<int> prefix_violations{0}, checks{0};
  // A reader on its own connection: what is committed is always exactly seqs 1..max.
  std::thread reader([&] {
    while (!done) {
      auto r = QueryOne(url_, "SELECT count(*) = coalesce(max(seq), 0) FROM callrec_log");
      if (r.ok() && *r != "t") ++prefix_violations;
      ++checks;
    }
  });
  std::vector<std::thread> writers;
  std::vector<std::vector<uint64_t>> seqs(kWriters);
  for (int w = 0; w < kWriters; ++w)
    writers.emplace_back([&, w] {
      auto log = Connect();
      for (int i = 0; i < kAppends; ++i) {
        std::vector<core::Event> batch;
        for (int j = 0; j <= i % 3; ++j) batch.push_back(Step("w" + std::to_string(w), std::to_string(i)));
        auto r = log->AppendAll(std::move(batch));
        ASSERT_OK(r);
        for (auto& a : *r) seqs[w].push_back(a.seq);
      }
    });
  for (auto& t : writers) t.join();
  done = true;
  reader.join();

  std::set<uint64_t> all;
  for (auto& s : seqs) {
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end())) << "one writer's appends come out in its order";
    all.insert(s.begin(), s.end());
  }
  const uint64_t total = kWriters * (kAppends / 3 * 6 + (kAppends % 3 >= 1) + (kAppends % 3 >= 2) * 2);
  EXPECT_EQ(all.size(), total);
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), total) << "no seq skipped, none given twice";
  EXPECT_EQ(prefix_violations.load(), 0) << "after " << checks.load() << " looks";
  auto report = log_->Check();
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok()) << report->problem;
  EXPECT_EQ(report->events, total);
}

TEST_F(PgEventLogTest, RacingDuplicatesOfOneKeyFromSeveralConnectionsMakeOneEvent) {
  constexpr int kNodes = 4, kKeys = 15;
  std::vector<std::unique_ptr<PgEventLog>> nodes;
  for (int n = 0; n < kNodes; ++n) nodes.push_back(Connect());
  for (int k = 0; k < kKeys; ++k) {
    std::atomic<int> ready{0};
    std::vector<core::AppendResult> results(kNodes);
    std::vector<std::thread> threads;
    for (int n = 0; n < kNodes; ++n)
      threads.emplace_back([&, n] {
        ++ready;
        while (ready < kNodes) std::this_thread::yield();
        auto r = nodes[n]->Append(Webhook("dup-" + std::to_string(k), "{\"node\":" + std::to_string(n) + "}"));
        ASSERT_OK(r);
        results[n] = *r;
      });
    for (auto& t : threads) t.join();
    int firsts = 0;
    for (auto& r : results) {
      firsts += !r.duplicate;
      EXPECT_EQ(r.seq, results[0].seq) << "every copy names the first one's seq";
    }
    EXPECT_EQ(firsts, 1) << "key " << k;
  }
  EXPECT_EQ(*log_->LastSeq(), uint64_t(kKeys));
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) FROM callrec_log"), std::to_string(kKeys));
}

TEST_F(PgEventLogTest, ARedeliveredKeyIsADuplicateForeverAlsoInOneBatch) {
  ASSERT_OK(log_->Append(Webhook("evt-1")));
  for (int i = 0; i < 30; ++i) ASSERT_OK(log_->Append(Step("x", std::to_string(i))));
  clock_.Advance(std::chrono::hours(24 * 30));  // no time window: a month later, still a duplicate
  auto later = Connect();
  auto r = later->Append(Webhook("evt-1", "{\"again\":true}"));
  ASSERT_OK(r);
  EXPECT_TRUE(r->duplicate);
  EXPECT_EQ(r->seq, 1u);

  std::vector<core::Event> batch = {Webhook("evt-2"), Webhook("evt-2"), Webhook("evt-1")};
  auto rs = later->AppendAll(std::move(batch));
  ASSERT_OK(rs);
  EXPECT_FALSE((*rs)[0].duplicate);
  EXPECT_EQ((*rs)[0].seq, 32u);
  EXPECT_TRUE((*rs)[1].duplicate);
  EXPECT_EQ((*rs)[1].seq, 32u);
  EXPECT_TRUE((*rs)[2].duplicate);
  EXPECT_EQ(*log_->LastSeq(), 32u);
}

// What an append stored comes back to the caller as stored (seq, recorded_at), so a node can copy
// its own commit into its replica without reading it back: the same bytes as the shared log's.
TEST_F(PgEventLogTest, AnAppendHandsBackTheEventsItCommittedAsStored) {
  std::vector<core::Event> batch;
  batch.push_back(Webhook("a", R"({"n":1})"));
  batch.push_back(Webhook("a", R"({"n":1})"));  // a duplicate inside the batch: not stored twice
  batch.push_back(Step("intake-1", R"({"command_id":"c1"})"));
  std::vector<core::Event> committed;
  auto r = log_->AppendAll(batch, std::nullopt, &committed);
  ASSERT_OK(r);
  ASSERT_EQ(committed.size(), 2u);
  EXPECT_EQ(committed[0].seq, 1u);
  EXPECT_EQ(committed[1].seq, 2u);
  for (const core::Event& e : committed) {
    EXPECT_NE(e.recorded_at_ms, 0);
    auto stored = log_->ReadRecord(e.seq);
    ASSERT_OK(stored);
    ASSERT_TRUE(stored->has_value());
    EXPECT_EQ(core::EncodeEventRecord(e), **stored) << "seq " << e.seq;
  }
  std::vector<core::Event> again;
  auto dup = log_->AppendAll({Webhook("a", R"({"n":1})")}, std::nullopt, &again);
  ASSERT_OK(dup);
  EXPECT_TRUE((*dup)[0].duplicate);
  EXPECT_TRUE(again.empty()) << "a duplicate commits nothing";
}

// A node's group commit (AppendCollected) takes the head lock before it asks for the group, and
// leaves the stored-keys lookup to the UNIQUE constraint: a key already in the log fails the
// INSERT, nothing of the group is written, and the group goes again with the lookup. Every
// caller still gets the right answer, and the fresh events contiguous seqs.
TEST_F(PgEventLogTest, AGroupCommitWithAStoredKeyAnswersItAsADuplicateAndStoresTheRest) {
  ASSERT_OK(log_->Append(Webhook("old")));
  std::vector<core::Event> committed;
  int taken = 0;
  auto r = log_->AppendCollected(
      [&] {
        ++taken;
        return std::vector<core::Event>{Webhook("new-1"), Webhook("old", R"({"again":true})"), Webhook("new-1"),
                                        Step("intake-1", "{}")};
      },
      &committed);
  ASSERT_OK(r);
  EXPECT_EQ(taken, 1) << "the group is taken once, also when it is appended a second time";
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].seq, 2u);
  EXPECT_FALSE((*r)[0].duplicate);
  EXPECT_TRUE((*r)[1].duplicate);
  EXPECT_EQ((*r)[1].seq, 1u) << "the first copy's seq";
  EXPECT_TRUE((*r)[2].duplicate);
  EXPECT_EQ((*r)[2].seq, 2u);
  EXPECT_EQ((*r)[3].seq, 3u);
  ASSERT_EQ(committed.size(), 2u);
  EXPECT_EQ(committed[1].seq, 3u);
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) FROM callrec_log"), "3");
  EXPECT_EQ(*QueryOne(url_, "SELECT last_seq FROM callrec_log_head"), "3");

  auto fresh = log_->AppendCollected([] { return std::vector<core::Event>{Webhook("new-2")}; });
  ASSERT_OK(fresh);
  EXPECT_EQ((*fresh)[0].seq, 4u);
}

// A group holding an intake id too long for the intake index fails whole, with the head lock
// already taken: the transaction is rolled back, so the next append does not wait behind it.
TEST_F(PgEventLogTest, AGroupCommitWithAnOverlongIntakeIdWritesNothingAndReleasesTheHeadLock) {
  auto r = log_->AppendCollected([] {
    return std::vector<core::Event>{Webhook("fine"), Step(std::string(core::kMaxIntakeIdBytes + 1, 'i'), "{}")};
  });
  EXPECT_THAT(r.status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) FROM callrec_log"), "0");
  auto other = PgEventLog::Connect(url_, clock_);  // another session: it needs the head lock
  ASSERT_OK(other);
  auto next = (*other)->Append(Webhook("fine"));
  ASSERT_OK(next);
  EXPECT_EQ(next->seq, 1u);
}

// The group is asked for only once the head lock is held: while another node's transaction holds
// it, the caller waits and has taken nothing yet (what queues meanwhile will join its group).
TEST_F(PgEventLogTest, AGroupCommitTakesItsGroupOnlyOnceItHoldsTheHeadLock) {
  auto other = HeadLockHolder::Start(url_, clock_);
  ASSERT_TRUE(other);
  std::atomic<bool> taken{false};
  std::thread mine([&] {
    auto r = log_->AppendCollected([&] {
      taken = true;
      return std::vector<core::Event>{Webhook("mine")};
    });
    EXPECT_OK(r);
    if (r.ok()) {
      EXPECT_EQ((*r)[0].seq, 2u) << "after the other node's commit";
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(taken.load()) << "asked for its group while another transaction held the head lock";
  other->Release();
  mine.join();
  EXPECT_TRUE(taken.load());
}

TEST_F(PgEventLogTest, PostgresUnreachableIsAClearErrorNeverASuccess) {
  std::string dead = "postgresql://callrec:s3cret@127.0.0.1:1" + url_.substr(url_.rfind('/'));  // nothing on port 1
  auto log = PgEventLog::Connect(dead, clock_);
  EXPECT_THAT(log.status(), StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(log.status().message(), ::testing::HasSubstr("cannot reach PostgreSQL"));
  EXPECT_THAT(log.status().message(), ::testing::Not(::testing::HasSubstr("s3cret")));
}

TEST_F(PgEventLogTest, ALostConnectionFailsTheAppendThenTheNextOneReconnects) {
  ASSERT_OK(log_->Append(Webhook("before")));
  // The server ends this node's session (a failover, a restart, an admin's pg_terminate_backend).
  ASSERT_OK(QueryOne(url_, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE application_name = 'callrec' AND datname = current_database()"));
  auto lost = log_->Append(Webhook("during"));
  EXPECT_THAT(lost.status(), StatusIs(StatusCode::kUnavailable));
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) FROM callrec_log"), "1") << "nothing written, nothing claimed";
  auto retried = log_->Append(Webhook("during"));
  ASSERT_OK(retried);
  EXPECT_EQ(retried->seq, 2u);
  EXPECT_FALSE(retried->duplicate);
}

TEST_F(PgEventLogTest, ImportKeepsSeqsAndRefusesAGapOrAnOverlap) {
  std::vector<core::Event> events;
  for (uint64_t s = 1; s <= 3; ++s) {
    core::Event e = Step("i", "p" + std::to_string(s));
    e.seq = s;
    e.recorded_at_ms = 1000 + int64_t(s);
    events.push_back(e);
  }
  events[1].idempotency_key = "telnyx:a";
  ASSERT_OK(log_->Import(events));
  EXPECT_EQ(*log_->LastSeq(), 3u);
  EXPECT_EQ(**log_->ReadRecord(2), core::EncodeEventRecord(events[1]));

  EXPECT_THAT(log_->Import(events), StatusIs(StatusCode::kFailedPrecondition)) << "seq 1 again";
  core::Event gap = events[0];
  gap.seq = 5;
  EXPECT_THAT(log_->Import({gap}), StatusIs(StatusCode::kFailedPrecondition));
  core::Event same_key = events[1];
  same_key.seq = 4;
  EXPECT_THAT(log_->Import({same_key}), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(*log_->LastSeq(), 3u) << "a refused import writes nothing";
  auto next = log_->Append(Webhook("a"));
  EXPECT_TRUE(next->duplicate) << "imported keys dedupe later appends";
}

TEST_F(PgEventLogTest, CheckFindsADamagedRecord) {
  for (int i = 0; i < 5; ++i) ASSERT_OK(log_->Append(Step("x", std::to_string(i))));
  ASSERT_OK(log_->CorruptRecordForTest(4, 20));
  auto report = log_->Check();
  ASSERT_OK(report);
  EXPECT_FALSE(report->ok());
  EXPECT_EQ(report->first_bad_seq, 4u);
  EXPECT_EQ(report->events, 3u);
  EXPECT_THAT(log_->ReadFrom(1, 10).status(), StatusIs(StatusCode::kCorruption));
}

TEST_F(PgEventLogTest, AReplicaHasTheSameSeqsAndBytesAndRefusesAForeignStore) {
  for (int i = 0; i < 25; ++i) ASSERT_OK(log_->Append(i % 2 ? Webhook(std::to_string(i)) : Step("in", std::to_string(i))));
  testing::TempDir dir;
  auto local = core::EventStore::Open(dir.Sub("replica"), clock_);
  ASSERT_OK(local);
  auto r = CatchUpReplica(*log_, **local, 0, 10);
  ASSERT_OK(r);
  EXPECT_EQ(r->copied, 25u);
  EXPECT_EQ(r->last_seq, 25u);
  for (uint64_t s = 1; s <= 25; ++s)
    EXPECT_EQ(core::EncodeEventRecord(*(*local)->Read(s)), **log_->ReadRecord(s)) << s;
  EXPECT_EQ(*(*local)->FindIdempotencyKey("telnyx:3"), std::optional<uint64_t>(4));

  ASSERT_OK(log_->Append(Step("in", "late")));
  r = CatchUpReplica(*log_, **local);
  ASSERT_OK(r);
  EXPECT_EQ(r->copied, 1u) << "only what is new";

  auto embedded = core::EventStore::Open(dir.Sub("embedded"), clock_);
  ASSERT_OK((*embedded)->Append(Step("other", "mine")));
  EXPECT_THAT(CatchUpReplica(*log_, **embedded).status(), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ((*embedded)->LastSeq(), 1u) << "nothing copied into a store that is not a replica";
}

}  // namespace
}  // namespace callrec::cluster
