// Property: for random valid histories (several intakes sharing numbers, duplicates, out-of-order
// deliveries, failures and retries), the derived data the live projector leaves behind — applying
// and flushing in random chunks, crashing (losing unflushed work) and reloading from the store in
// between — is byte-for-byte what one replay from an empty projection writes. The live one is
// store-backed: it keeps only open intakes in memory (under a random OpenPolicy) and reads the
// others back when an event touches them; loading before every event makes every read a read-back.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "fakes/manual_clock.h"
#include "fakes/temp_dir.h"
#include "matchers/status_matchers.h"
#include "projector/event_builders.h"
#include "projector/projection/projection.h"
#include "projector/projection_harness.h"

namespace callrec::projector {
namespace {

using namespace callrec::testing;  // NOLINT: builders

class Random {
 public:
  explicit Random(uint64_t seed) : rng_(seed) {}
  int64_t Between(int64_t lo, int64_t hi) {  // inclusive
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) { return v[size_t(Between(0, int64_t(v.size()) - 1))]; }

 private:
  std::mt19937_64 rng_;
};

// An event with the time it nominally happens; delivery adds jitter, so deliveries reorder.
struct Planned {
  int64_t at;
  core::Event event;
};

class HistoryGenerator {
 public:
  explicit HistoryGenerator(uint64_t seed) : r_(seed) {}

  std::vector<core::Event> Generate() {
    plan_.push_back({kT0 - kMin, ServiceStarted(0, r_.Chance(0.7) ? "manual" : "auto",
                                                r_.Pick<int64_t>({2 * kMin, 10 * kMin}))});
    int intakes = int(r_.Between(1, 6));
    for (int i = 1; i <= intakes; ++i) PlanIntake(i);
    for (int stray = 0; stray < r_.Between(0, 2); ++stray) PlanStrayCall(100 + stray);
    if (r_.Chance(0.3)) {  // a settings change mid-way
      plan_.push_back({kT0 + r_.Between(0, 20 * kMin), ServiceStarted(0, "manual", 10 * kMin)});
    }
    if (r_.Chance(0.2)) {  // a day later: whatever still waits for its answer expires
      Call late = CallFor(999, "+15550009999");
      plan_.push_back({kT0 + 25 * 60 * kMin, Webhook(0, "call.hangup", "wh-late", late)});
    }
    return Deliver();
  }

 private:
  Call CallFor(int n, const std::string& patient) {
    Call c;
    c.ccid = "v3:ccid-" + std::to_string(n);
    c.leg = "leg-" + std::to_string(n);
    c.session = "session-" + std::to_string(n);
    c.to = patient;
    if (r_.Chance(0.2)) {
      c.direction = "incoming";
      std::swap(c.from, c.to);
    }
    return c;
  }

  void Hook(int64_t at, std::string_view type, const Call& call, int64_t occurred,
            const WebhookExtras& x = {}) {
    int copies = r_.Chance(0.3) ? 2 : 1;  // redelivered under a new data.id
    for (int c = 0; c < copies; ++c) {
      std::string data_id = "wh-" + std::to_string(next_webhook_++);
      plan_.push_back({at + c * r_.Between(0, 30 * kSec), Webhook(0, type, data_id, call, occurred, x)});
    }
  }

  void PlanIntake(int i) {
    const std::string id = "intake-" + std::to_string(i);
    const std::string phone = r_.Pick<std::string>({"+15550000001", "+15550000002", "+15550000003"});
    const int64_t created = kT0 + r_.Between(0, 15 * kMin);
    plan_.push_back({created, IntakeCreated(0, id, phone, std::nullopt,
                                            r_.Chance(0.5) ? R"({"clinic":"c)" + std::to_string(i) + "\"}" : "")});
    if (r_.Chance(0.15)) return;  // never called
    Call call = CallFor(i, phone);
    // Some outside the window; some answered before the intake exists (it binds late).
    const int64_t answered = created + (r_.Chance(0.15) ? -r_.Between(5 * kSec, 3 * kMin)
                                                       : r_.Between(5 * kSec, 12 * kMin));
    WebhookExtras answer;
    if (r_.Chance(0.3)) answer.client_state = ClientStateFor(id);
    Hook(answered - 8 * kSec, "call.initiated", call, answered - 8 * kSec);
    Hook(answered, "call.answered", call, answered, answer);
    const int64_t hangup = answered + r_.Between(10 * kSec, 8 * kMin);
    if (r_.Chance(0.9)) Hook(hangup, "call.hangup", call, hangup);
    if (r_.Chance(0.2)) Hook(answered + kMin, "call.playback.started", call, answered + kMin);
    if (r_.Chance(0.15)) Hook(hangup + kSec, "call.recording.error", call, hangup + kSec);
    if (r_.Chance(0.5)) {
      WebhookExtras saved;
      saved.recording_id = "rec-" + std::to_string(i);
      saved.recording_url = RecordingUrl(r_.Chance(0.85) ? id : "intake-other");
      saved.recording_started_at = answered + kSec;
      saved.recording_ended_at = hangup;
      Hook(hangup + 2 * kSec, "call.recording.saved", call, hangup + 2 * kSec, saved);
    }
    PlanActor(id, answered, hangup);
  }

