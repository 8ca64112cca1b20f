// ClusterStore (cluster_store.h).
#include "cluster/cluster_store.h"

#include <poll.h>

#include <algorithm>
#include <cstdlib>

#include "cluster/pg_conn.h"
#include "core/log.h"

namespace callrec::cluster {
namespace {

// Events per group transaction (besides core::kMaxGroupCommitBytes): bounds one commit's latency.
constexpr size_t kMaxGroup = 512;

// The highest seq the notifications name (each NOTIFY's payload is the head after its commit).
uint64_t HighestNotified(const std::vector<std::string>& payloads, uint64_t highest) {
  for (const auto& n : payloads) highest = std::max<uint64_t>(highest, std::strtoull(n.c_str(), nullptr, 10));
  return highest;
}

// The actor's view: every method is the ClusterStore's, but appends carry the leader term.
class FencedStore final : public core::EventStore {
 public:
  explicit FencedStore(ClusterStore& s) : s_(s) {}
  core::Result<core::AppendResult> Append(core::Event event, core::Durability) override {
    std::vector<core::Event> one;
    one.push_back(std::move(event));
    CALLREC_ASSIGN_OR_RETURN(auto r, s_.AppendShared(std::move(one), s_.leader_term(), true));
    return r[0];
  }
  core::Result<std::vector<core::AppendResult>> AppendAll(std::vector<core::Event> events,
                                                          core::Durability) override {
    return s_.AppendShared(std::move(events), s_.leader_term(), true);
  }
  uint64_t LastSeq() const override { return s_.LastSeq(); }
  uint64_t WaitForAppend(uint64_t after, std::chrono::milliseconds t) override { return s_.WaitForAppend(after, t); }
  core::Result<core::Event> Read(uint64_t seq) override { return s_.Read(seq); }
  core::Status ForEachFrom(uint64_t from, const std::function<bool(const core::Event&)>& v) override {
    return s_.ForEachFrom(from, v);
  }
  core::Status ForEachOfIntake(std::string_view id, const std::function<bool(const core::Event&)>& v) override {
    return s_.ForEachOfIntake(id, v);
  }
  core::Result<std::optional<uint64_t>> FindIdempotencyKey(std::string_view k) override {
    return s_.FindIdempotencyKey(k);
  }
  core::Result<std::optional<std::string>> GetDerived(std::string_view k) override { return s_.GetDerived(k); }
  core::Status ScanDerived(std::string_view p, const std::function<bool(std::string_view, std::string_view)>& v) override {
    return s_.ScanDerived(p, v);
  }
  core::Status ScanDerivedFrom(std::string_view p, std::string_view start,
                               const std::function<bool(std::string_view, std::string_view)>& v) override {
    return s_.ScanDerivedFrom(p, start, v);
  }
  core::Status WriteDerived(const core::DerivedBatch& b) override { return s_.WriteDerived(b); }
  core::Result<std::unique_ptr<core::DerivedRebuild>> BeginRebuild() override { return s_.BeginRebuild(); }
  core::Status CatchUp() override { return core::Status::Ok(); }
  core::Result<core::CheckReport> Check() override { return s_.Check(); }
  const std::string& dir() const override { return s_.dir(); }
  core::Status CorruptRecordForTest(uint64_t seq, size_t off) override { return s_.CorruptRecordForTest(seq, off); }

