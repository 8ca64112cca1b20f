#include "core/event_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "fakes/manual_clock.h"
#include "fakes/temp_dir.h"
#include "matchers/status_matchers.h"

namespace callrec::core {
namespace {

using testing::ManualClock;
using testing::TempDir;

Event Ev(std::string type, std::string intake = "", std::string key = "", std::string payload = "{}") {
  Event e;
  e.type = std::move(type);
  e.intake_id = std::move(intake);
  e.source = "api";
  e.payload = std::move(payload);
  e.idempotency_key = std::move(key);
  return e;
}

std::vector<uint64_t> AllSeqs(EventStore& store) {
  std::vector<uint64_t> seqs;
  EXPECT_TRUE(store.ForEachFrom(1, [&](const Event& e) {
    seqs.push_back(e.seq);
    return true;
  }).ok());
  return seqs;
}

void ExpectContiguous(const std::vector<uint64_t>& seqs) {
  for (size_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i + 1) << "gap or reuse at " << i;
}

TEST(EventStore, AssignsSeqsFromOneAndStampsTheClock) {
  TempDir dir;
  ManualClock clock;
  auto store = EventStore::Open(dir.path(), clock);
  ASSERT_OK(store);
  auto a = (*store)->Append(Ev("intake.created", "i1"));
  clock.Advance(std::chrono::milliseconds(1500));
  auto b = (*store)->Append(Ev("telnyx.webhook"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->seq, 1u);
  EXPECT_EQ(b->seq, 2u);
  EXPECT_EQ((*store)->LastSeq(), 2u);
  EXPECT_EQ((*store)->Read(2)->recorded_at_ms, ManualClock::kStartMillis + 1500);
  EXPECT_EQ((*store)->Read(3).status().code(), StatusCode::kNotFound);
}

TEST(EventStore, EightThreadsAppendingKeepSeqsContiguous) {
  TempDir dir;
  ManualClock clock;
  auto store = std::move(EventStore::Open(dir.path(), clock).value());
  constexpr int kThreads = 8, kPerThread = 200;
  std::vector<std::thread> threads;
  std::vector<std::vector<uint64_t>> returned(kThreads);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = store->Append(Ev("x", "intake_" + std::to_string(t), "", std::to_string(i)));
        ASSERT_OK(r);
        returned[t].push_back(r->seq);
      }
    });
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (auto& v : returned) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), size_t(kThreads * kPerThread)) << "a seq was handed out twice";
  ExpectContiguous(AllSeqs(*store));
  // Each thread's own appends come back in its order through the intake index.
  std::vector<std::string> payloads;
  ASSERT_TRUE(store->ForEachOfIntake("intake_3", [&](const Event& e) {
    payloads.push_back(e.payload);
    return true;
  }).ok());
  ASSERT_EQ(payloads.size(), size_t(kPerThread));
  for (int i = 0; i < kPerThread; ++i) EXPECT_EQ(payloads[i], std::to_string(i));
}

TEST(EventStore, RacingDuplicateKeysWriteExactlyOneEvent) {
  TempDir dir;
  ManualClock clock;
  auto store = std::move(EventStore::Open(dir.path(), clock).value());
  for (int round = 0; round < 20; ++round) {
    std::string key = "telnyx:evt-" + std::to_string(round);
    std::vector<std::thread> threads;
    std::vector<AppendResult> results(8);
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&, t] { results[t] = store->Append(Ev("telnyx.webhook", "", key)).value(); });
    for (auto& th : threads) th.join();
    int fresh = 0;
    for (auto& r : results) {
      fresh += !r.duplicate;
      EXPECT_EQ(r.seq, results[0].seq) << "every answer names the first copy";
    }
    EXPECT_EQ(fresh, 1);
    EXPECT_EQ(*store->FindIdempotencyKey(key).value(), results[0].seq);
  }
  EXPECT_EQ(store->LastSeq(), 20u);
  ExpectContiguous(AllSeqs(*store));
}

TEST(EventStore, AppendAllIsOneStepAndSkipsDuplicatesIndividually) {
  TempDir dir;
  ManualClock clock;
  auto store = std::move(EventStore::Open(dir.path(), clock).value());
  ASSERT_OK(store->Append(Ev("a", "", "k1")));
  std::vector<Event> batch = {Ev("b", "", "k1"), Ev("c", "i"), Ev("d", "", "k2"), Ev("e", "", "k2")};
  auto r = store->AppendAll(std::move(batch));
  ASSERT_OK(r);
  EXPECT_TRUE((*r)[0].duplicate);
  EXPECT_EQ((*r)[0].seq, 1u);
  EXPECT_EQ((*r)[1].seq, 2u);
  EXPECT_EQ((*r)[2].seq, 3u);
  EXPECT_TRUE((*r)[3].duplicate);
  EXPECT_EQ((*r)[3].seq, 3u);
  EXPECT_EQ(store->LastSeq(), 3u);
}

