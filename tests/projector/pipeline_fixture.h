// pipeline_fixture.h — the actor end to end below HTTP, for step_scheduler tests: a real store
// and projector wired to the StepScheduler as serve wires them, a ManualClock, and scripted
// Telnyx and media answers. RunDue(now) runs what is due, so no test sleeps for a due time.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>

#include "core/metrics.h"
#include "fakes/faulty_store.h"
#include "fakes/manual_clock.h"
#include "fakes/scripted_transport.h"
#include "fakes/temp_dir.h"
#include "matchers/status_matchers.h"
#include "projector/actor/step_scheduler.h"
#include "projector/clients/telnyx_client.h"
#include "projector/event_builders.h"
#include "projector/projection/projector.h"

namespace callrec::projector {
namespace pipeline_test {

using namespace std::chrono_literals;
using testing::ScriptedTransport;
namespace t = callrec::testing;

constexpr char kId[] = "intake_8f14e45f";
constexpr uint64_t kRandom = 1234;  // pinned jitter

inline std::string Wav(size_t samples) {
  std::string data(samples * 4, '\x01');
  auto le32 = [](uint32_t v) { return std::string{char(v), char(v >> 8), char(v >> 16), char(v >> 24)}; };
  std::string h = "RIFF" + le32(uint32_t(36 + data.size())) + "WAVEfmt " + le32(16);
  h += std::string{1, 0, 2, 0} + le32(8000) + le32(8000 * 4) + std::string{4, 0, 16, 0};
  return h + "data" + le32(uint32_t(data.size())) + data;
}

inline std::string RecordingJson(const std::string& id, const std::string& leg, const std::string& session,
                          const std::string& file_stem, const std::string& created_at) {
  return R"({"id":")" + id + R"(","record_type":"recording","call_control_id":"v3:ccid-1","call_leg_id":")" +
         leg + R"(","call_session_id":")" + session +
         R"(","channels":"dual","source":"call","status":"completed","duration_millis":334798,)"
         R"("recording_started_at":"2026-11-20T15:00:12Z","created_at":")" + created_at +
         R"(","download_urls":{"wav":"https://media.example/acct/2026-11-20/)" + file_stem +
         R"(-1795187352.wav?X-Amz-Expires=600"}})";
}

inline std::string Listing(std::vector<std::string> recordings) {
  std::string data;
  for (auto& r : recordings) data += (data.empty() ? "" : ",") + r;
  return R"({"data":[)" + data + R"(],"meta":{"page_number":1,"page_size":250,"total_pages":1,"total_results":)" +
         std::to_string(recordings.size()) + "}}";
}

class Pipeline : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void TearDown() override { Close(); }

  void Open() {
    store_ = std::move(core::EventStore::Open(dir_.path(), clock_).value());
    // As serve wires it: the projector tells the actor which intakes changed.
    projector_ = std::move(Projector::Open(*store_, [this](const std::vector<std::string>& changed) {
      if (auto* s = notify_to_.load()) s->Notify(changed);
      std::lock_guard lock(notified_mu_);
      notified_seq_ = raw_projector_.load()->applied_seq();
      notified_cv_.notify_all();
    }).value());
    raw_projector_ = projector_.get();
    telnyx_ = std::make_unique<TelnyxClient>(api_, clock_, "https://api.telnyx.test", "KEY123");
    storage_ = std::make_unique<FsStorage>(dir_.Sub("recordings"));
    config_.temp_dir = dir_.path();
    runner_ = std::make_unique<StepRunner>(config_, clock_, *telnyx_, media_override_ ? *media_override_ : media_,
                                           config_.storage == StorageKind::kNone ? nullptr : storage_.get(),
                                           random_);
    faulty_ = std::make_unique<t::FaultyStore>(*store_);  // the actor appends through it
    options_.random = &random_;
    scheduler_ = std::make_unique<StepScheduler>(config_, *faulty_, clock_, *projector_, *runner_,
                                                  metrics_, options_);
    notify_to_ = scheduler_.get();
    projector_->Start();
  }
  void Close() {
    // The projector thread may be inside Notify on the scheduler: stop the scheduler's threads,
    // then the projector (no more Notify), and only then destroy the scheduler (TSan saw the
    // scheduler's condition variable destroyed under a Notify when it was reset first).
    if (scheduler_) scheduler_->Stop();
    if (projector_) projector_->Stop();
    notify_to_ = nullptr;
    scheduler_.reset();
    runner_.reset();
    projector_.reset();
    faulty_.reset();
    store_.reset();
  }

  void Append(core::Event e) {
    std::vector<core::Event> one;
    one.push_back(std::move(e));
    AppendAll(std::move(one));
  }
  // One atomic write; returns once the projection has it and the actor was told.
  void AppendAll(std::vector<core::Event> events) {
    for (auto& e : events) e.recorded_at_ms = clock_.WallMillis();
    ASSERT_OK(store_->AppendAll(std::move(events), core::Durability::kSync));
    uint64_t seq = store_->LastSeq();
    ASSERT_TRUE(projector_->WaitApplied(seq, 5s));
    // The listener runs just after the projection is written: wait until the actor was told.
    std::unique_lock lock(notified_mu_);
    ASSERT_TRUE(notified_cv_.wait_for(lock, 5s, [&] { return notified_seq_ >= seq; }));
  }
  int64_t Now() { return clock_.WallMillis(); }
  std::optional<int64_t> RunDue() { return scheduler_->RunDue(clock_.WallMillis()); }
  IntakeState Intake() { return projector_->Snapshot(kId).value(); }

  // created -> answered (record_start 200) -> hangup: the intake waits for its first query.
  void AnsweredAndHungUp() {
    Append(t::IntakeCreated(Now(), kId, "+15550123456"));
    Append(t::Webhook(Now(), "call.answered", "evt-answered", t::Call{}));
    api_.On("POST", "/actions/record_start", ScriptedTransport::Json(200, R"({"data":{"result":"ok"}})"));
    RunDue();
    ASSERT_EQ(Intake().state, State::kRecording);
    clock_.Advance(5min);
    Append(t::Webhook(Now(), "call.hangup", "evt-hangup", t::Call{}));
    RunDue();  // schedules query #1
    ASSERT_EQ(Intake().state, State::kEnded);
  }

  t::TempDir dir_;
  t::ManualClock clock_;
  ScriptedTransport api_;
  ScriptedTransport media_;
  RandomSource random_ = [] { return kRandom; };
  PipelineConfig config_;
  SchedulerOptions options_;
  projector::HttpTransport* media_override_ = nullptr;  // instead of media_ when set
  core::Metrics metrics_;
  std::unique_ptr<core::EventStore> store_;
  std::unique_ptr<t::FaultyStore> faulty_;
  std::unique_ptr<Projector> projector_;
  std::unique_ptr<TelnyxClient> telnyx_;
  std::unique_ptr<FsStorage> storage_;
  std::unique_ptr<StepRunner> runner_;
  std::unique_ptr<StepScheduler> scheduler_;
  std::atomic<StepScheduler*> notify_to_{nullptr};
  std::atomic<Projector*> raw_projector_{nullptr};
  std::mutex notified_mu_;
  std::condition_variable notified_cv_;
  uint64_t notified_seq_ = 0;  // guarded by notified_mu_
};

}  // namespace pipeline_test
}  // namespace callrec::projector