 private:
  ClusterStore& s_;
};

}  // namespace

ClusterStore::ClusterStore(std::unique_ptr<core::EventStore> local, std::vector<std::unique_ptr<PgEventLog>> appenders,
                           std::unique_ptr<PgEventLog> reader, std::string url)
    : local_(std::move(local)), appenders_(std::move(appenders)), url_(std::move(url)), reader_(std::move(reader)),
      fenced_(std::make_unique<FencedStore>(*this)) {}

ClusterStore::~ClusterStore() { StopTailing(); }

core::Result<std::unique_ptr<ClusterStore>> ClusterStore::Open(std::unique_ptr<core::EventStore> local,
                                                               const std::string& url, core::Clock& clock,
                                                               size_t appenders) {
  std::vector<std::unique_ptr<PgEventLog>> pool;
  for (size_t i = 0; i < std::max<size_t>(appenders, 1); ++i) {
    CALLREC_ASSIGN_OR_RETURN(auto log, PgEventLog::Connect(url, clock));
    pool.push_back(std::move(log));
  }
  CALLREC_ASSIGN_OR_RETURN(auto reader, PgEventLog::Connect(url, clock));
  std::unique_ptr<ClusterStore> store(new ClusterStore(std::move(local), std::move(pool), std::move(reader), url));
  CALLREC_RETURN_IF_ERROR(store->SyncFromShared().status());
  return store;
}

core::Result<CatchUpReport> ClusterStore::SyncFromShared(uint64_t until) {
  core::MutexLock lock(sync_mu_);
  if (until != 0 && local_->LastSeq() >= until) return CatchUpReport{0, local_->LastSeq()};
  if (until == 0) {
    CALLREC_ASSIGN_OR_RETURN(uint64_t head, reader_->LastSeq());
    shared_last_.store(std::max(shared_last_.load(), head));
  }
  // Verified once: from then on only this store appends to the replica, in the log's order.
  CALLREC_ASSIGN_OR_RETURN(CatchUpReport r, CatchUpReplica(*reader_, *local_, 0, 1000, !verified_));
  verified_ = true;
  shared_last_.store(std::max(shared_last_.load(), r.last_seq));
  return r;
}

void ClusterStore::SetLeaderTerm(std::optional<uint64_t> term) {
  core::MutexLock lock(term_mu_);
  term_ = term;
}

std::optional<uint64_t> ClusterStore::leader_term() const {
  core::MutexLock lock(term_mu_);
  return term_;
}

core::Result<core::AppendResult> ClusterStore::Append(core::Event event, core::Durability) {
  std::vector<core::Event> one;
  one.push_back(std::move(event));
  CALLREC_ASSIGN_OR_RETURN(auto r, AppendShared(std::move(one), std::nullopt, false));
  return r[0];
}

core::Result<std::vector<core::AppendResult>> ClusterStore::AppendAll(std::vector<core::Event> events,
                                                                      core::Durability) {
  return AppendShared(std::move(events), std::nullopt, false);
}

struct ClusterStore::Writer {
  std::vector<core::Event>* events = nullptr;
  std::vector<core::AppendResult> results;
  core::Status status;
  bool done = false;
  std::condition_variable_any cv;  // waits on group_mu_
};

core::Result<std::vector<core::AppendResult>> ClusterStore::AppendShared(std::vector<core::Event> events,
                                                                         std::optional<uint64_t> fence_term,
                                                                         bool fenced) {
  if (fenced && !fence_term)
    return core::Status::FailedPrecondition("fenced: this node does not lead; nothing appended");
  std::vector<core::AppendResult> results;
  if (fenced) {  // the actor's appends carry the term: their own transaction
    PgEventLog& log = *appenders_[next_appender_.fetch_add(1) % appenders_.size()];
    std::vector<core::Event> committed;
    CALLREC_ASSIGN_OR_RETURN(results, log.AppendAll(std::move(events), fence_term, &committed));
    if (auto copied = CopyCommitted(committed); !copied.ok())  // ReachLocally reads what it missed
      core::LogWarn("cluster.replica_copy_failed", {{"error", copied.message()}});
  } else {
    CALLREC_ASSIGN_OR_RETURN(results, AppendGrouped(std::move(events)));
  }
  ReachLocally(results).IgnoreError();  // committed either way; logged inside
  return results;
}

// This node's own commit goes into the replica from memory, without reading it back from the
// shared log: at once when the replica ends just before it, else after copying the commits of
// other nodes in between (seqs are assigned in commit order, so those are all committed).
core::Status ClusterStore::CopyCommitted(const std::vector<core::Event>& committed) {
  if (committed.empty()) return core::Status::Ok();
  const uint64_t first = committed.front().seq, last = committed.back().seq;
  core::MutexLock lock(sync_mu_);
  if (local_->LastSeq() + 1 < first) {
    auto gap = CatchUpReplica(*reader_, *local_, first - 1 - local_->LastSeq(), 1000, /*verify=*/false);
    if (!gap.ok()) return gap.status();
  }
  const uint64_t have = local_->LastSeq();
  if (have >= last || have + 1 < first) return core::Status::Ok();  // the tail got it / ReachLocally will
  CALLREC_RETURN_IF_ERROR(
      AppendToReplica(*local_, std::vector<core::Event>(committed.begin() + ptrdiff_t(have + 1 - first), committed.end())));
  shared_last_.store(std::max(shared_last_.load(), last));
  return core::Status::Ok();
}

// Read-your-writes: the replica reaches the appended seqs before the caller hears "done".
core::Status ClusterStore::ReachLocally(const std::vector<core::AppendResult>& results) {
  uint64_t top = 0;
  for (const auto& r : results) top = std::max(top, r.seq);
  while (local_->LastSeq() < top) {
    auto synced = SyncFromShared(top);
    if (!synced.ok()) {
      core::LogWarn("cluster.replica_behind", {{"seq", top}, {"error", synced.status().message()}});
      return synced.status();
    }
    if (synced->copied == 0 && local_->LastSeq() < top) break;
  }
  return core::Status::Ok();
}

core::Result<std::vector<core::AppendResult>> ClusterStore::AppendGrouped(std::vector<core::Event> events) {
  CALLREC_RETURN_IF_ERROR(core::CheckIntakeIds(events));
  // A key the replica already holds is in the shared log (the replica is a prefix of it): that
  // event is a duplicate, answered without PostgreSQL. The group commit leaves stored keys to the
  // INSERT's UNIQUE constraint, which rolls the whole group back (and logs an ERROR in
  // PostgreSQL), so only a delivery racing on two nodes at once should get that far.
  std::vector<core::AppendResult> known(events.size());  // seq 0: not in the replica
  bool any_known = false;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].idempotency_key.empty()) continue;
    auto found = local_->FindIdempotencyKey(events[i].idempotency_key);
    if (found.ok() && *found) {  // a failed lookup: PostgreSQL decides
      known[i] = {**found, true};
      any_known = true;
    }
  }
  if (!any_known) return Queue(std::move(events));
  std::vector<core::Event> fresh;
  for (size_t i = 0; i < events.size(); ++i)
    if (known[i].seq == 0) fresh.push_back(std::move(events[i]));
  if (fresh.empty()) return known;
  CALLREC_ASSIGN_OR_RETURN(auto appended, Queue(std::move(fresh)));
  size_t next = 0;
  for (auto& r : known)
    if (r.seq == 0) r = appended[next++];
  return known;
}