TEST(EventStore, RejectsOverlongIntakeIds) {
  TempDir dir;
  ManualClock clock;
  auto store = std::move(EventStore::Open(dir.path(), clock).value());
  auto r = store->Append(Ev("x", std::string(256, 'a')));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->LastSeq(), 0u);
}

TEST(EventStore, ReopenedStoreContinuesTheSequenceAndKeepsKeys) {
  TempDir dir;
  ManualClock clock;
  {
    auto store = std::move(EventStore::Open(dir.path(), clock).value());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->Append(Ev("x", "", "k" + std::to_string(i))).ok());
  }
  auto store = std::move(EventStore::Open(dir.path(), clock).value());
  EXPECT_EQ(store->LastSeq(), 5u);
  auto dup = store->Append(Ev("x", "", "k2"));
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->seq, 3u);
  EXPECT_EQ(store->Append(Ev("y"))->seq, 6u);
}

TEST(EventStore, SecondWriterIsRefusedWithAClearMessage) {
  TempDir dir;
  ManualClock clock;
  auto first = EventStore::Open(dir.path(), clock);
  ASSERT_OK(first);
  auto second = EventStore::Open(dir.path(), clock);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos);
}

TEST(EventStore, StoreDirectoryIsOwnerOnly) {
  TempDir dir;
  ManualClock clock;
  std::string path = dir.Sub("store");
  ASSERT_OK(EventStore::Open(path, clock));
  auto perms = std::filesystem::status(path).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all, std::filesystem::perms::owner_all);
}

TEST(EventStore, CheckPassesOnASoundLogAndNamesAFlippedRecord) {
  TempDir dir;
  ManualClock clock;
  auto store = std::move(EventStore::Open(dir.path(), clock).value());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store->Append(Ev("x", "i" + std::to_string(i % 3), "k" + std::to_string(i))).ok());
  auto report = store->Check();
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok()) << report->problem;
  EXPECT_EQ(report->events, 10u);
  ASSERT_OK(store->CorruptRecordForTest(7, 20));
  report = store->Check();
  ASSERT_OK(report);
  EXPECT_FALSE(report->ok());
  EXPECT_EQ(report->first_bad_seq, 7u);
  EXPECT_NE(report->problem.find("checksum"), std::string::npos);
  EXPECT_EQ(store->Read(7).status().code(), StatusCode::kCorruption);
}

TEST(EventStore, DerivedDataWritesScansAndRebuildsAtomically) {
  TempDir dir;
  ManualClock clock;
  auto store = std::move(EventStore::Open(dir.path(), clock).value());
  DerivedBatch b;
  b.Put("intake/a", "A");
  b.Put("intake/b", "B");
  b.Put("other/x", "X");
  ASSERT_OK(store->WriteDerived(b));
  std::vector<std::string> keys;
  ASSERT_TRUE(store->ScanDerived("intake/", [&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  }).ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"intake/a", "intake/b"}));
  {
    auto rebuild = std::move(store->BeginRebuild().value());
    DerivedBatch nb;
    nb.Put("intake/c", "C");
    ASSERT_OK(rebuild->Write(nb));
    // Not visible until committed; dropped when abandoned.
    EXPECT_FALSE(store->GetDerived("intake/c")->has_value());
  }
  EXPECT_EQ(**store->GetDerived("intake/a"), "A");
  auto rebuild = std::move(store->BeginRebuild().value());
  DerivedBatch nb;
  nb.Put("intake/c", "C");
  ASSERT_OK(rebuild->Write(nb));
  ASSERT_OK(rebuild->Commit());
  EXPECT_FALSE(store->GetDerived("intake/a")->has_value());
  EXPECT_EQ(**store->GetDerived("intake/c"), "C");
  store.reset();
  store = std::move(EventStore::Open(dir.path(), clock).value());
  EXPECT_EQ(**store->GetDerived("intake/c"), "C");
  EXPECT_FALSE(store->GetDerived("intake/a")->has_value());
}

