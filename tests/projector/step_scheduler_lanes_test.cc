// The actor's lanes, its own due-time index and the append backoff (step_scheduler.h): live
// work is never queued behind copies, finished intakes cost nothing per wake, and a failing disk
// does not make a step re-run against Telnyx in a tight loop.
//
// Background-mode tests run real worker threads; time still comes from the ManualClock (every
// step here is due "now"), and they poll for an outcome with a generous deadline.
#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>

#include "projector/pipeline_fixture.h"

namespace callrec::projector {
namespace pipeline_test {
namespace {

// Media downloads that hang until Release(): a copy worker stuck on a slow server.
class BlockingTransport final : public HttpTransport {
 public:
  explicit BlockingTransport(HttpTransport& inner) : inner_(inner) {}
  core::Result<HttpResponse> Send(const HttpRequest& request) override {
    std::unique_lock lock(mu_);
    ++blocked_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
    --blocked_;
    lock.unlock();
    return inner_.Send(request);
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  bool WaitBlocked(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return blocked_ >= n; });
  }
  int blocked() {
    std::lock_guard lock(mu_);
    return blocked_;
  }

 private:
  HttpTransport& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  int blocked_ = 0;
  bool released_ = false;
};

// Polls `done` until true or 10 s (real time) pass: the machine may be loaded.
template <typename Fn>
bool Eventually(Fn done) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

t::Call CallNo(int n) {
  t::Call c;
  c.ccid = "v3:ccid-" + std::to_string(n);
  c.leg = "leg-" + std::to_string(n);
  c.session = "session-" + std::to_string(n);
  c.to = "+1555012340" + std::to_string(n);
  return c;
}

class Lanes : public Pipeline {
 protected:
  void SetUp() override {
    config_.storage = StorageKind::kFs;
    config_.fetch_delay = 0ms;  // a hangup makes the first query due at once
    options_.workers = {1, 1, 1};
    media_override_ = &blocking_;
    media_.Always("GET", "media.example", ScriptedTransport::Reply(200, Wav(100), {{"content-type", "audio/wav"}}));
    Open();
  }
  void TearDown() override {
    blocking_.Release();
    Close();
  }

  // Intake `id` (call `n`) answered, recorded and hung up, its recording announced: the copy is
  // due. Built from events alone, so nothing runs before the test says so.
  void Fetched(const std::string& id, int n) {
    t::Call call = CallNo(n);
    std::string rec = "rec-" + std::to_string(n);
    t::WebhookExtras x;
    x.recording_id = rec;
    x.recording_url = t::RecordingUrl(id);
    api_.Always("GET", "/v2/recordings/" + rec,
                ScriptedTransport::Json(200, R"({"data":)" + RecordingJson(rec, call.leg, call.session, id,
                                                                           "2026-11-20T15:09:48Z") + "}"));
    // One atomic write: a running actor sees only the final state, not a record_start to send.
    std::vector<core::Event> events = {
        t::IntakeCreated(Now(), id, call.to),
        t::Webhook(Now(), "call.answered", "evt-answered-" + rec, call),
        t::RecordStart(Now(), id, "ok"),
        t::Webhook(Now(), "call.hangup", "evt-hangup-" + rec, call),
        t::Webhook(Now(), "call.recording.saved", "evt-saved-" + rec, call, std::nullopt, x)};
    AppendAll(std::move(events));
    ASSERT_EQ(projector_->Snapshot(id)->state, State::kFetched);
  }
  // The copy lane's only worker is stuck downloading intake A's recording.
  void CopyWorkerBusy() {
    Fetched("intake_aaaa0001", 1);
    scheduler_->Start();
    ASSERT_TRUE(blocking_.WaitBlocked(1)) << "the copy never started";
  }
  bool Sent(const std::string& method, const std::string& url_part) {
    for (const auto& r : api_.requests())
      if (r.method == method && r.url.find(url_part) != std::string::npos) return true;
    return false;
  }

