// fetch_scheduler.h — the actor: runs each intake's next step when it is due.
//
// Pending work is never kept anywhere but in the projection: after every change (the projector
// calls Notify) and whenever a due time passes, the scheduler asks NextStep (next_step.h) for each
// non-final intake, hands the due ones to StepRunner on a worker, appends the events the step
// produced (synced, in one atomic write), and waits until the projector has applied them before
// that intake can be looked at again. So one intake's steps never run concurrently, a step never
// runs twice on a stale view, and after a restart every pending step resumes at its due time.
//
// Tests drive it without threads or sleeping: RunDue(now) runs every due step on the calling
// thread and returns the next due time; with a ManualClock the whole --fetch-max-attempts path
// runs in microseconds.
//
// Thread-safety: Notify() and Stop() from any thread; RunDue() from one thread at a time, and not
// while Start()ed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/event_store.h"
#include "core/metrics.h"
#include "projector/intake_source.h"
#include "projector/intake_state.h"
#include "projector/pipeline_config.h"
#include "projector/step_runner.h"

namespace callrec::projector {

class FetchScheduler {
 public:
  // Everything is borrowed and must outlive the scheduler.
  FetchScheduler(const PipelineConfig& config, core::EventStore& store, core::Clock& clock,
                 IntakeSource& intakes, StepRunner& runner, core::Metrics& metrics);
  ~FetchScheduler();

  // Runs, on this thread, every step due at `now_ms`; returns the earliest future due time.
  std::optional<int64_t> RunDue(int64_t now_ms);

  // Background mode: a dispatcher thread and `workers` worker threads.
  void Start(int workers);
  void Notify();  // the projection changed: look again now
  void Stop();    // finishes running steps, then returns
  bool running() const { return running_; }

 private:
  struct Job {
    IntakeState intake;
    Step step;
  };
  // Runs one job and appends its events; false when the append failed (it will run again).
  bool Execute(const Job& job);
  // Due jobs not in flight, and the earliest due time among the others.
  std::vector<Job> Collect(int64_t now_ms, std::optional<int64_t>& next_due);
  void DispatchLoop();
  void WorkerLoop();

  const PipelineConfig& config_;
  core::EventStore& store_;
  core::Clock& clock_;
  IntakeSource& intakes_;
  StepRunner& runner_;
  core::Counter* steps_ok_;
  core::Counter* steps_failed_append_;
  core::Gauge* pending_;
  core::Gauge* in_flight_gauge_;

  std::mutex mu_;
  std::condition_variable wake_;       // dispatcher: something changed
  std::condition_variable work_cv_;    // workers: a job is queued
  std::set<std::string> in_flight_;    // intake ids with a queued or running job
  std::vector<Job> queue_;
  bool notified_ = false;
  bool stopping_ = false;
  bool running_ = false;
  std::thread dispatcher_;
  std::vector<std::thread> workers_;
};

}  // namespace callrec::projector
