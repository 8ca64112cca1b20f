#include "projector/fetch_scheduler.h"

#include <algorithm>

#include "core/log.h"

namespace callrec::projector {

namespace {
// The dispatcher looks again at least this often even when nothing is due: a cheap guard
// against a missed notification, not the mechanism (due times and Notify are).
constexpr std::chrono::milliseconds kMaxIdle{5000};
constexpr std::chrono::milliseconds kApplyTimeout{10000};
}  // namespace

FetchScheduler::FetchScheduler(const PipelineConfig& config, core::EventStore& store,
                               core::Clock& clock, IntakeSource& intakes, StepRunner& runner,
                               core::Metrics& metrics)
    : config_(config), store_(store), clock_(clock), intakes_(intakes), runner_(runner) {
  steps_ok_ = metrics.GetCounter("callrec_scheduler_steps_total", "Pipeline steps run");
  steps_failed_append_ = metrics.GetCounter("callrec_scheduler_append_failures_total",
                                            "Step results that could not be appended (retried)");
  pending_ = metrics.GetGauge("callrec_scheduler_pending_intakes", "Intakes with a next step");
  in_flight_gauge_ = metrics.GetGauge("callrec_scheduler_in_flight", "Steps running now");
}

FetchScheduler::~FetchScheduler() { Stop(); }

std::vector<FetchScheduler::Job> FetchScheduler::Collect(int64_t now_ms,
                                                         std::optional<int64_t>& next_due) {
  std::vector<Job> due;
  int64_t pending = 0;
  for (IntakeState& intake : intakes_.PendingIntakes()) {
    Step step = NextStep(intake, config_, now_ms);
    if (step.kind == StepKind::kNone) continue;
    ++pending;
    if (in_flight_.count(intake.id)) continue;
    if (step.due_at_ms <= now_ms) {
      due.push_back(Job{std::move(intake), std::move(step)});
    } else if (!next_due || step.due_at_ms < *next_due) {
      next_due = step.due_at_ms;
    }
  }
  pending_->Set(pending);
  return due;
}

bool FetchScheduler::Execute(const Job& job) {
  std::vector<core::Event> events = runner_.Run(job.intake, job.step);
  if (events.empty()) return true;
  auto appended = store_.AppendAll(std::move(events), core::Durability::kSync);
  if (!appended.ok()) {
    // The step's results are lost, not its work: the state did not move, so it runs again.
    steps_failed_append_->Inc();
    core::LogError("scheduler.append_failed", {{"intake", job.intake.id},
                                               {"step", StepKindName(job.step.kind)},
                                               {"error", appended.status().ToString()}});
    return false;
  }
  steps_ok_->Inc();
  uint64_t last = 0;
  for (const auto& r : *appended) last = std::max(last, r.seq);
  // Until the projection shows our own events, the old state would ask for the same step again.
  if (!intakes_.WaitApplied(last, kApplyTimeout))
    core::LogWarn("scheduler.projection_lagging", {{"intake", job.intake.id}, {"seq", last}});
  return true;
}

std::optional<int64_t> FetchScheduler::RunDue(int64_t now_ms) {
  std::optional<int64_t> next_due;
  // A step's events can make another step due at once (hangup -> schedule -> ...): loop until
  // nothing more is due now. Each pass runs each intake at most once.
  for (int pass = 0; pass < 16; ++pass) {
    next_due.reset();
    std::vector<Job> due = Collect(now_ms, next_due);
    if (due.empty()) break;
    for (const Job& job : due) Execute(job);
  }
  return next_due;
}

void FetchScheduler::Start(int workers) {
  std::lock_guard lock(mu_);
  if (running_) return;
  running_ = true;
  stopping_ = false;
  for (int i = 0; i < std::max(1, workers); ++i) workers_.emplace_back([this] { WorkerLoop(); });
  dispatcher_ = std::thread([this] { DispatchLoop(); });
}

void FetchScheduler::Notify() {
  {
    std::lock_guard lock(mu_);
    notified_ = true;
  }
  wake_.notify_one();
}

void FetchScheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  work_cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (auto& w : workers_) w.join();
  workers_.clear();
  std::lock_guard lock(mu_);
  running_ = false;
}

void FetchScheduler::DispatchLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    notified_ = false;
    int64_t now = clock_.WallMillis();
    std::optional<int64_t> next_due;
    std::vector<Job> due = Collect(now, next_due);
    for (Job& job : due) {
      in_flight_.insert(job.intake.id);
      queue_.push_back(std::move(job));
    }
    in_flight_gauge_->Set(int64_t(in_flight_.size()));
    if (!due.empty()) work_cv_.notify_all();
    auto wait = kMaxIdle;
    if (next_due) wait = std::clamp(std::chrono::milliseconds(*next_due - now), std::chrono::milliseconds(1), kMaxIdle);
    // Wall time decides what is due; the wait itself is a steady-clock timeout.
    wake_.wait_for(lock, wait, [this] { return notified_ || stopping_; });
  }
}

void FetchScheduler::WorkerLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    // Queued but not started jobs are dropped on stop: their state did not move, so they run
    // again after the restart.
    if (stopping_) return;
    Job job = std::move(queue_.back());
    queue_.pop_back();
    lock.unlock();
    Execute(job);
    lock.lock();
    in_flight_.erase(job.intake.id);
    notified_ = true;
    wake_.notify_one();
  }
}

}  // namespace callrec::projector
