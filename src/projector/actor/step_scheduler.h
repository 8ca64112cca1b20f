// step_scheduler.h — the actor: runs each intake's next step when it is due.
//
// The actor keeps its own due-time index of open intakes: filled once at start from
// IntakeSource::OpenIntakes, then updated only for the intake ids the projector reports as
// changed (Notify), each re-read with IntakeSource::Get and re-planned with NextStep
// (next_step.h). So a wake costs O(due work + changed intakes), never O(all intakes): an intake
// with nothing left to do is dropped from the index and not looked at again until it changes.
//
// Steps run in lanes (LaneFor), each with its own workers and its own queue of due steps:
//   live   record_start (its deadline is the call's end)
//   query  schedule fetch, recordings queries, fail decisions
//   copy   download + store/upload, delete at Telnyx
// so a record_start never waits behind queries or copies, and a query never waits behind
// copies. Within a lane, live work goes first, oldest due first; then the backlog, newest
// intake first. A step is live when it becomes ready within LiveHorizonMs of its call's latest
// moment (intake created, call answered, hung up): every step of a call that just happened. The call
// happening now never waits behind a backlog (after an outage, a restart on an old store), not
// even behind backlog steps that only just became due; and when live work alone fills a lane
// (calls ending faster than copies finish) it is served first come, first served: an older
// call's copy is never starved by the stream of newer ones. The backlog drains with the
// capacity live work leaves, at most the lane's worker count at a time.
//
// Each step's events are appended (synced, one atomic write); the worker then waits until the
// projector has applied them before the intake is re-read. So one intake never has two steps in
// flight, a step never runs on a view missing its own events, and after a restart every pending
// step resumes at its due time (pending work lives only in the events). When the append fails
// (disk failing), the step is not re-run at once against Telnyx: the intake backs off
// exponentially (full jitter, SchedulerOptions::append_backoff) and resets after a success.
//
// Tests drive it without threads or sleeping: RunDue(now) runs every due step on the calling
// thread and returns the next due time; with a ManualClock the whole --fetch-max-attempts path
// runs in microseconds.
//
// Thread-safety: Notify() and Stop() from any thread; RunDue() from one thread at a time, and not
// while Start()ed.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/event_store.h"
#include "core/metrics.h"
#include "core/thread_annotations.h"
#include "projector/actor/next_step.h"
#include "projector/actor/pipeline_config.h"
#include "projector/actor/step_runner.h"
#include "projector/clients/backoff.h"
#include "projector/projection/intake_source.h"
#include "projector/projection/intake_state.h"

