// Projection persistence on a real EventStore, and the Projector thread that tails the log.
#include "projector/projection/projector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "fakes/faulty_store.h"
#include "fakes/manual_clock.h"
#include "fakes/temp_dir.h"
#include "matchers/status_matchers.h"
#include "projector/event_builders.h"
#include "projector/projection/projection_keys.h"
#include "projector/projection_harness.h"

namespace callrec::projector {
namespace {

using namespace callrec::testing;  // NOLINT: builders
using std::chrono::milliseconds;

const std::string kPatient = "+15550123456";

std::unique_ptr<core::EventStore> OpenStore(const TempDir& dir, ManualClock& clock) {
  auto store = core::EventStore::Open(dir.path(), clock);
  EXPECT_OK(store);
  return store.ok() ? std::move(store).value() : nullptr;
}

uint64_t Append(core::EventStore& store, core::Event e) {
  auto r = store.Append(std::move(e), core::Durability::kNoSync);
  EXPECT_OK(r);
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
  ASSERT_OK(store->WriteDerived(live.Flush()));
  EXPECT_FALSE(live.has_unflushed_changes());

  auto loaded = Projection::Load(*store);
  ASSERT_OK(loaded);
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
  ASSERT_OK(p);
  EXPECT_EQ(p->last_seq(), 0u);
  EXPECT_EQ(p->settings(), ProjectorSettings{});
  int n = 0;
  p->ForEachIntake([&](const IntakeState&) { ++n; });
  EXPECT_EQ(n, 0);
}

TEST(ProjectionStoreTest, DamagedDerivedDataIsCorruption) {
  const std::string good_intake = [] {
    IntakeState s;
    s.id = "i1";
    s.patient_phone = kPatient;
    s.state = State::kEnded;
    return IntakeToJson(s);
  }();
  using Keys = std::vector<std::pair<std::string, std::string>>;
  for (const Keys& damage : std::vector<Keys>{
           {{"projector/last_seq", "twelve"}},
           {{"projector/format", "two"}},
           {{"projector/settings", R"({"record_mode":"loud","match_window_ms":1})"}},
           {{"projector/unmatched_total", "-"}},
           {{"projector/orphan/x", "{}"}},
           {{"open/ended/ghost", ""}},
           {{"open/ended/i1", ""}, {"intake/i1", R"({"id":"i1"})"}},
           {{"open/ended/i1", ""}, {"intake/i1", good_intake}},  // no projector/updated/i1
           {{"open/ended/i1", ""}, {"intake/i1", good_intake}, {"projector/updated/i1", "x"}},
           {{"open/ended/i2", ""}, {"intake/i2", good_intake}, {"projector/updated/i2", "1"}},
       }) {
    TempDir dir;
    ManualClock clock;
    auto store = OpenStore(dir, clock);
    core::DerivedBatch batch;
    batch.Put("projector/last_seq", "1");
    batch.Put("projector/format", std::to_string(keys::kFormatVersion));
    for (const auto& [key, value] : damage) batch.Put(key, value);
    ASSERT_OK(store->WriteDerived(batch));
    auto p = Projection::Load(*store);
    EXPECT_FALSE(p.ok()) << damage.front().first;
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), core::StatusCode::kCorruption) << damage.front().first;
    }
  }
}

// Derived data written before open/ and projector/format existed cannot be loaded as it is;
// the Projector rebuilds it from the log at open, exactly as `callrec replay` would.
TEST(ProjectionStoreTest, OlderFormatIsRebuiltAtOpen) {
  TempDir dir;
  ManualClock clock;
  auto store = OpenStore(dir, clock);
  Projection live;
  for (core::Event e : MixedHistory()) {
    e.seq = Append(*store, e);
    live.Apply(e);
  }
  ASSERT_OK(store->WriteDerived(live.Flush()));
  DerivedMap expected = ScanAll(*store);
  core::DerivedBatch downgrade;  // what the previous version left: no format, no open index
  for (const auto& [key, value] : expected) {
    if (key == "projector/format" || key.rfind("open/", 0) == 0 || key.rfind("projector/unbound/", 0) == 0 ||
        key.rfind("projector/updated/", 0) == 0)
      downgrade.Delete(key);
  }
  ASSERT_OK(store->WriteDerived(downgrade));
  auto old = Projection::Load(*store);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().code(), core::StatusCode::kFailedPrecondition) << old.status().ToString();

  auto projector = Projector::Open(*store);
  ASSERT_OK(projector);
  EXPECT_EQ(ScanAll(*store), expected);
  EXPECT_EQ((*projector)->Snapshot("i1")->state, State::kEnded);
}

