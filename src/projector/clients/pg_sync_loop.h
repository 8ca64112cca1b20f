// pg_sync_loop.h — keeps PostgreSQL caught up with the projection while `serve` runs.
//
// One thread runs PgSync::SyncOnce (pg_sync.h): soon after the projector reports a change
// (Notify; bursts within `coalesce` share one sync) and at least every `period`. A failure
// (PostgreSQL down, a refused checkpoint) is logged as `pg_sync.failed` with the delay, the
// connection is dropped and the sync is tried again after BackoffCeiling(failures) (backoff.h,
// no jitter: one client per service has nobody to desynchronise from); a success resets it.
// The service keeps receiving meanwhile, and the next success catches up from the checkpoint.
// Metrics: callrec_pg_sync_foreign_checkpoint, callrec_pg_sync_nul_replaced_total,
// callrec_pg_sync_rows_skipped_total (README "PostgreSQL").
//
// Due times are read from the injected Clock; the thread waits on a condition variable, which
// Notify() and Stop() wake, so a test's ManualClock moved past a due time takes effect at the
// next Notify().
//
// Thread-safety: Notify() from any thread (the projector's listener); Stop() and the destructor
// from the owner's thread. The thread starts in the constructor.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/event_store.h"
#include "core/metrics.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "projector/clients/backoff.h"
#include "projector/clients/pg_sync.h"

namespace callrec::projector {

struct PgSyncLoopOptions {
  std::chrono::milliseconds period{5000};    // a sync at least this often, changes or not
  std::chrono::milliseconds coalesce{500};   // after a success, changes wait this long
  BackoffOptions backoff{std::chrono::milliseconds(500), std::chrono::milliseconds(30000)};
};

class PgSyncLoop {
 public:
  // `store`, `metrics` and `clock` must outlive the loop. Connects lazily, on the thread.
  PgSyncLoop(std::string url, std::string merge_into, core::EventStore& store, core::Metrics& metrics,
             core::Clock& clock, PgSyncLoopOptions options = {});
  ~PgSyncLoop();  // Stop()
  PgSyncLoop(const PgSyncLoop&) = delete;
  PgSyncLoop& operator=(const PgSyncLoop&) = delete;

  // The projection changed: sync soon.
  void Notify();
  // Ends the thread (a backoff wait ends early) and joins it. Safe to call twice.
  void Stop();

 private:
  void Run();
  // Connects when needed and syncs once; updates the metrics. Drops the connection on failure.
  core::Status SyncOnce(std::unique_ptr<PgSync>& sync);
  // Waits until done() or the clock reaches `deadline`; Notify and Stop wake it to re-check.
  template <typename Done>
  void WaitUntil(core::MutexLock& lock, std::chrono::steady_clock::time_point deadline, Done done)
      REQUIRES(mu_);

  const std::string url_, merge_into_;
  core::EventStore& store_;
  core::Clock& clock_;
  const PgSyncLoopOptions options_;
  core::Gauge* const foreign_;
  core::Counter* const nul_replaced_;
  core::Counter* const skipped_;
  core::Mutex mu_;
  std::condition_variable_any cv_;
  bool dirty_ GUARDED_BY(mu_) = true;  // the first sync runs at start
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once every member above exists
};

}  // namespace callrec::projector