// A child appends as fast as it can and reports each seq whose Append returned; the parent
// SIGKILLs it mid-stream. Every reported seq must be in the reopened log, which stays contiguous.
// Scans stop at the prefix's end (RocksDB is given the first key after it as an upper bound):
// keys just past it, and prefixes ending in 0xff bytes, which have no simple successor.
TEST(EventStore, PrefixScansReturnExactlyTheKeysWithThePrefix) {
  TempDir dir;
  ManualClock clock;
  auto store = std::move(EventStore::Open(dir.path(), clock).value());
  const std::string ff = "p\xff";
  const std::string ffff = "p\xff\xff";
  DerivedBatch b;
  for (const std::string& k : {std::string("o\xff"), std::string("p"), std::string("p\x00", 2), std::string("pa"),
                               ff, ff + "a", ffff, ffff + "z", std::string("q"), std::string("q\x00", 2)})
    b.Put(k, "v");
  ASSERT_OK(store->WriteDerived(b));
  auto scan = [&](std::string_view prefix, std::string_view start) {
    std::vector<std::string> keys;
    EXPECT_OK(store->ScanDerivedFrom(prefix, start, [&](std::string_view k, std::string_view) {
      keys.emplace_back(k);
      return true;
    }));
    return keys;
  };
  using Keys = std::vector<std::string>;
  EXPECT_EQ(scan("p", "p"), (Keys{"p", std::string("p\x00", 2), "pa", ff, ff + "a", ffff, ffff + "z"}));
  EXPECT_EQ(scan("pa", "pa"), (Keys{"pa"}));
  EXPECT_EQ(scan(ff, ff), (Keys{ff, ff + "a", ffff, ffff + "z"}));
  EXPECT_EQ(scan(ffff, ffff), (Keys{ffff, ffff + "z"}));
  EXPECT_EQ(scan(ff, ffff), (Keys{ffff, ffff + "z"}));
  EXPECT_EQ(scan("q", "q"), (Keys{"q", std::string("q\x00", 2)}));
  EXPECT_EQ(scan("", "p\xff\xff").size(), 4u);  // no prefix: every key from `start` on
}

TEST(EventStore, SigkillDuringAppendsLosesNothingAcknowledged) {
  TempDir dir;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    SystemClock clock;
    auto store = EventStore::Open(dir.path(), clock);
    if (!store.ok()) ::_exit(3);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0;; ++i) {
          auto r = (*store)->Append(Ev("x", "i" + std::to_string(t), "k" + std::to_string(t) + "-" + std::to_string(i)));
          if (!r.ok()) ::_exit(4);
          uint64_t seq = r->seq;
          if (::write(fds[1], &seq, sizeof seq) != sizeof seq) ::_exit(5);
        }
      });
    for (auto& th : threads) th.join();
    ::_exit(0);
  }
  ::close(fds[1]);
  std::vector<uint64_t> acked;
  uint64_t seq;
  while (acked.size() < 300 && ::read(fds[0], &seq, sizeof seq) == sizeof seq) acked.push_back(seq);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  while (::read(fds[0], &seq, sizeof seq) == sizeof seq) acked.push_back(seq);
  ::close(fds[0]);
  ASSERT_GE(acked.size(), 300u);

  ManualClock clock;
  auto store = std::move(EventStore::Open(dir.path(), clock).value());
  std::vector<uint64_t> seqs = AllSeqs(*store);
  ExpectContiguous(seqs);
  for (uint64_t s : acked) EXPECT_LE(s, seqs.size()) << "acknowledged seq " << s << " was lost";
  auto report = store->Check();
  EXPECT_TRUE(report->ok()) << report->problem;
}

// `callrec events` and the audit CLI read while `serve` holds the store.
TEST(EventStore, ReaderSeesAnotherProcessesAppends) {
  TempDir dir;
  int ready[2], go[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(go), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    SystemClock clock;
    auto store = EventStore::Open(dir.path(), clock);
    if (!store.ok()) ::_exit(3);
    for (int i = 0; i < 3; ++i) (void)(*store)->Append(Ev("first", "i1"));
    char c = 1;
    (void)::write(ready[1], &c, 1);
    (void)::read(go[0], &c, 1);
    for (int i = 0; i < 2; ++i) (void)(*store)->Append(Ev("second", "i1"));
    (void)::write(ready[1], &c, 1);
    (void)::read(go[0], &c, 1);  // hold the store open until the parent is done
    ::_exit(0);
  }
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  auto reader = EventStore::OpenReader(dir.path());
  ASSERT_OK(reader);
  EXPECT_EQ((*reader)->LastSeq(), 3u);
  EXPECT_FALSE((*reader)->Append(Ev("x")).ok()) << "a reader must not write";
  ASSERT_EQ(::write(go[1], &c, 1), 1);
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_OK((*reader)->CatchUp());
  EXPECT_EQ((*reader)->LastSeq(), 5u);
  int n = 0;
  ASSERT_OK((*reader)->ForEachOfIntake("i1", [&](const Event&) { return ++n; }));
  EXPECT_EQ(n, 5);
  ASSERT_EQ(::write(go[1], &c, 1), 1);
  int status;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(EventStore, ReaderOnAMissingStoreSaysSo) {
  TempDir dir;
  auto reader = EventStore::OpenReader(dir.Sub("nope"));
  EXPECT_EQ(reader.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace callrec::core