// ---- only open intakes in memory --------------------------------------------------------------

// Per intake: created, answered, hung up, recording found, copied, Telnyx copy deleted — nothing
// left to do. `n` numbers the call.
std::vector<core::Event> FinishedLifecycle(const std::string& id, int n, int64_t t) {
  Call call = CallNo(n);
  call.to = "+1555100" + std::to_string(1000 + n);
  return {IntakeCreated(t, id, call.to),
          Webhook(t + kSec, "call.answered", "wh-a-" + id, call),
          RecordStart(t + 2 * kSec, id, "ok"),
          Webhook(t + kMin, "call.hangup", "wh-h-" + id, call),
          Matched(t + 3 * kMin, id, "rec-" + id, RecordingUrl(id), 58),
          StorageUpload(t + 3 * kMin, id, UploadOk("file:///r/" + id + "/recording.wav", std::string(64, 'a'))),
          RecordingDelete(t + 3 * kMin, id, "ok")};
}

// Applies each event and writes its batch, as the Projector does with one event per batch.
void ApplyAndWrite(core::EventStore& store, Projection& p, core::Event e) {
  e.seq = Append(store, e);
  p.Apply(e);
  ASSERT_OK(p.status());
  ASSERT_OK(store.WriteDerived(p.Flush()));
}

// Intakes still in `created` are not resident: matching finds them through the store's unbound
// index, every candidate of an ambiguous match included, and a call answered before its intake
// existed waits in the store across a restart.
TEST(ProjectionResidencyTest, MatchingAndWaitingCallsWorkFromAReloadedStore) {
  TempDir dir;
  ManualClock clock;
  auto store = OpenStore(dir, clock);
  Call call = CallNo(1), early = CallNo(2);
  early.to = "+15550009999";
  {
    auto p = Projection::Load(*store);
    ASSERT_OK(p);
    for (core::Event e : std::vector<core::Event>{IntakeCreated(kT0, "older", call.to),
                                                  IntakeCreated(kT0 + kSec, "newer", call.to),
                                                  Webhook(kT0 + kSec, "call.answered", "wh-e", early)})
      ApplyAndWrite(*store, *p, e);
  }
  auto p = Projection::Load(*store);
  ASSERT_OK(p);
  EXPECT_EQ(p->resident_count(), 0u) << "created intakes stay in the store";
  EXPECT_EQ(p->unbound_call_count(), 1u) << "the early call still waits for its intake";
  ApplyAndWrite(*store, *p, Webhook(kT0 + kMin, "call.answered", "wh-a", call));
  ApplyAndWrite(*store, *p, IntakeCreated(kT0 + kMin, "late", early.to));
  const IntakeState* newer = p->Find("newer");
  ASSERT_NE(newer, nullptr);
  EXPECT_EQ(newer->state, State::kAnswered);
  EXPECT_EQ(newer->match, "ambiguous");
  EXPECT_EQ(newer->match_candidates, (std::vector<std::string>{"older"}));
  EXPECT_EQ(p->ambiguous_total(), 1u);
  const IntakeState* late = p->Find("late");
  ASSERT_NE(late, nullptr);
  EXPECT_EQ(late->state, State::kAnswered) << "bound late to the call answered before the restart";
  EXPECT_EQ(late->call_control_id, early.ccid);
  EXPECT_EQ(p->unbound_call_count(), 0u);
}