// Queues the events for the group commit; the writer at the front leads it.
core::Result<std::vector<core::AppendResult>> ClusterStore::Queue(std::vector<core::Event> events) {
  Writer w;
  w.events = &events;
  core::MutexLock lock(group_mu_);
  writers_.push_back(&w);
  while (!w.done && &w != writers_.front()) w.cv.wait(lock);
  if (!w.done) LeadGroup();
  if (!w.status.ok()) return w.status;
  return std::move(w.results);
}

// The writer at the front commits queued writers' events (up to kMaxGroup events and
// core::kMaxGroupCommitBytes) in one transaction.
// The group is formed only once the shared log's head lock is held (PgEventLog::AppendCollected):
// with several nodes, a commit mostly waits for the others' commits first, and what queued here
// meanwhile joins it (bigger groups: fewer commits, each a WAL flush in PostgreSQL). group_mu_ is
// released meanwhile, so others keep queueing; then the results are handed out.
void ClusterStore::LeadGroup() {
  std::vector<Writer*> group;
  group_mu_.Unlock();
  std::vector<core::Event> committed;
  auto results = appenders_[0]->AppendCollected(
      [&] {
        core::MutexLock lock(group_mu_);
        std::vector<core::Event> all;
        size_t bytes = 0;
        for (Writer* w : writers_) {
          size_t wbytes = 0;
          for (const auto& e : *w->events) wbytes += core::GroupCommitBytes(e);
          if (!group.empty() && (all.size() + w->events->size() > kMaxGroup || bytes + wbytes > core::kMaxGroupCommitBytes))
            break;
          group.push_back(w);
          bytes += wbytes;
          for (auto& e : *w->events) all.push_back(std::move(e));
        }
        return all;
      },
      &committed);
  if (auto copied = CopyCommitted(committed); !copied.ok())  // ReachLocally reads what it missed
    core::LogWarn("cluster.replica_copy_failed", {{"error", copied.message()}});
  group_mu_.Lock();
  size_t at = 0;
  for (Writer* w : group) {
    writers_.pop_front();
    if (!results.ok()) {
      w->status = results.status();
    } else {
      w->results.assign(results->begin() + at, results->begin() + at + w->events->size());
      at += w->events->size();
    }
    w->done = true;
    if (w != group.front()) w->cv.notify_one();
  }
  if (!writers_.empty()) writers_.front()->cv.notify_one();
}

