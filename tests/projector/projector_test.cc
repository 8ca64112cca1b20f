// Projection persistence on a real EventStore, and the Projector thread that tails the log.
#include "projector/projector.h"

#include <gtest/gtest.h>

#include <mutex>

#include "fakes/manual_clock.h"
#include "fakes/temp_dir.h"
#include "projector/event_builders.h"
#include "projector/projection_harness.h"

namespace callrec::projector {
namespace {

using namespace callrec::testing;  // NOLINT: builders
using std::chrono::milliseconds;

const std::string kPatient = "+15550123456";

std::unique_ptr<core::EventStore> OpenStore(const TempDir& dir, ManualClock& clock) {
  auto store = core::EventStore::Open(dir.path(), clock);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

uint64_t Append(core::EventStore& store, core::Event e) {
  auto r = store.Append(std::move(e), core::Durability::kNoSync);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->seq : 0;
}

DerivedMap ScanAll(core::EventStore& store) {
  DerivedMap kv;
  EXPECT_TRUE(store.ScanDerived("", [&](std::string_view k, std::string_view v) {
    kv[std::string(k)] = std::string(v);
    return true;
  }).ok());
  return kv;
}

Call CallNo(int n) {
  Call c;
  c.ccid = "v3:ccid-" + std::to_string(n);
  c.leg = "leg-" + std::to_string(n);
  c.session = "session-" + std::to_string(n);
  return c;
}

// A history that leaves every kind of state behind: a bound intake mid-polling, an orphan
// waiting for its answer, an unmatched call, non-default settings, user metadata.
std::vector<core::Event> MixedHistory() {
  return {
      ServiceStarted(kT0 - kMin, "manual", 15 * kMin),
      IntakeCreated(kT0, "i1", kPatient, "p-1", R"({"clinic":"north","n":[1,2]})"),
      IntakeCreated(kT0 + kSec, "i2", "+15550000002"),
      Webhook(kT0 + kMin, "call.answered", "wh-1", CallNo(1)),
      RecordStart(kT0 + kMin + 1, "i1", "ok"),
      Webhook(kT0 + 2 * kMin, "call.hangup", "wh-2", CallNo(1)),
      FetchScheduled(kT0 + 2 * kMin + 1, "i1", 1, 0, kT0 + 4 * kMin),
      Webhook(kT0 + 3 * kMin, "call.hangup", "wh-3", CallNo(2)),  // orphan: i2's answer is late
      Webhook(kT0 + 3 * kMin, "call.answered", "wh-4", [] {     // nobody's number
        Call c = CallNo(3);
        c.to = "+15559999999";
        return c;
      }()),
  };
}

std::vector<core::Event> Continuation() {
  Call two = CallNo(2);
  two.to = "+15550000002";
  return {
      Webhook(kT0 + 4 * kMin, "call.answered", "wh-5", two, kT0 + 2 * kMin),
      RecordingsList(kT0 + 4 * kMin, "i1", "not_found"),
      Matched(kT0 + 5 * kMin, "i1", "rec-1", RecordingUrl("i1"), 61.5),
      Webhook(kT0 + 5 * kMin, "call.hangup", "wh-6", CallNo(3)),
  };
}

TEST(ProjectionStoreTest, LoadRestoresExactlyWhatWasFlushed) {
  TempDir dir;
  ManualClock clock;
  auto store = OpenStore(dir, clock);
  Projection live;
  for (core::Event e : MixedHistory()) {
    e.seq = Append(*store, e);
    live.Apply(e);
  }
  ASSERT_TRUE(store->WriteDerived(live.Flush()).ok());
  EXPECT_FALSE(live.has_unflushed_changes());

  auto loaded = Projection::Load(*store);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->last_seq(), live.last_seq());
  EXPECT_EQ(loaded->settings(), live.settings());
  EXPECT_EQ(loaded->unmatched_total(), 1u);
  EXPECT_EQ(loaded->orphan_count(), 1u);
  EXPECT_EQ(loaded->IntakeForCall(CallNo(1).leg), "i1");
  for (const char* id : {"i1", "i2"}) {
    ASSERT_NE(loaded->Find(id), nullptr) << id;
    EXPECT_EQ(IntakeToJson(*loaded->Find(id)), IntakeToJson(*live.Find(id)));
  }
  EXPECT_FALSE(loaded->has_unflushed_changes());

  // Both continue identically: same changed ids, same writes.
  for (core::Event e : Continuation()) {
    e.seq = Append(*store, e);
    EXPECT_EQ(loaded->Apply(e), live.Apply(e));
  }
  DerivedMap a, b;
  ApplyBatch(live.Flush(), a);
  ApplyBatch(loaded->Flush(), b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(loaded->Find("i2")->state, State::kFailed) << "hangup was delivered before answer";
  EXPECT_EQ(loaded->orphan_count(), 0u);
  EXPECT_EQ(loaded->unmatched_total(), 2u);
}

TEST(ProjectionStoreTest, EmptyStoreLoadsEmpty) {
  TempDir dir;
  ManualClock clock;
  auto store = OpenStore(dir, clock);
  auto p = Projection::Load(*store);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->last_seq(), 0u);
  EXPECT_EQ(p->settings(), ProjectorSettings{});
  int n = 0;
  p->ForEachIntake([&](const IntakeState&) { ++n; });
  EXPECT_EQ(n, 0);
}

TEST(ProjectionStoreTest, DamagedDerivedDataIsCorruption) {
  for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"projector/last_seq", "twelve"},
           {"intake/i1", R"({"id":"i1"})"},
           {"projector/settings", R"({"record_mode":"loud","match_window_ms":1})"},
           {"projector/orphan/x", "{}"},
           {"projector/phone/+15550123456/ghost", "3"},
           {"updated/short", ""},
           {std::string("updated/\0\0\0\0\0\0\0\x05/ghost", 22), ""},
       }) {
    TempDir dir;
    ManualClock clock;
    auto store = OpenStore(dir, clock);
    core::DerivedBatch batch;
    batch.Put("projector/last_seq", "1");
    batch.Put(key, value);
    ASSERT_TRUE(store->WriteDerived(batch).ok());
    auto p = Projection::Load(*store);
    EXPECT_FALSE(p.ok()) << key;
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), core::StatusCode::kCorruption) << key;
    }
  }
}