TEST(ProjectionResidencyTest, FinishedIntakesLeaveMemoryAndLoadReadsOnlyTheOpenSet) {
  TempDir dir;
  ManualClock clock;
  auto store = OpenStore(dir, clock);
  FaultyStore counted(*store);
  auto live = Projection::Load(counted);
  ASSERT_OK(live);
  constexpr int kFinished = 300;
  for (int i = 0; i < kFinished; ++i) {
    for (core::Event e : FinishedLifecycle("done-" + std::to_string(i), i, kT0 + i * kMin))
      ApplyAndWrite(counted, *live, e);
    EXPECT_LE(live->resident_count(), 1u) << "only the last batch's intake stays until the next Apply";
  }
  // Three still open: answered, ended (fetch scheduled), fetched.
  Call a = CallNo(9001), b = CallNo(9002), c = CallNo(9003);
  a.to = "+15552000001", b.to = "+15552000002", c.to = "+15552000003";
  const int64_t t = kT0 + kFinished * kMin;
  for (core::Event e : std::vector<core::Event>{
           IntakeCreated(t, "open-a", a.to), IntakeCreated(t, "open-b", b.to), IntakeCreated(t, "open-c", c.to),
           Webhook(t + kSec, "call.answered", "wa", a), Webhook(t + kSec, "call.answered", "wb", b),
           Webhook(t + kSec, "call.answered", "wc", c), Webhook(t + kMin, "call.hangup", "hb", b),
           Webhook(t + kMin, "call.hangup", "hc", c), FetchScheduled(t + kMin, "open-b", 1, 0, t + 3 * kMin),
           Matched(t + 2 * kMin, "open-c", "rec-c", RecordingUrl("open-c"), 12)}) {
    ApplyAndWrite(counted, *live, e);
  }

  uint64_t before = counted.derived_keys_read();
  auto loaded = Projection::Load(counted);
  ASSERT_OK(loaded);
  uint64_t keys_read = counted.derived_keys_read() - before;
  EXPECT_EQ(loaded->resident_count(), 3u);
  // last_seq, format, settings, unmatched_total, ambiguous_total; per open intake its open/ key,
  // intake/ and projector/updated/. Nothing per finished intake.
  EXPECT_LE(keys_read, 5u + 3u * 3u) << "Load must not read finished intakes";
  std::vector<std::string> open;
  loaded->ForEachPending([&](const IntakeState& s) { open.push_back(s.id); });
  EXPECT_EQ(open, (std::vector<std::string>{"open-a", "open-b", "open-c"}));

  // The policy of a service without storage or deletes: fetched ones stay in the store too.
  auto lean = Projection::Load(counted, OpenPolicy{.fetched = false, .stored = false});
  ASSERT_OK(lean);
  EXPECT_EQ(lean->resident_count(), 2u);
  EXPECT_EQ(lean->Find("done-7")->state, State::kStored) << "read back on demand";
  EXPECT_EQ(lean->Find("open-c")->state, State::kFetched);
  EXPECT_EQ(lean->Find("nobody"), nullptr);
}

