#include "projector/clients/pg_sync_loop.h"

#include <utility>

#include "core/log.h"

namespace callrec::projector {

PgSyncLoop::PgSyncLoop(std::string url, std::string merge_into, core::EventStore& store,
                       core::Metrics& metrics, core::Clock& clock, PgSyncLoopOptions options)
    : url_(std::move(url)), merge_into_(std::move(merge_into)), store_(store), clock_(clock),
      options_(options),
      foreign_(metrics.GetGauge("callrec_pg_sync_foreign_checkpoint",
                                "1 while PostgreSQL's checkpoint belongs to another store (sync refused)")),
      nul_replaced_(metrics.GetCounter("callrec_pg_sync_nul_replaced_total",
                                       "U+0000 characters written to PostgreSQL as U+FFFD")),
      skipped_(metrics.GetCounter("callrec_pg_sync_rows_skipped_total",
                                  "Intake rows PostgreSQL refused as data (logged pg_sync.row_skipped)")),
      thread_([this] { Run(); }) {}

PgSyncLoop::~PgSyncLoop() { Stop(); }

void PgSyncLoop::Notify() {
  {
    core::MutexLock lock(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

void PgSyncLoop::Stop() {
  {
    core::MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

template <typename Done>
void PgSyncLoop::WaitUntil(core::MutexLock& lock, std::chrono::steady_clock::time_point deadline,
                           Done done) {
  while (!done()) {
    auto now = clock_.SteadyNow();
    if (now >= deadline) return;
    cv_.wait_for(lock, deadline - now);
  }
}

core::Status PgSyncLoop::SyncOnce(std::unique_ptr<PgSync>& sync) {
  if (!sync) {
    auto connected = PgSync::Connect(url_, merge_into_);
    if (!connected.ok()) return connected.status();
    sync = std::move(*connected);
  }
  auto report = sync->SyncOnce(store_);
  foreign_->Set(report.status().code() == core::StatusCode::kFailedPrecondition ? 1 : 0);
  if (!report.ok()) {
    sync.reset();  // reconnect next time
    return report.status();
  }
  nul_replaced_->Inc(report->nul_replaced);
  skipped_->Inc(report->skipped);
  return core::Status::Ok();
}

void PgSyncLoop::Run() {
  std::unique_ptr<PgSync> sync;
  uint32_t failures = 0;
  while (true) {
    {
      core::MutexLock lock(mu_);
      WaitUntil(lock, clock_.SteadyNow() + options_.period, [&]() REQUIRES(mu_) { return stop_ || dirty_; });
      if (stop_) return;
      dirty_ = false;
    }
    core::Status s = SyncOnce(sync);
    std::chrono::milliseconds pause = options_.coalesce;  // coalesces bursts of changes
    if (!s.ok()) {
      pause = BackoffCeiling(++failures, options_.backoff);
      core::LogWarn("pg_sync.failed", {{"error", s.message()}, {"retry_ms", int64_t(pause.count())}});
    } else {
      failures = 0;
    }
    core::MutexLock lock(mu_);
    // Ends early on stop: shutdown must not sit out a 30 s backoff.
    WaitUntil(lock, clock_.SteadyNow() + pause, [&]() REQUIRES(mu_) { return stop_; });
    if (!s.ok()) dirty_ = true;  // try again
  }
}

}  // namespace callrec::projector