TEST(ProjectionStoreTest, RebuildIntoAGenerationMatchesTheLiveProjection) {
  TempDir dir;
  ManualClock clock;
  auto store = OpenStore(dir, clock);
  Projection live;
  for (auto list : {MixedHistory(), Continuation()}) {
    for (core::Event e : list) {
      e.seq = Append(*store, e);
      live.Apply(e);
      ASSERT_TRUE(store->WriteDerived(live.Flush()).ok());  // flush after every event
    }
  }
  DerivedMap live_kv = ScanAll(*store);
  std::vector<uint64_t> progress;
  auto rebuild = store->BeginRebuild();
  ASSERT_TRUE(rebuild.ok());
  auto rebuilt = Projection::RebuildInto(
      *store, **rebuild, [&](uint64_t applied, uint64_t) { progress.push_back(applied); }, 3);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  ASSERT_TRUE((*rebuild)->Commit().ok());
  EXPECT_EQ(ScanAll(*store), live_kv);
  EXPECT_EQ(progress.back(), store->LastSeq());
  EXPECT_GE(progress.size(), 4u);

  auto in_memory = Projection::Rebuild(*store);
  ASSERT_TRUE(in_memory.ok());
  DerivedMap replayed;
  ApplyBatch(in_memory->Flush(), replayed);
  EXPECT_EQ(replayed, live_kv);
}

// ---- the running Projector -------------------------------------------------------------------