  BlockingTransport blocking_{media_};
};

TEST_F(Lanes, RecordStartIsSentWhileEveryCopyWorkerIsBusy) {
  CopyWorkerBusy();
  api_.Always("POST", "/actions/record_start", ScriptedTransport::Json(200, R"({"data":{"result":"ok"}})"));
  t::Call call = CallNo(2);
  Append(t::IntakeCreated(Now(), "intake_bbbb0002", call.to));
  Append(t::Webhook(Now(), "call.answered", "evt-answered-2", call));
  EXPECT_TRUE(Eventually([&] { return Sent("POST", "v3%3Accid-2/actions/record_start"); }))
      << "record_start waited for the copy";
  EXPECT_EQ(blocking_.blocked(), 1) << "the copy is still running";
  EXPECT_TRUE(Eventually([&] { return projector_->Snapshot("intake_bbbb0002")->state == State::kRecording; }));
}

TEST_F(Lanes, QueryForACallThatJustEndedIsNotBlockedByCopies) {
  CopyWorkerBusy();
  api_.Always("POST", "/actions/record_start", ScriptedTransport::Json(200, R"({"data":{"result":"ok"}})"));
  api_.Always("GET", "/v2/recordings?", ScriptedTransport::Json(200, Listing({})));
  t::Call call = CallNo(2);
  Append(t::IntakeCreated(Now(), "intake_bbbb0002", call.to));
  Append(t::Webhook(Now(), "call.answered", "evt-answered-2", call));
  ASSERT_TRUE(Eventually([&] { return projector_->Snapshot("intake_bbbb0002")->state == State::kRecording; }));
  Append(t::Webhook(Now(), "call.hangup", "evt-hangup-2", call));
  EXPECT_TRUE(Eventually([&] { return Sent("GET", "filter%5Bcall_leg_id%5D=leg-2"); }))
      << "the recordings query waited for the copy";
  EXPECT_EQ(blocking_.blocked(), 1);
}

TEST_F(Lanes, MetricsShowEachLanesDepthInFlightAndOldestDueAge) {
  CopyWorkerBusy();
  Fetched("intake_cccc0003", 3);  // due now, behind the busy worker
  std::string text;
  ASSERT_TRUE(Eventually([&] {
    return metrics_.Render().find(R"(callrec_lane_queue_depth{lane="copy"} 1)") != std::string::npos;
  })) << metrics_.Render();
  clock_.Advance(5s);
  EXPECT_TRUE(Eventually([&] {
    text = metrics_.Render();
    return text.find(R"(callrec_lane_oldest_due_age_seconds{lane="copy"} 5.000)") != std::string::npos;
  })) << text;
  EXPECT_NE(text.find(R"(callrec_lane_queue_depth{lane="copy"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(callrec_lane_in_flight{lane="copy"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(callrec_lane_queue_depth{lane="live"} 0)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(callrec_lane_in_flight{lane="query"} 0)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(callrec_lane_workers{lane="copy"} 1)"), std::string::npos) << text;
  blocking_.Release();
  EXPECT_TRUE(Eventually([&] { return projector_->Snapshot("intake_cccc0003")->state == State::kStored; }));
}

// Which step of a lane goes first when several wait for its one worker.
class Order : public Pipeline {
 protected:
  void SetUp() override {
    config_.storage = StorageKind::kNone;
    api_.Always("GET", "/v2/recordings?", ScriptedTransport::Json(200, Listing({})));
    Open();
  }
  // Intake of call `n` created, answered, recorded and hung up now, its query due at `due`.
  void EndedCall(int n, int64_t due) {
    t::Call call = CallNo(n);
    std::string id = "intake_dddd000" + std::to_string(n);
    Append(t::IntakeCreated(Now(), id, call.to));
    Append(t::Webhook(Now(), "call.answered", "evt-answered-" + std::to_string(n), call));
    Append(t::RecordStart(Now(), id, "ok"));
    Append(t::Webhook(Now(), "call.hangup", "evt-hangup-" + std::to_string(n), call));
    Append(t::FetchScheduled(Now(), id, 1, 0, due));
  }
};

// The order the recordings queries reached Telnyx, by call number.
std::string QueryOrder(ScriptedTransport& api) {
  std::string order;
  for (const auto& r : api.requests())
    for (char n : {'1', '2', '3'})
      if (r.url.find(std::string("leg-") + n) != std::string::npos) order += n;
  return order;
}

TEST_F(Order, ACallThatJustEndedGoesBeforeTheBacklogEvenIfTheBacklogsStepCameDueFirst) {
  // Call 1 ended hours ago and its query has waited since (an outage): the backlog. Call 2
  // ended a minute ago; its query came due after the backlog's.
  EndedCall(1, Now() + 1 * t::kMin);
  clock_.Advance(3h);
  EndedCall(2, Now() + 1 * t::kMin);
  clock_.Advance(2min);
  RunDue();
  EXPECT_EQ(QueryOrder(api_), "21") << "the newer call goes first";
}

TEST_F(Order, LiveStepsGoOldestDueFirstSoNewerCallsNeverStarveAnOlderOne) {
  // Three calls ending a minute apart, each query due a minute after its hangup, all waiting
  // for a worker: when calls end faster than the lane serves them, first come, first served
  // (newest first would leave call 1 waiting for as long as newer calls keep coming).
  for (int n : {1, 2, 3}) {
    EndedCall(n, Now() + 1 * t::kMin);
    clock_.Advance(1min);
  }
  clock_.Advance(2min);
  RunDue();
  EXPECT_EQ(QueryOrder(api_), "123");
}

TEST_F(Pipeline, AppendFailureBacksOffExponentiallyInsteadOfRerunningTheStep) {
  // ≡ -1 modulo 1001, 2001, 4001 and 8001: full jitter then picks each ceiling exactly.
  random_ = [] { return uint64_t(3053336667380); };
  options_.append_backoff = {1000ms, 8000ms};
  Close();
  Open();
  Append(t::IntakeCreated(Now(), kId, "+15550123456"));
  Append(t::Webhook(Now(), "call.answered", "evt-answered", t::Call{}));
  api_.Always("POST", "/actions/record_start", ScriptedTransport::Json(200, R"({"data":{"result":"ok"}})"));
  faulty_->set_fail_appends(true);
  size_t sent = 0;
  for (int64_t expected : {1000, 2000, 4000, 8000, 8000}) {
    auto next = RunDue();
    ASSERT_EQ(api_.request_count(), ++sent) << "one attempt per backoff, not a tight loop";
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(*next - Now(), expected);
    clock_.Advance(std::chrono::milliseconds(expected - 1));
    RunDue();
    EXPECT_EQ(api_.request_count(), sent) << "not before the backoff";
    clock_.Advance(1ms);
  }
  faulty_->set_fail_appends(false);
  RunDue();
  EXPECT_EQ(Intake().state, State::kRecording);
  EXPECT_NE(metrics_.Render().find("callrec_scheduler_append_failures_total 5"), std::string::npos);
  // The repeat reused the attempt's command_id: Telnyx ignores a repeated command.
  for (const auto& r : api_.requests())
    EXPECT_NE(r.body.find("record-start-1"), std::string::npos) << r.body;
}

// A projection of 100,000 finished intakes and a few open ones, counting what the actor asks of it.
class CountingSource final : public IntakeSource {
 public:
  std::vector<IntakeState> OpenIntakes() override {
    ++open_calls;
    std::vector<IntakeState> out;
    for (const auto& [id, s] : intakes)
      if (s.state != State::kFailed && s.state != State::kStored) out.push_back(s);
    return out;
  }
  std::vector<IntakeState> Get(const std::vector<std::string>& ids) override {
    ids_asked += ids.size();
    std::vector<IntakeState> out;
    for (const auto& id : ids)
      if (auto it = intakes.find(id); it != intakes.end()) out.push_back(it->second);
    return out;
  }
  bool WaitApplied(uint64_t, std::chrono::milliseconds) override { return true; }

