// projector.h — the running projection: a thread that tails the event log and keeps the derived
// data (intake records, state index, timeline links) up to date.
//
// The thread waits for appends (EventStore::WaitForAppend), applies up to
// ProjectorOptions::max_events_per_batch events to its Projection, and writes the resulting changes and
// `projector/last_seq` in one DerivedBatch, so what readers see is always the projection as of
// one seq. After each successful write it calls the listener with the intakes that changed
// (the actor hooks in there; after a restart the actor asks for the open intakes).
// A failed write is retried with the same batch; events are never skipped. A failed store read
// while applying (the projection reads finished intakes back from the store, projection.h)
// drops what was applied since the last write and reloads the projection from the store.
//
// Open() loads only the open set (projection.h). Derived data written in an older format is
// rebuilt from the log first, in a new generation, with a log line saying so
// (`projector.rebuild_started` / `projector.rebuild_done`): once per upgrade, as long as a replay.
//
// Implements core::ProjectionProgress: WaitApplied(seq) returns once derived data reflects seq,
// which is how `POST /api/intakes` answers from the projection.
//
//   CALLREC_ASSIGN_OR_RETURN(auto projector, Projector::Open(*store, on_changed));
//   projector->Start();
//   ...
//   projector->Stop();  // also done by the destructor
//
// Thread-safety: all public methods may be called from any thread. The listener runs on the
// projector thread (or the thread calling CatchUp) with no lock held; it may call Read().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>  // std::condition_variable_any
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/event_store.h"
#include "core/projection_progress.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "projector/projection/intake_source.h"
#include "projector/projection/projection.h"

namespace callrec::projector {

struct ProjectorOptions {
  size_t max_events_per_batch = 1024;                // bounds one write and one lock hold
  std::chrono::milliseconds idle_wait{200};          // WaitForAppend timeout between checks
  std::chrono::milliseconds retry_after_error{500};  // after a failed read or write
  OpenPolicy open{};  // which open intakes to keep in memory and yield (projection.h)
};

class Projector final : public core::ProjectionProgress, public IntakeSource {
 public:
  using Listener = std::function<void(const std::vector<std::string>& changed_intake_ids)>;

  using Options = ProjectorOptions;

  // Loads the projection from `store`'s derived data. `store` must outlive the Projector.
  static core::Result<std::unique_ptr<Projector>> Open(core::EventStore& store,
                                                       Listener listener = {},
                                                       Options options = {});
  ~Projector() override;
  Projector(const Projector&) = delete;
  Projector& operator=(const Projector&) = delete;

  // Starts the tailing thread. Requires: not started.
  void Start();
  // Stops and joins the thread (within about idle_wait). Safe to call twice.
  void Stop();

  // Applies and writes everything appended so far on the calling thread, then calls the listener
  // once per written batch. For tests and for one-shot tools; safe beside the thread.
  core::Status CatchUp();

  // ProjectionProgress and IntakeSource.
  bool WaitApplied(uint64_t seq, std::chrono::milliseconds timeout) override;
  // IntakeSource: copies of Projection::ForEachPending's intakes (the open set), from memory.
  std::vector<IntakeState> OpenIntakes() override;
  // IntakeSource: copies of those of `ids` that are open; from memory, no store read.
  std::vector<IntakeState> Get(const std::vector<std::string>& ids) override;
  // Intakes held in memory (about the open set; for /metrics).
  size_t resident_count() const;

  // The seq the derived data in the store reflects.
  uint64_t applied_seq() const;
  // The last read/write error, or ok once the projector has caught up again.
  core::Status health() const;

  // Runs `read` with the in-memory projection locked (it may be ahead of applied_seq() by one
  // batch being written). Keep it short: the projector thread waits.
  void Read(const std::function<void(const Projection&)>& read) const;
  std::optional<IntakeState> Snapshot(std::string_view intake_id) const;

 private:
  Projector(core::EventStore& store, Projection projection, Listener listener, Options options);
  // Rebuilds derived data written in an older format into a new generation.
  static core::Status RebuildOldFormat(core::EventStore& store, const core::Status& why);
  // One batch: apply up to max_events_per_batch new events (or retry the unwritten batch), write.
  // Sets `more` when events may remain.
  core::Status StepLocked(bool& more) REQUIRES(step_mu_);
  void Run();

  struct Unwritten {
    core::DerivedBatch batch;
    uint64_t seq = 0;
    std::vector<std::string> changed;
  };

  core::EventStore& store_;
  const Listener listener_;
  const Options options_;

  core::Mutex step_mu_ ACQUIRED_BEFORE(mu_);  // one step at a time (thread vs CatchUp)
  std::optional<Unwritten> unwritten_ GUARDED_BY(step_mu_);

  mutable core::Mutex mu_;
  std::condition_variable_any applied_cv_;  // signalled when applied_seq_ grows or on stop
  Projection projection_ GUARDED_BY(mu_);
  uint64_t applied_seq_ GUARDED_BY(mu_) = 0;
  core::Status health_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;

  std::thread thread_;
};

}  // namespace callrec::projector
