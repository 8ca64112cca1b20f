#include "projector/actor/step_scheduler.h"

#include <algorithm>

#include "core/log.h"

namespace callrec::projector {

namespace {
// The dispatcher refreshes the lane gauges (the oldest due step's age) at least this often.
constexpr std::chrono::milliseconds kGaugeRefresh{1000};
constexpr std::chrono::milliseconds kApplyTimeout{10000};
}  // namespace

Lane LaneFor(StepKind kind) {
  switch (kind) {
    case StepKind::kRecordStart:
    case StepKind::kCallStatus: return Lane::kLive;  // both are about a call that may still be up
    case StepKind::kStore:
    case StepKind::kDelete: return Lane::kCopy;
    case StepKind::kScheduleFetch:
    case StepKind::kQuery:
    case StepKind::kFail:
    case StepKind::kNone: return Lane::kQuery;
  }
  return Lane::kQuery;
}

const char* LaneName(Lane lane) {
  switch (lane) {
    case Lane::kLive: return "live";
    case Lane::kQuery: return "query";
    case Lane::kCopy: return "copy";
  }
  return "query";
}

StepScheduler::StepScheduler(const PipelineConfig& config, core::EventStore& store,
                               core::Clock& clock, IntakeSource& intakes, StepRunner& runner,
                               core::Metrics& metrics, SchedulerOptions options)
    : config_(config), store_(store), clock_(clock), intakes_(intakes), runner_(runner),
      options_(options) {
  steps_ok_ = metrics.GetCounter("callrec_scheduler_steps_total", "Pipeline steps run");
  steps_failed_append_ = metrics.GetCounter(
      "callrec_scheduler_append_failures_total", "Step results that could not be appended (retried after a backoff)");
  pending_ = metrics.GetGauge("callrec_scheduler_pending_intakes", "Intakes with a next step");
  in_flight_gauge_ = metrics.GetGauge("callrec_scheduler_in_flight", "Steps running now");
  for (size_t l = 0; l < kLaneCount; ++l) {
    core::Labels labels = {{"lane", LaneName(Lane(l))}};
    lanes_[l].depth = metrics.GetGauge("callrec_lane_queue_depth", "Steps due and waiting for a worker", labels);
    lanes_[l].in_flight_gauge = metrics.GetGauge("callrec_lane_in_flight", "Steps running", labels);
    lanes_[l].oldest_age_ms = metrics.GetMillisGauge(
        "callrec_lane_oldest_due_age_seconds", "How long the oldest waiting step has been due", labels);
    metrics.GetGauge("callrec_lane_workers", "Worker threads", labels)->Set(std::max(1, options_.workers[l]));
  }
}

StepScheduler::~StepScheduler() { Stop(); }

// ---- the index --------------------------------------------------------------------------------

void StepScheduler::LoadOnce() {
  if (loaded_) return;
  loaded_ = true;
  mu_.Unlock();
  std::vector<IntakeState> open = intakes_.OpenIntakes();
  mu_.Lock();
  Replan(std::move(open), {}, clock_.WallMillis());
}

void StepScheduler::RefreshChanged(int64_t now_ms) {
  if (changed_.empty()) return;
  std::vector<std::string> ids(changed_.begin(), changed_.end());
  changed_.clear();
  // Not under mu_: the projector's listener (Notify) must never wait for a read of the projection.
  mu_.Unlock();
  std::vector<IntakeState> states = intakes_.Get(ids);
  mu_.Lock();
  Replan(std::move(states), ids, now_ms);
}

void StepScheduler::Replan(std::vector<IntakeState> states, const std::vector<std::string>& asked,
                            int64_t now_ms) {
  // Skipped: ids changed again while we read (a fresher read follows) and running ones (their
  // worker marks them changed when done, after the projection has their events).
  auto skip = [&](const std::string& id, Entry* entry) REQUIRES(mu_) {
    return changed_.count(id) > 0 || (entry && entry->where == Where::kRunning);
  };
  std::unordered_set<std::string> seen;
  for (IntakeState& state : states) {
    std::string id = state.id;
    seen.insert(id);
    auto it = entries_.find(id);
    Entry* entry = it == entries_.end() ? nullptr : &it->second;
    if (skip(id, entry)) continue;
    ++evaluated_;
    Step step = NextStep(state, config_, now_ms);
    if (entry) Unplace(id, *entry);
    if (step.kind == StepKind::kNone) {
      if (entry) entries_.erase(it);  // nothing left to do: not looked at until it changes
      continue;
    }
    if (!entry) entry = &entries_[id];
    entry->intake = std::move(state);
    entry->step = std::move(step);
    Place(id, *entry, now_ms);
  }
  for (const std::string& id : asked) {  // omitted by Get: unknown or nothing left to do
    auto it = entries_.find(id);
    if (seen.count(id) || it == entries_.end() || skip(id, &it->second)) continue;
    Unplace(id, it->second);
    entries_.erase(it);
  }
}

void StepScheduler::Unplace(const std::string& id, Entry& entry) {
  if (entry.where == Where::kWaiting) timers_.erase({entry.due_ms, id});
  if (entry.where == Where::kReady) {
    LaneState& lane = lanes_[size_t(LaneFor(entry.step.kind))];
    lane.ready.erase(RankOf(id, entry));
    lane.ready_by_due.erase({entry.due_ms, id});
  }
  entry.where = Where::kIdle;
}

int64_t StepScheduler::LiveHorizonMs(const PipelineConfig& c) {
  return (c.fetch_delay + c.fetch_interval * c.fetch_max_attempts + std::chrono::minutes(10)).count();
}

StepScheduler::Rank StepScheduler::RankOf(const std::string& id, const Entry& entry) const {
  return Rank{entry.backlog, entry.backlog ? entry.intake.created_at_ms : 0, entry.due_ms, id};
}

void StepScheduler::Place(const std::string& id, Entry& entry, int64_t now_ms) {
  entry.due_ms = std::max(entry.step.due_at_ms, entry.not_before_ms);
  if (entry.due_ms > now_ms) {
    timers_.insert({entry.due_ms, id});
    entry.where = Where::kWaiting;
    return;
  }
  const IntakeState& s = entry.intake;
  int64_t latest = std::max({s.created_at_ms, s.answered_at_ms.value_or(0), s.hangup_at_ms.value_or(0)});
  entry.backlog = now_ms - latest > LiveHorizonMs(config_);
  LaneState& lane = lanes_[size_t(LaneFor(entry.step.kind))];
  lane.ready.insert(RankOf(id, entry));
  lane.ready_by_due.insert({entry.due_ms, id});
  entry.where = Where::kReady;
  lane.cv.notify_one();
}

void StepScheduler::PromoteDue(int64_t now_ms) {
  while (!timers_.empty() && timers_.begin()->first <= now_ms) {
    std::string id = timers_.begin()->second;
    timers_.erase(timers_.begin());
    Entry& entry = entries_.at(id);
    entry.where = Where::kIdle;
    Place(id, entry, now_ms);
  }
}

std::optional<StepScheduler::Job> StepScheduler::TakeReady(Lane lane) {
  LaneState& ls = lanes_[size_t(lane)];
  if (ls.ready.empty()) return std::nullopt;
  // Live work first, oldest due first; then the backlog, newest intake first (Rank): the calls
  // happening now are served before a backlog, which gets every worker live work leaves free.
  std::string id = ls.ready.begin()->id;
  ls.ready_by_due.erase({ls.ready.begin()->due_ms, id});
  ls.ready.erase(ls.ready.begin());
  Entry& entry = entries_.at(id);
  entry.where = Where::kRunning;
  ++ls.in_flight;
  ls.depth->Set(int64_t(ls.ready.size()));
  ls.in_flight_gauge->Set(ls.in_flight);
  return Job{id, entry.intake, entry.step};
}

void StepScheduler::Finish(const Job& job, bool appended, int64_t now_ms) {
  LaneState& ls = lanes_[size_t(LaneFor(job.step.kind))];
  --ls.in_flight;
  ls.in_flight_gauge->Set(ls.in_flight);
  auto it = entries_.find(job.id);
  if (it != entries_.end()) {
    Entry& entry = it->second;
    entry.where = Where::kIdle;
    if (appended) {
      entry.append_failures = 0;
      entry.not_before_ms = 0;
    } else {
      // The state did not move, so NextStep asks for the same step: not before the backoff, or
      // a failing disk would have us re-run it against Telnyx in a tight loop.
      ++entry.append_failures;
      uint64_t random = options_.random ? (*options_.random)() : SystemRandom();
      auto delay = FullJitterDelay(entry.append_failures, options_.append_backoff, random);
      entry.not_before_ms = now_ms + delay.count();
      core::LogWarn("scheduler.append_backoff", {{"intake", job.id},
                                                 {"step", StepKindName(job.step.kind)},
                                                 {"failures", uint64_t(entry.append_failures)},
                                                 {"delay_ms", int64_t(delay.count())}});
    }
  }
  changed_.insert(job.id);  // re-read now that the projection has (or never will have) its events
  notified_ = true;
}

void StepScheduler::UpdateGauges(int64_t now_ms) {
  int64_t in_flight = 0;
  for (LaneState& ls : lanes_) {
    ls.depth->Set(int64_t(ls.ready.size()));
    ls.in_flight_gauge->Set(ls.in_flight);
    ls.oldest_age_ms->Set(ls.ready_by_due.empty() ? 0
                                                   : std::max<int64_t>(0, now_ms - ls.ready_by_due.begin()->first));
    in_flight += ls.in_flight;
  }
  in_flight_gauge_->Set(in_flight);
  pending_->Set(int64_t(entries_.size()));
}

std::optional<int64_t> StepScheduler::NextDue() const {
  std::optional<int64_t> next;
  if (!timers_.empty()) next = timers_.begin()->first;
  for (const LaneState& ls : lanes_)
    if (!ls.ready_by_due.empty() && (!next || ls.ready_by_due.begin()->first < *next))
      next = ls.ready_by_due.begin()->first;
  return next;
}

// ---- running steps ----------------------------------------------------------------------------

bool StepScheduler::Execute(const Job& job) {
  std::vector<core::Event> events = runner_.Run(job.intake, job.step);
  if (events.empty()) return true;
  auto appended = store_.AppendAll(std::move(events), core::Durability::kSync);
  if (!appended.ok()) {
    // The step's results are lost, not its work: the state did not move, so it runs again.
    steps_failed_append_->Inc();
    core::LogError("scheduler.append_failed", {{"intake", job.id},
                                               {"step", StepKindName(job.step.kind)},
                                               {"error", appended.status().ToString()}});
    return false;
  }
  steps_ok_->Inc();
  uint64_t last = 0;
  for (const auto& r : *appended) last = std::max(last, r.seq);
  // Until the projection shows our own events, the old state would ask for the same step again.
  if (!intakes_.WaitApplied(last, kApplyTimeout))
    core::LogWarn("scheduler.projection_lagging", {{"intake", job.id}, {"seq", last}});
  return true;
}

std::optional<int64_t> StepScheduler::RunDue(int64_t now_ms) {
  core::MutexLock lock(mu_);
  LoadOnce();
  // A step's events can make another step due at once (hangup -> schedule -> ...): loop until
  // nothing more is due now. Each pass runs each intake at most once.
  for (int pass = 0; pass < 16; ++pass) {
    RefreshChanged(now_ms);
    PromoteDue(now_ms);
    std::vector<Job> jobs;
    for (size_t l = 0; l < kLaneCount; ++l)
      while (auto job = TakeReady(Lane(l))) jobs.push_back(std::move(*job));
    if (jobs.empty()) break;
    mu_.Unlock();
    std::vector<bool> appended;
    for (const Job& job : jobs) appended.push_back(Execute(job));
    mu_.Lock();
    for (size_t i = 0; i < jobs.size(); ++i) Finish(jobs[i], appended[i], now_ms);
  }
  RefreshChanged(now_ms);
  UpdateGauges(now_ms);
  return NextDue();
}

void StepScheduler::Start() {
  core::MutexLock lock(mu_);
  if (running_) return;
  running_ = true;
  stopping_ = false;
  for (size_t l = 0; l < kLaneCount; ++l)
    for (int i = 0; i < std::max(1, options_.workers[l]); ++i)
      lanes_[l].threads.emplace_back([this, l] { WorkerLoop(Lane(l)); });
  dispatcher_ = std::thread([this] { DispatchLoop(); });
}

void StepScheduler::Notify(const std::vector<std::string>& changed_ids) {
  {
    core::MutexLock lock(mu_);
    changed_.insert(changed_ids.begin(), changed_ids.end());
    notified_ = true;
  }
  wake_.notify_one();
}

bool StepScheduler::running() const {
  core::MutexLock lock(mu_);
  return running_;
}

uint64_t StepScheduler::steps_evaluated_for_test() const {
  core::MutexLock lock(mu_);
  return evaluated_;
}

void StepScheduler::Stop() {
  {
    core::MutexLock lock(mu_);
    if (!running_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  for (LaneState& ls : lanes_) ls.cv.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (LaneState& ls : lanes_) {
    for (auto& t : ls.threads) t.join();
    ls.threads.clear();
  }
  core::MutexLock lock(mu_);
  running_ = false;
}

void StepScheduler::DispatchLoop() {
  core::MutexLock lock(mu_);
  LoadOnce();
  while (!stopping_) {
    notified_ = false;
    int64_t now = clock_.WallMillis();
    RefreshChanged(now);
    PromoteDue(now);
    UpdateGauges(now);
    auto wait = kGaugeRefresh;
    if (!timers_.empty())
      wait = std::clamp(std::chrono::milliseconds(timers_.begin()->first - now),
                        std::chrono::milliseconds(1), kGaugeRefresh);
    // Wall time decides what is due; the wait itself is a steady-clock timeout.
    wake_.wait_for(lock, wait, [this]() REQUIRES(mu_) { return notified_ || stopping_; });
  }
}

void StepScheduler::WorkerLoop(Lane lane) {
  LaneState& ls = lanes_[size_t(lane)];
  core::MutexLock lock(mu_);
  while (true) {
    ls.cv.wait(lock, [&]() REQUIRES(mu_) { return stopping_ || !ls.ready.empty(); });
    // Ready but not started steps stay in the index on stop: their state did not move, so they
    // run again after the restart.
    if (stopping_) return;
    Job job = *TakeReady(lane);
    mu_.Unlock();
    bool appended = Execute(job);
    mu_.Lock();
    Finish(job, appended, clock_.WallMillis());
    wake_.notify_one();
  }
}

}  // namespace callrec::projector