  std::map<std::string, IntakeState> intakes;
  int open_calls = 0;
  size_t ids_asked = 0;
};

TEST_F(Pipeline, AHundredThousandFinishedIntakesAddNoWorkPerWake) {
  CountingSource source;
  for (int i = 0; i < 100'000; ++i) {
    IntakeState s;
    char id[32];
    std::snprintf(id, sizeof id, "intake_%08x", i);
    s.id = id;
    s.state = i % 2 ? State::kFailed : State::kStored;
    source.intakes[s.id] = s;
  }
  for (int n : {1, 2, 3}) {  // ended, each with its query due in an hour
    IntakeState s;
    s.id = "intake_open000" + std::to_string(n);
    s.state = State::kEnded;
    s.next_attempt_at_ms = Now() + 60 * t::kMin;
    source.intakes[s.id] = s;
  }
  StepScheduler actor(config_, *store_, clock_, source, *runner_, metrics_, options_);
  EXPECT_EQ(actor.RunDue(Now()), Now() + 60 * t::kMin);
  EXPECT_EQ(source.open_calls, 1);
  EXPECT_EQ(actor.steps_evaluated_for_test(), 3u) << "only the open intakes are planned";
  for (int wake = 0; wake < 10; ++wake) actor.RunDue(Now());
  EXPECT_EQ(actor.steps_evaluated_for_test(), 3u) << "a wake with nothing changed does nothing";
  EXPECT_EQ(source.ids_asked, 0u);

  // One change: exactly that intake is re-read and re-planned (fetched, no storage: done).
  source.intakes["intake_open0002"].state = State::kFetched;
  actor.Notify({"intake_open0002"});
  EXPECT_EQ(actor.RunDue(Now()), Now() + 60 * t::kMin);
  EXPECT_EQ(source.ids_asked, 1u);
  EXPECT_EQ(actor.steps_evaluated_for_test(), 4u);
  actor.RunDue(Now());
  EXPECT_EQ(actor.steps_evaluated_for_test(), 4u) << "a finished intake is never looked at again";
  EXPECT_EQ(source.open_calls, 1) << "never a full scan again";
  EXPECT_EQ(api_.request_count(), 0u);
}

}  // namespace
}  // namespace pipeline_test
}  // namespace callrec::projector