namespace callrec::projector {

enum class Lane : uint8_t { kLive, kQuery, kCopy };
inline constexpr size_t kLaneCount = 3;

// The one place a step kind is given its lane: new kinds are added here.
Lane LaneFor(StepKind kind);
const char* LaneName(Lane lane);  // "live", "query", "copy" (the metrics' lane label)

struct SchedulerOptions {
  // Worker threads per lane (indexed by Lane), each at least 1.
  std::array<int, kLaneCount> workers = {2, 4, 4};
  // Delay before an intake whose step results could not be appended is tried again.
  BackoffOptions append_backoff{std::chrono::milliseconds(1000), std::chrono::milliseconds(60'000)};
  // Jitter for append_backoff; null: SystemRandom. Borrowed.
  RandomSource* random = nullptr;
};

class StepScheduler {
 public:
  // Everything is borrowed and must outlive the scheduler.
  StepScheduler(const PipelineConfig& config, core::EventStore& store, core::Clock& clock,
                 IntakeSource& intakes, StepRunner& runner, core::Metrics& metrics,
                 SchedulerOptions options = {});
  ~StepScheduler();

  // Runs, on this thread, every step due at `now_ms`; returns the earliest future due time.
  std::optional<int64_t> RunDue(int64_t now_ms);

  // Background mode: a dispatcher thread and each lane's workers (SchedulerOptions::workers).
  void Start();
  // These intakes changed (the projector's listener): re-read and re-plan them. Ids reported
  // before Start() are kept.
  void Notify(const std::vector<std::string>& changed_ids);
  void Stop();  // finishes running steps, then returns
  bool running() const;

  // NextStep evaluations so far: the work wakes cost (tests assert it does not grow with history).
  uint64_t steps_evaluated_for_test() const;

  // How long after its call's latest moment a ready step still counts as live work: the recordings
  // queries of --fetch-max-attempts at --fetch-interval after --fetch-delay, and 10 minutes more
  // for the copy and its retries.
  static int64_t LiveHorizonMs(const PipelineConfig& config);

 private:
  enum class Where : uint8_t { kIdle, kWaiting, kReady, kRunning };
  struct Entry {
    IntakeState intake;
    Step step;
    Where where = Where::kIdle;
    int64_t due_ms = 0;             // the key in timers_ or the lane's ready_by_due
    uint32_t append_failures = 0;   // consecutive; drives the backoff
    int64_t not_before_ms = 0;      // after an append failure
    bool backlog = false;           // when placed in a lane's ready set (Rank)
  };
  using Key = std::pair<int64_t, std::string>;  // (due, intake id)
  // Serving order (see the top): live steps by due time, then backlog steps newest intake first.
  struct Rank {
    bool backlog;
    int64_t created_ms;  // 0 for live steps: they are not ordered by it
    int64_t due_ms;
    std::string id;
    bool operator<(const Rank& o) const {
      if (backlog != o.backlog) return !backlog;
      if (created_ms != o.created_ms) return created_ms > o.created_ms;
      if (due_ms != o.due_ms) return due_ms < o.due_ms;
      return id < o.id;
    }
  };
  Rank RankOf(const std::string& id, const Entry& entry) const;
  struct LaneState {
    std::set<Rank> ready;      // due now, in serving order
    std::set<Key> ready_by_due;  // the same steps, oldest due first (for the age gauge)
    int in_flight = 0;
    std::condition_variable_any cv;
    std::vector<std::thread> threads;
    core::Gauge* depth = nullptr;
    core::Gauge* in_flight_gauge = nullptr;
    core::Gauge* oldest_age_ms = nullptr;
  };
  struct Job {
    std::string id;
    IntakeState intake;
    Step step;
  };

  // ---- index ----
  // Reads the open intakes once (mu_ released around IntakeSource::OpenIntakes).
  void LoadOnce() REQUIRES(mu_);
  // Re-reads the changed ids (mu_ released around IntakeSource::Get) and re-plans them.
  void RefreshChanged(int64_t now_ms) REQUIRES(mu_);
  void Replan(std::vector<IntakeState> states, const std::vector<std::string>& asked,
              int64_t now_ms) REQUIRES(mu_);
  void Unplace(const std::string& id, Entry& entry) REQUIRES(mu_);
  void Place(const std::string& id, Entry& entry, int64_t now_ms) REQUIRES(mu_);
  void PromoteDue(int64_t now_ms) REQUIRES(mu_);  // waiting -> ready
  std::optional<Job> TakeReady(Lane lane) REQUIRES(mu_);
  void Finish(const Job& job, bool appended, int64_t now_ms) REQUIRES(mu_);
  void UpdateGauges(int64_t now_ms) REQUIRES(mu_);
  std::optional<int64_t> NextDue() const REQUIRES(mu_);

  // Runs one job and appends its events; false when the append failed.
  bool Execute(const Job& job);
  void DispatchLoop();
  void WorkerLoop(Lane lane);

  const PipelineConfig& config_;
  core::EventStore& store_;
  core::Clock& clock_;
  IntakeSource& intakes_;
  StepRunner& runner_;
  const SchedulerOptions options_;
  core::Counter* steps_ok_;
  core::Counter* steps_failed_append_;
  core::Gauge* pending_;
  core::Gauge* in_flight_gauge_;

  mutable core::Mutex mu_;
  std::condition_variable_any wake_;  // dispatcher: something changed
  // intakes with a step (or being re-read)
  std::unordered_map<std::string, Entry> entries_ GUARDED_BY(mu_);
  std::set<Key> timers_ GUARDED_BY(mu_);  // steps not due yet
  // ready, ready_by_due and in_flight under mu_; threads and cv belong to Start/Stop (not
  // annotated: Stop joins the threads without holding mu_).
  std::array<LaneState, kLaneCount> lanes_;
  std::unordered_set<std::string> changed_ GUARDED_BY(mu_);  // to re-read
  bool loaded_ GUARDED_BY(mu_) = false;
  bool notified_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  bool running_ GUARDED_BY(mu_) = false;
  uint64_t evaluated_ GUARDED_BY(mu_) = 0;
  std::thread dispatcher_;
};

}  // namespace callrec::projector