// Events touching finished intakes (a late webhook, a retry, a duplicate creation, an answer
// naming an old intake) read them back from the store and give exactly what an in-memory
// replay gives.
TEST(ProjectionResidencyTest, LateEventsForFinishedIntakesReadThemBack) {
  TempDir dir;
  ManualClock clock;
  auto store = OpenStore(dir, clock);
  auto live = Projection::Load(*store);
  ASSERT_OK(live);
  Call old_call = CallNo(1);
  old_call.to = "+15553000001";
  Call spare = CallNo(2);
  spare.to = "+15553000002";
  Call third = CallNo(3);
  third.to = "+15553000003";
  WebhookExtras saved;
  saved.recording_id = "rec-late";
  saved.recording_url = RecordingUrl("failed-1");
  saved.recording_started_at = kT0 + kMin;
  saved.recording_ended_at = kT0 + 2 * kMin;
  WebhookExtras named;
  named.client_state = ClientStateFor("abandoned");
  std::vector<core::Event> history = {
      ServiceStarted(kT0 - kMin, "manual", 10 * kMin),
      IntakeCreated(kT0, "failed-1", old_call.to),
      Webhook(kT0 + kSec, "call.answered", "w1", old_call),
      RecordStart(kT0 + 2 * kSec, "failed-1", "ok"),
      Webhook(kT0 + 2 * kMin, "call.hangup", "w2", old_call),
      IntakeFailed(kT0 + 30 * kMin, "failed-1", "recording_not_found", "nothing after polling"),
      IntakeCreated(kT0, "abandoned", spare.to),       // never called: leaves memory
      IntakeCreated(kT0 + kSec, "old-created", third.to),
      IntakeCreated(kT0 + kSec, "retried", "+15553000004"),
      IntakeFailed(kT0 + 2 * kSec, "retried", "gave_up", "x"),
  };
  for (core::Event e : history) ApplyAndWrite(*store, *live, e);
  live->Apply(core::Event{});  // (seq 0: ignored) nothing left behind
  EXPECT_EQ(live->resident_count(), 0u);

  std::vector<core::Event> late = {
      Webhook(kT0 + 40 * kMin, "call.recording.saved", "w3", old_call, kT0 + 40 * kMin, saved),
      IntakeCreated(kT0 + 41 * kMin, "failed-1", "+15559999999"),  // duplicate: the first stands
      Webhook(kT0 + 42 * kMin, "call.answered", "w4", spare, kT0 + 42 * kMin, named),
      Webhook(kT0 + 43 * kMin, "call.answered", "w5", third, kT0 + 2 * kMin),  // delivered late
      RetryRequested(kT0 + 44 * kMin, "retried"),
  };
  for (core::Event e : late) ApplyAndWrite(*store, *live, e);
  EXPECT_EQ(live->Find("failed-1")->state, State::kFetched);
  EXPECT_EQ(live->Find("failed-1")->patient_phone, old_call.to);
  EXPECT_EQ(live->Find("abandoned")->state, State::kAnswered) << "client_state names it";
  EXPECT_EQ(live->Find("old-created")->state, State::kAnswered) << "matched by number in its window";
  EXPECT_EQ(live->Find("retried")->state, State::kCreated);
  EXPECT_EQ(live->unmatched_total(), 0u);

  auto replay = Projection::Rebuild(*store);
  ASSERT_OK(replay);
  DerivedMap expected;
  ApplyBatch(replay->Flush(), expected);
  EXPECT_EQ(ScanAll(*store), expected);
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
  ASSERT_OK(rebuild);
  auto rebuilt = Projection::RebuildInto(
      *store, **rebuild, [&](uint64_t applied, uint64_t) { progress.push_back(applied); }, 3);
  ASSERT_OK(rebuilt);
  ASSERT_OK((*rebuild)->Commit());
  EXPECT_EQ(ScanAll(*store), live_kv);
  EXPECT_EQ(progress.back(), store->LastSeq());
  EXPECT_GE(progress.size(), 4u);

  auto in_memory = Projection::Rebuild(*store);
  ASSERT_OK(in_memory);
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
    EXPECT_OK(p);
    return p.ok() ? std::move(p).value() : nullptr;
  }

  TempDir dir;
  ManualClock clock;
  std::unique_ptr<core::EventStore> store;
};

// The disk failing under `callrec replay`: the rebuild reports the write error (the writer
// thread's), writes nothing after it, and the old generation stays (the caller never commits).
class FailingSecondWrite : public core::DerivedRebuild {
 public:
  explicit FailingSecondWrite(core::DerivedRebuild& real) : real_(real) {}
  core::Status Write(const core::DerivedBatch& batch) override {
    if (++writes == 2) return core::Status::Unavailable("disk full (injected)");
    return real_.Write(batch);
  }
  core::Status Commit() override { return real_.Commit(); }
  std::atomic<int> writes{0};

 private:
  core::DerivedRebuild& real_;
};