class ProjectorTest : public ::testing::Test {
 protected:
  void SetUp() override { store = OpenStore(dir, clock); }
  std::unique_ptr<Projector> Open(Projector::Listener listener = {}) {
    auto p = Projector::Open(*store, std::move(listener), ProjectorOptions{.max_events_per_batch = 4,
                                                                           .idle_wait = milliseconds(20),
                                                                           .retry_after_error = milliseconds(20)});
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(p).value() : nullptr;
  }

  TempDir dir;
  ManualClock clock;
  std::unique_ptr<core::EventStore> store;
};

TEST_F(ProjectorTest, ThreadAppliesAppendsAndWakesWaiters) {
  std::mutex mu;
  std::vector<std::string> seen;
  std::unique_ptr<Projector> projector;
  projector = Open([&](const std::vector<std::string>& changed) {
    // The listener may read the projection: no lock is held while it runs.
    projector->Read([&](const Projection& p) { EXPECT_NE(p.Find(changed.front()), nullptr); });
    std::lock_guard lock(mu);
    seen.insert(seen.end(), changed.begin(), changed.end());
  });
  projector->Start();
  uint64_t seq = Append(*store, IntakeCreated(kT0, "i1", kPatient));
  ASSERT_TRUE(projector->WaitApplied(seq, milliseconds(5000)));
  auto json = store->GetDerived("intake/i1");
  ASSERT_TRUE(json.ok() && json->has_value());
  EXPECT_EQ(IntakeFromJson(**json)->state, State::kCreated);
  EXPECT_TRUE(store->GetDerived("state/created/i1")->has_value());

  for (int i = 2; i <= 10; ++i)
    seq = Append(*store, IntakeCreated(kT0 + i, "i" + std::to_string(i), kPatient));
  ASSERT_TRUE(projector->WaitApplied(seq, milliseconds(5000)));
  EXPECT_EQ(*store->GetDerived("projector/last_seq"), std::to_string(seq));
  EXPECT_FALSE(projector->WaitApplied(seq + 1, milliseconds(30))) << "nothing appended yet";
  projector->Stop();
  std::lock_guard lock(mu);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(seen.front(), "i1");
  EXPECT_TRUE(projector->health().ok());
}

TEST_F(ProjectorTest, RestartContinuesFromTheStoredSeq) {
  for (core::Event e : MixedHistory()) Append(*store, e);
  {
    auto projector = Open();
    ASSERT_TRUE(projector->CatchUp().ok());
    EXPECT_EQ(projector->applied_seq(), store->LastSeq());
  }
  uint64_t before = store->LastSeq();
  for (core::Event e : Continuation()) Append(*store, e);
  std::vector<std::string> changed;
  auto projector = Open([&](const std::vector<std::string>& ids) {
    changed.insert(changed.end(), ids.begin(), ids.end());
  });
  EXPECT_EQ(projector->applied_seq(), before);
  EXPECT_TRUE(projector->WaitApplied(before, milliseconds(0)));
  ASSERT_TRUE(projector->CatchUp().ok());
  EXPECT_EQ(projector->applied_seq(), store->LastSeq());
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  EXPECT_EQ(changed, (std::vector<std::string>{"i1", "i2"}));
  EXPECT_EQ(projector->Snapshot("i1")->state, State::kFetched);
  EXPECT_FALSE(projector->Snapshot("nope").has_value());

  auto replayed = Projection::Rebuild(*store);
  ASSERT_TRUE(replayed.ok());
  DerivedMap expect;
  ApplyBatch(replayed->Flush(), expect);
  EXPECT_EQ(ScanAll(*store), expect);
}

TEST_F(ProjectorTest, StopWithoutStartAndTwiceIsSafe) {
  auto projector = Open();
  projector->Stop();
  projector->Start();
  projector->Stop();
  projector->Stop();
}

}  // namespace
}  // namespace callrec::projector
