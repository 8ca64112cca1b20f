#include "projector/projection/projector.h"

#include <set>

#include "core/log.h"

namespace callrec::projector {

using core::Result;
using core::Status;

Result<std::unique_ptr<Projector>> Projector::Open(core::EventStore& store, Listener listener,
                                                   Options options) {
  auto loaded = Projection::Load(store, options.open);
  if (loaded.status().code() == core::StatusCode::kFailedPrecondition) {
    CALLREC_RETURN_IF_ERROR(RebuildOldFormat(store, loaded.status()));
    loaded = Projection::Load(store, options.open);
  }
  CALLREC_RETURN_IF_ERROR(loaded.status());
  Projection projection = std::move(*loaded);
  core::LogInfo("projector.loaded", {{"last_seq", projection.last_seq()},
                                     {"resident_intakes", uint64_t(projection.resident_count())},
                                     {"orphans", uint64_t(projection.orphan_count())},
                                     {"log_last_seq", store.LastSeq()}});
  return std::unique_ptr<Projector>(
      new Projector(store, std::move(projection), std::move(listener), options));
}

// The same as `callrec replay`: a new generation built from the log beside the old one, which
// stays active until Commit (a crash midway leaves the old one, and the next start tries again).
Status Projector::RebuildOldFormat(core::EventStore& store, const Status& why) {
  core::LogWarn("projector.rebuild_started", {{"reason", why.message()}, {"events", store.LastSeq()}});
  CALLREC_ASSIGN_OR_RETURN(auto rebuild, store.BeginRebuild());
  CALLREC_ASSIGN_OR_RETURN(Projection rebuilt, Projection::RebuildInto(store, *rebuild));
  CALLREC_RETURN_IF_ERROR(rebuild->Commit());
  core::LogInfo("projector.rebuild_done", {{"last_seq", rebuilt.last_seq()},
                                           {"intakes", uint64_t(rebuilt.resident_count())}});
  return Status::Ok();
}

Projector::Projector(core::EventStore& store, Projection projection, Listener listener,
                     Options options)
    : store_(store),
      listener_(std::move(listener)),
      options_(options),
      projection_(std::move(projection)) {
  applied_seq_ = projection_.last_seq();
}

Projector::~Projector() { Stop(); }

void Projector::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Projector::Stop() {
  {
    core::MutexLock lock(mu_);
    stopping_ = true;
  }
  applied_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status Projector::StepLocked(bool& more) {
  more = false;
  if (!unwritten_) {
    Unwritten next;
    std::set<std::string> changed;
    size_t applied = 0;
    {
      core::MutexLock lock(mu_);
      if (!projection_.status().ok()) {
        // A store read failed while applying: what was applied since the last write may be
        // wrong. Start over from the store, as after a crash; the same events come again.
        CALLREC_ASSIGN_OR_RETURN(projection_, Projection::Load(store_, options_.open));
      }
      auto apply = [&](const core::Event& e) REQUIRES(mu_) {
        for (auto& id : projection_.Apply(e)) changed.insert(std::move(id));
        return ++applied < options_.max_events_per_batch && projection_.status().ok();
      };
      Status read = store_.ForEachFrom(projection_.last_seq() + 1, apply);
      CALLREC_RETURN_IF_ERROR(projection_.status());
      // Events applied before a read error are still written below; the rest come next step.
      if (applied == 0) return read;
      projection_.AppendChangesTo(next.batch);
      next.seq = projection_.last_seq();
    }
    next.changed.assign(changed.begin(), changed.end());
    unwritten_ = std::move(next);
    more = applied >= options_.max_events_per_batch;
  }
  CALLREC_RETURN_IF_ERROR(store_.WriteDerived(unwritten_->batch));
  {
    core::MutexLock lock(mu_);
    applied_seq_ = unwritten_->seq;
  }
  applied_cv_.notify_all();
  std::vector<std::string> changed = std::move(unwritten_->changed);
  unwritten_.reset();
  if (listener_ && !changed.empty()) listener_(changed);
  return Status::Ok();
}

Status Projector::CatchUp() {
  core::MutexLock step(step_mu_);
  bool more = true;
  while (more || unwritten_) {
    CALLREC_RETURN_IF_ERROR(StepLocked(more));
    if (!more && applied_seq() < store_.LastSeq()) more = true;  // appended meanwhile
  }
  return Status::Ok();
}

void Projector::Run() {
  std::string last_error;
  while (true) {
    {
      core::MutexLock lock(mu_);
      if (stopping_) return;
    }
    store_.WaitForAppend(applied_seq(), options_.idle_wait);
    bool more = false;
    Status s;
    {
      core::MutexLock step(step_mu_);
      s = StepLocked(more);
    }
    {
      core::MutexLock lock(mu_);
      health_ = s;
    }
    if (s.ok()) {
      last_error.clear();
      continue;
    }
    if (s.ToString() != last_error) {  // one line per distinct problem, not one per retry
      last_error = s.ToString();
      core::LogError("projector.step_failed",
                     {{"error", last_error}, {"applied_seq", applied_seq()}});
    }
    core::MutexLock lock(mu_);
    applied_cv_.wait_for(lock, options_.retry_after_error, [&]() REQUIRES(mu_) { return stopping_; });
  }
}

bool Projector::WaitApplied(uint64_t seq, std::chrono::milliseconds timeout) {
  core::MutexLock lock(mu_);
  return applied_cv_.wait_for(lock, timeout, [&]() REQUIRES(mu_) { return applied_seq_ >= seq; });
}

uint64_t Projector::applied_seq() const {
  core::MutexLock lock(mu_);
  return applied_seq_;
}

Status Projector::health() const {
  core::MutexLock lock(mu_);
  return health_;
}

void Projector::Read(const std::function<void(const Projection&)>& read) const {
  core::MutexLock lock(mu_);
  read(projection_);
}

std::optional<IntakeState> Projector::Snapshot(std::string_view intake_id) const {
  core::MutexLock lock(mu_);
  const IntakeState* s = projection_.Find(intake_id);
  return s ? std::optional<IntakeState>(*s) : std::nullopt;
}

std::vector<IntakeState> Projector::OpenIntakes() {
  std::vector<IntakeState> out;
  Read([&](const Projection& p) { p.ForEachPending([&](const IntakeState& s) { out.push_back(s); }); });
  return out;
}

std::vector<IntakeState> Projector::Get(const std::vector<std::string>& ids) {
  std::vector<IntakeState> out;
  Read([&](const Projection& p) {
    for (const std::string& id : ids)
      if (const IntakeState* s = p.FindOpen(id)) out.push_back(*s);
  });
  return out;
}


size_t Projector::resident_count() const {
  core::MutexLock lock(mu_);
  return projection_.resident_count();
}

}  // namespace callrec::projector