  // What an actor might append for the intake; Apply must cope with any of it in any order.
  void PlanActor(const std::string& id, int64_t answered, int64_t hangup) {
    int64_t t = answered + kSec;
    for (int k = 0; k < r_.Between(0, 2); ++k)
      plan_.push_back({t += kSec, RecordStart(0, id, "transient", 503, "", "HTTP 503")});
    plan_.push_back({t += kSec, r_.Chance(0.85) ? RecordStart(0, id, "ok")
                                                : RecordStart(0, id, "failed", 422,
                                                              R"({"errors":[{"code":"90018","detail":"ended"}]})")});
    if (r_.Chance(0.2))  // a long call asked about before its hangup (still alive)
      plan_.push_back({answered + 2 * kMin, CallStatus(0, id, true, 200, answered + 3 * kMin)});
    if (r_.Chance(0.1))  // the hangup presumed from the call status (may race the real one)
      plan_.push_back({hangup + kSec, PresumedEnded(0, id, "not_alive", hangup)});
    t = hangup + 2 * kMin;
    int queries = int(r_.Between(1, 4));
    for (int q = 1; q <= queries; ++q) {
      plan_.push_back({t, FetchScheduled(0, id, q, q - 1, t + kMin)});
      plan_.push_back({t += kMin, RecordingsList(0, id, r_.Chance(0.2) ? "transient" : "not_found")});
    }
    if (r_.Chance(0.3)) {
      plan_.push_back({t += kSec, IntakeFailed(0, id, "recording_not_found", "nothing after polling")});
      if (r_.Chance(0.5)) plan_.push_back({t += kMin, RetryRequested(0, id)});
    }
    if (r_.Chance(0.7)) {
      std::string rec = "rec-" + id;
      plan_.push_back({t += kSec, Matched(0, id, rec, RecordingUrl(id), double(r_.Between(1, 900000)) / 1000)});
      if (r_.Chance(0.5)) plan_.push_back({t += kSec, StorageUpload(0, id, UploadTransient("HTTP 503", t + kMin))});
      if (r_.Chance(0.2)) {
        plan_.push_back({t += kSec, IntakeFailed(0, id, "upload_failed", "bucket missing")});
        plan_.push_back({t += kMin, RetryRequested(0, id)});
      }
      std::string location = r_.Chance(0.5) ? "file:///data/recordings/" + id + "/recording.wav"
                                             : "https://sb.example/storage/v1/object/public/b/" + id;
      plan_.push_back({t += kMin, StorageUpload(0, id, UploadOk(location, std::string(64, 'a')))});
      if (r_.Chance(0.5)) plan_.push_back({t += kSec, RecordingDelete(0, id, "ok")});
    }
  }

  void PlanStrayCall(int n) {  // a call on the same connection that is nobody's intake
    Call call = CallFor(n, "+15550007777");
    int64_t at = kT0 + r_.Between(0, 20 * kMin);
    if (r_.Chance(0.7)) Hook(at, "call.answered", call, at);
    Hook(at + kMin, "call.hangup", call, at + kMin);
  }

  // Delivery order: nominal time plus jitter, so webhooks overtake each other (and API results).
  std::vector<core::Event> Deliver() {
    std::vector<std::pair<int64_t, size_t>> order;
    for (size_t k = 0; k < plan_.size(); ++k) {
      int64_t jitter = r_.Chance(0.2) ? r_.Between(0, 3 * kMin) : r_.Between(0, 2 * kSec);
      order.push_back({plan_[k].at + jitter, k});
    }
    std::sort(order.begin(), order.end());
    std::vector<core::Event> events;
    for (auto [at, k] : order) {
      core::Event e = plan_[k].event;
      e.recorded_at_ms = at;
      events.push_back(std::move(e));
    }
    return events;
  }