TEST(ProjectionStoreTest, RebuildIntoStopsAtTheFirstWriteErrorAndReportsIt) {
  TempDir dir;
  ManualClock clock;
  auto store = OpenStore(dir, clock);
  for (auto list : {MixedHistory(), Continuation()})
    for (const core::Event& e : list) Append(*store, e);
  ASSERT_GE(store->LastSeq(), 8u);
  auto rebuild = store->BeginRebuild();
  ASSERT_OK(rebuild);
  FailingSecondWrite failing(**rebuild);
  auto rebuilt = Projection::RebuildInto(*store, failing, {}, 2);
  EXPECT_THAT(rebuilt, StatusIs(core::StatusCode::kUnavailable));
  EXPECT_NE(rebuilt.status().message().find("disk full"), std::string::npos) << rebuilt.status().message();
  EXPECT_EQ(failing.writes.load(), 2);
}

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
  EXPECT_OK(projector->health());
}

TEST_F(ProjectorTest, RestartContinuesFromTheStoredSeq) {
  for (core::Event e : MixedHistory()) Append(*store, e);
  {
    auto projector = Open();
    ASSERT_OK(projector->CatchUp());
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
  ASSERT_OK(projector->CatchUp());
  EXPECT_EQ(projector->applied_seq(), store->LastSeq());
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  EXPECT_EQ(changed, (std::vector<std::string>{"i1", "i2"}));
  EXPECT_EQ(projector->Snapshot("i1")->state, State::kFetched);
  EXPECT_FALSE(projector->Snapshot("nope").has_value());

  auto replayed = Projection::Rebuild(*store);
  ASSERT_OK(replayed);
  DerivedMap expect;
  ApplyBatch(replayed->Flush(), expect);
  EXPECT_EQ(ScanAll(*store), expect);
}

TEST_F(ProjectorTest, OpenIntakesAndGetAnswerFromTheOpenSet) {
  for (core::Event e : FinishedLifecycle("done", 50, kT0)) Append(*store, e);
  for (core::Event e : MixedHistory()) Append(*store, e);
  {
    auto projector = Open();
    ASSERT_OK(projector->CatchUp());
  }
  auto projector = Open();  // a restart: loads the open set only
  std::vector<std::string> open;
  for (const IntakeState& s : projector->OpenIntakes()) open.push_back(s.id);
  EXPECT_EQ(open, std::vector<std::string>{"i1"}) << "i1 ended; i2 created; done finished";
  EXPECT_EQ(projector->resident_count(), 1u);
  auto got = projector->Get({"i2", "done", "i1", "nope"});
  ASSERT_EQ(got.size(), 1u) << "created, finished and unknown ones have nothing to do";
  EXPECT_EQ(got[0].id, "i1");
  EXPECT_EQ(got[0].state, State::kEnded);
}

// A store read failing while applying (the projection reads finished intakes back) loses no
// event: the projector reports it, reloads, and applies the same events again.
TEST_F(ProjectorTest, ReadFailureWhileApplyingReloadsAndRetries) {
  FaultyStore faulty(*store);
  for (core::Event e : FinishedLifecycle("done", 1, kT0)) Append(*store, e);
  auto p = Projector::Open(faulty);
  ASSERT_OK(p);
  auto& projector = *p;
  ASSERT_OK(projector->CatchUp());
  Append(*store, RetryRequested(kT0 + kMin, "done"));  // not failed: changes nothing, but reads
  Append(*store, IntakeCreated(kT0 + kMin, "done", kPatient));  // a duplicate: read back
  faulty.set_fail_derived_reads(true);
  core::Status failed = projector->CatchUp();
  EXPECT_EQ(failed.code(), core::StatusCode::kUnavailable) << failed.ToString();
  EXPECT_LT(projector->applied_seq(), store->LastSeq());
  faulty.set_fail_derived_reads(false);
  ASSERT_OK(projector->CatchUp());
  EXPECT_EQ(projector->applied_seq(), store->LastSeq());
  auto replayed = Projection::Rebuild(*store);
  ASSERT_OK(replayed);
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