void ClusterStore::StartTailing(std::chrono::milliseconds poll, std::chrono::milliseconds coalesce) {
  stop_ = false;
  tail_ = std::thread([this, poll, coalesce] { Tail(poll, coalesce); });
}

void ClusterStore::StopTailing() {
  stop_ = true;
  if (tail_.joinable()) tail_.join();
}

// LISTEN for appends by any node; copy on notifications (one read per `coalesce` at most,
// however many commits notified meanwhile) and every `poll` anyway.
void ClusterStore::Tail(std::chrono::milliseconds poll, std::chrono::milliseconds coalesce) {
  auto last_read = std::chrono::steady_clock::now() - coalesce;
  std::unique_ptr<PgConn> listen;
  std::chrono::milliseconds backoff{100};
  bool healthy = true;
  auto since_sync = std::chrono::steady_clock::now() - poll;
  while (!stop_) {
    core::Status problem;
    if (!listen) {
      auto conn = PgConn::Connect(url_, "-c client_min_messages=warning");
      if (conn.ok() && (*conn)->Run("LISTEN callrec_log").ok()) listen = std::move(*conn);
      else problem = conn.ok() ? core::Status::Unavailable("LISTEN failed") : conn.status();
    }
    uint64_t notified = 0;  // the highest committed seq a NOTIFY named (its payload)
    if (listen) {
      struct pollfd p = {listen->socket(), POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        auto notes = listen->TakeNotifications();
        if (!notes.ok()) {
          problem = notes.status();
          listen.reset();
        } else {
          notified = HighestNotified(*notes, notified);
        }
      }
    }
    if (problem.ok() && notified > 0) {
      // Straight to the named seq: no head query, and nothing to do when an append already got it
      // (this node's own commits reach the replica from memory).
      shared_last_.store(std::max(shared_last_.load(), notified));
      if (notified > local_->LastSeq()) {
        const auto now = std::chrono::steady_clock::now();
        if (now - last_read < coalesce) {
          std::this_thread::sleep_for(coalesce - (now - last_read));
          if (auto more = listen->TakeNotifications(); more.ok())  // a lost connection shows on the next poll
            notified = HighestNotified(*more, notified);
          shared_last_.store(std::max(shared_last_.load(), notified));
        }
        last_read = std::chrono::steady_clock::now();
      }
      if (auto synced = SyncFromShared(notified); !synced.ok()) problem = synced.status();
    } else if (problem.ok() && std::chrono::steady_clock::now() - since_sync >= poll) {
      since_sync = std::chrono::steady_clock::now();
      if (auto synced = SyncFromShared(); !synced.ok()) problem = synced.status();
    }
    if (!problem.ok()) {
      if (healthy) core::LogWarn("cluster.tail_failed", {{"error", problem.message()}});
      healthy = false;
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      continue;
    }
    if (!healthy) core::LogInfo("cluster.tail_resumed", {{"last_seq", local_->LastSeq()}});
    healthy = true;
    backoff = std::chrono::milliseconds(100);
  }
}

}  // namespace callrec::cluster