  Random r_;
  std::vector<Planned> plan_;
  int next_webhook_ = 1;
};

DerivedMap ScanAll(core::EventStore& store) {
  DerivedMap kv;
  EXPECT_TRUE(store.ScanDerived("", [&](std::string_view k, std::string_view v) {
    kv[std::string(k)] = std::string(v);
    return true;
  }).ok());
  return kv;
}

void WipeDerived(core::EventStore& store) {
  core::DerivedBatch wipe;
  for (const auto& [key, value] : ScanAll(store)) wipe.Delete(key);
  ASSERT_OK(store.WriteDerived(wipe));
}

// The live projector with crashes: load, apply a random chunk flushing at random points, then
// either flush or lose the unflushed part, and start over from what the store holds.
OpenPolicy RandomPolicy(Random& r) { return OpenPolicy{.fetched = r.Chance(0.5), .stored = r.Chance(0.5)}; }

void RunLiveWithCrashes(core::EventStore& store, Random& r, int& crashes) {
  for (int round = 0; round < 100000; ++round) {
    auto p = Projection::Load(store, RandomPolicy(r));
    ASSERT_OK(p);
    if (p->last_seq() == store.LastSeq()) return;
    int64_t budget = r.Between(1, 40);
    ASSERT_TRUE(store.ForEachFrom(p->last_seq() + 1, [&](const core::Event& e) {
      p->Apply(e);
      EXPECT_OK(p->status());
      if (r.Chance(0.25)) {
        EXPECT_OK(store.WriteDerived(p->Flush()));
      }
      return --budget > 0;
    }).ok());
    if (r.Chance(0.6)) {
      ASSERT_OK(store.WriteDerived(p->Flush()));
    } else {
      ++crashes;  // whatever was applied but not flushed is lost, and must be re-derived
    }
  }
  FAIL() << "the live projector made no progress";
}

// Load, apply one event, write: nothing but the open set survives between events, so every
// finished intake, call binding and unbound intake an event needs is read back from the store.
void RunLiveLoadingBeforeEveryEvent(core::EventStore& store, Random& r) {
  for (uint64_t seq = 1; seq <= store.LastSeq(); ++seq) {
    auto p = Projection::Load(store, RandomPolicy(r));
    ASSERT_OK(p);
    auto e = store.Read(seq);
    ASSERT_OK(e);
    p->Apply(*e);
    ASSERT_OK(p->status());
    ASSERT_OK(store.WriteDerived(p->Flush()));
  }
}

// The open set a store-backed projection yields is the replay's, filtered by the policy.
void ExpectSameOpenSet(core::EventStore& store, const Projection& replay, const OpenPolicy& policy) {
  auto loaded = Projection::Load(store, policy);
  ASSERT_OK(loaded);
  std::vector<std::string> want, got;
  replay.ForEachIntake([&](const IntakeState& s) {
    if (IsOpenUnder(s, policy)) want.push_back(IntakeToJson(s));
  });
  loaded->ForEachPending([&](const IntakeState& s) { got.push_back(IntakeToJson(s)); });
  EXPECT_EQ(got, want);
  EXPECT_EQ(loaded->resident_count(), want.size());
}

void ExpectDerivedEquals(core::EventStore& store, const DerivedMap& expected) {
  DerivedMap live = ScanAll(store);
  ASSERT_EQ(live.size(), expected.size());
  for (const auto& [key, value] : expected) {
    auto it = live.find(key);
    ASSERT_NE(it, live.end()) << "missing " << key;
    ASSERT_EQ(it->second, value) << key;
  }
}

TEST(ProjectionPropertyTest, LoadingBeforeEveryEventEqualsOneReplayByteForByte) {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::vector<core::Event> history = HistoryGenerator(seed).Generate();
    TempDir dir;
    ManualClock clock;
    auto store = std::move(core::EventStore::Open(dir.path(), clock).value());
    ASSERT_OK(store->AppendAll(history, core::Durability::kNoSync));
    auto replay = Projection::Rebuild(*store);
    ASSERT_OK(replay);
    DerivedMap expected;
    ApplyBatch(replay->Flush(), expected);
    Random r(seed * 104729);
    RunLiveLoadingBeforeEveryEvent(*store, r);
    ExpectDerivedEquals(*store, expected);
    for (bool fetched : {false, true})
      for (bool stored : {false, true}) ExpectSameOpenSet(*store, *replay, {fetched, stored});
  }
}

TEST(ProjectionPropertyTest, LiveWithCrashesEqualsOneReplayByteForByte) {
  constexpr int kSeeds = 16;
  constexpr int kRunsPerSeed = 3;
  int crashes = 0;
  size_t events_total = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::vector<core::Event> history = HistoryGenerator(seed).Generate();
    events_total += history.size();
    TempDir dir;
    ManualClock clock;
    auto store = std::move(core::EventStore::Open(dir.path(), clock).value());
    ASSERT_OK(store->AppendAll(history, core::Durability::kNoSync));

    auto replay = Projection::Rebuild(*store);
    ASSERT_OK(replay);
    DerivedMap expected;
    ApplyBatch(replay->Flush(), expected);
    ASSERT_EQ(expected.at("projector/last_seq"), std::to_string(history.size()));

    Random r(seed * 7919);
    for (int run = 0; run < kRunsPerSeed; ++run) {
      WipeDerived(*store);
      RunLiveWithCrashes(*store, r, crashes);
      ExpectDerivedEquals(*store, expected);
    }
    // Every intake record reads back into the state that wrote it.
    replay->ForEachIntake([&](const IntakeState& s) {
      auto back = IntakeFromJson(expected.at("intake/" + s.id));
      ASSERT_OK(back);
      EXPECT_EQ(*back, s);
      EXPECT_EQ(expected.count("state/" + std::string(StateName(s.state)) + "/" + s.id), 1u);
    });
  }
  EXPECT_GT(crashes, kSeeds) << "the schedule should lose unflushed work often";
  EXPECT_GT(events_total, size_t(kSeeds) * 20);
}

// The histories exercise what they claim to: all states and the unmatched/orphan paths occur.
TEST(ProjectionPropertyTest, HistoriesCoverEveryState) {
  std::set<State> states;
  uint64_t unmatched = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    ProjectionHarness h;
    for (core::Event e : HistoryGenerator(seed).Generate()) h.Apply(std::move(e));
    h.projection.ForEachIntake([&](const IntakeState& s) { states.insert(s.state); });
    unmatched += h.projection.unmatched_total();
  }
  EXPECT_TRUE(states.count(State::kCreated));
  EXPECT_TRUE(states.count(State::kEnded) || states.count(State::kRecording));
  EXPECT_TRUE(states.count(State::kFetched));
  EXPECT_TRUE(states.count(State::kStored));
  EXPECT_TRUE(states.count(State::kFailed));
  EXPECT_GT(unmatched, 0u);
}

// Replaying the same history twice in memory gives the same bytes (no hidden iteration order).
TEST(ProjectionPropertyTest, InMemoryReplayIsDeterministicAcrossFlushSchedules) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    std::vector<core::Event> history = HistoryGenerator(seed).Generate();
    ProjectionHarness once, chunked;
    for (const core::Event& e : history) once.Apply(e);
    once.Flush();
    Random r(seed);
    for (const core::Event& e : history) {
      chunked.Apply(e);
      if (r.Chance(0.3)) chunked.Flush();
    }
    chunked.Flush();
    ASSERT_EQ(once.derived, chunked.derived) << "seed " << seed;
  }
}

// ---- monotonic outcomes (intake_state.h [14]): every interleaving of racing events ----------

bool Succeeded(State s) { return s == State::kFetched || s == State::kStored; }

bool IsStaleableFailure(const core::Event& e) {
  return e.type == "intake.failed" && e.payload.find("\"download_failed\"") == std::string::npos &&
         e.payload.find("\"upload_failed\"") == std::string::npos;
}

// Applies `prefix` then every permutation of `racing` (in-memory replay, flushed once) and, for
// the same order, a live-like run flushing after every event; checks at each step that
//  - a stale failure (not about the copy) never moves a fetched/stored intake,
//  - stored is never left,
// and at the end that the outcome is `want` in every order and the flush schedule changes no
// byte. Returns the number of interleavings checked.
int CheckEveryInterleaving(const std::vector<core::Event>& prefix, std::vector<core::Event> racing,
                           State want) {
  std::vector<size_t> order(racing.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  int checked = 0;
  do {
    ProjectionHarness once, live;
    for (const core::Event& e : prefix) {
      once.Apply(e);
      live.Apply(e);
      live.Flush();
    }
    std::string trace;
    for (size_t i : order) {
      const core::Event& e = racing[i];
      trace += " " + e.type + (e.type == "intake.failed" ? "(" + e.payload.substr(11, 12) + ")" : "");
      State before = once.Get("intake-1").state;
      once.Apply(e);
      live.Apply(e);
      live.Flush();
      State after = once.Get("intake-1").state;
      if (before == State::kStored) {
        EXPECT_EQ(after, State::kStored) << "left stored on" << trace;
      }
      if (Succeeded(before) && IsStaleableFailure(e)) {
        EXPECT_EQ(after, before) << "a stale failure overwrote a success on" << trace;
      }
      if (::testing::Test::HasFailure()) return checked;
    }
    once.Flush();
    const IntakeState& end = once.Get("intake-1");
    EXPECT_EQ(end.state, want) << trace;
    EXPECT_FALSE(end.failure_reason.has_value()) << trace;
    EXPECT_EQ(once.derived, live.derived) << "replay != live on" << trace;
    if (::testing::Test::HasFailure()) return checked;
    ++checked;
  } while (std::next_permutation(order.begin(), order.end()));
  return checked;
}

std::vector<core::Event> AnsweredAndRecording(const Call& call) {
  return {ServiceStarted(kT0 - kMin), IntakeCreated(kT0, "intake-1", "+15550123456"),
          Webhook(kT0 + 40 * kSec, "call.answered", "wh-ans", call),
          RecordStart(kT0 + 41 * kSec, "intake-1", "ok")};
}

// The last poll's recording_not_found (and the other failures the actor may decide on old facts)
// racing call.recording.saved, the hangup, a poll's match and the call-status check.
TEST(ProjectionPropertyTest, StaleFailuresNeverOverwriteAFoundRecordingInAnyOrder) {
  Call call;
  WebhookExtras saved;
  saved.recording_url = RecordingUrl("intake-1");
  const int64_t t = kT0 + 10 * kMin;
  std::vector<core::Event> racing = {
      Webhook(t, "call.hangup", "wh-hup", call),
      Webhook(t + 1, "call.recording.saved", "wh-saved", call, std::nullopt, saved),
      Matched(t + 2, "intake-1", "rec-1", RecordingUrl("intake-1"), 12.5),
      IntakeFailed(t + 3, "intake-1", "recording_not_found", "no recording after 10 queries"),
      IntakeFailed(t + 4, "intake-1", "gave_up", "Telnyx gave no usable answer for 24h"),
      PresumedEnded(t + 5, "intake-1", "not_alive", t),
      CallStatus(t + 6, "intake-1", true, 200, t + kMin),
  };
  int n = CheckEveryInterleaving(AnsweredAndRecording(call), racing, State::kFetched);
  EXPECT_EQ(n, 5040);
}

// A copy's outcome racing stale decisions: a storage failure decided before the copy was
// stored, a late recording_not_found, a redelivered recording webhook, a transient retry.
TEST(ProjectionPropertyTest, AStoredCopyIsNeverUndoneInAnyOrder) {
  Call call;
  WebhookExtras saved;
  saved.recording_url = RecordingUrl("intake-1");
  std::vector<core::Event> prefix = AnsweredAndRecording(call);
  prefix.push_back(Webhook(kT0 + 5 * kMin, "call.hangup", "wh-hup", call));
  prefix.push_back(Matched(kT0 + 8 * kMin, "intake-1", "rec-1", RecordingUrl("intake-1"), 12.5));
  const int64_t t = kT0 + 9 * kMin;
  std::vector<core::Event> racing = {
      StorageUpload(t, "intake-1", UploadOk("file:///data/recordings/intake-1/recording.wav",
                                            std::string(64, 'a'))),
      IntakeFailed(t + 1, "intake-1", "upload_failed", "upload failed after 8 attempt(s)"),
      IntakeFailed(t + 2, "intake-1", "recording_not_found", "stale poll"),
      StorageUpload(t + 3, "intake-1", UploadTransient("HTTP 503", t + kMin)),
      Webhook(t + 4, "call.recording.saved", "wh-saved", call, std::nullopt, saved),
      IntakeFailed(t + 5, "intake-1", "download_failed", "download failed after 8 attempt(s)"),
  };
  int n = CheckEveryInterleaving(prefix, racing, State::kStored);
  EXPECT_EQ(n, 720);
}

}  // namespace
}  // namespace callrec::projector
