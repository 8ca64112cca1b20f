// cluster_store.h — a node's EventStore in cluster mode: appends go to the shared log in
// PostgreSQL, everything else is read from and derived into the node's own replica.
//
// ClusterStore implements core::EventStore, so ingest, the projector and the actor work on it as
// on the embedded store:
//   - Append/AppendAll commit in the shared log (pg_event_log.h) with group commit, as the
//     embedded store does: appends queue, the first in line takes the shared log's head lock
//     and then folds every queued one (up to 512 events, 4 MiB) into its transaction, so
//     concurrent webhooks, also those that arrived while it waited behind other nodes' commits,
//     share one commit and one trip through the head lock. Then each brings the replica up to
//     its seq before returning: what this node appended it can read at once
//     (read-your-writes), and WaitForAppend wakes the projector. A failed replica copy after
//     the commit is logged and not reported: the append IS committed, and the tail retries.
//   - Reads, idempotency lookups and derived data are the replica's (cluster/replica.h).
//   - A tail thread (StartTailing) LISTENs on `callrec_log` and copies what other nodes
//     appended, at most one read per `coalesce` interval; it also reads every `poll` interval,
//     since a notification can be missed while disconnected. PostgreSQL down: it reconnects
//     with backoff and resumes. This node's own commits go into the replica from memory (the
//     events as committed), not read back.
//   - Fenced() is the same store, but its appends carry the leader term (leader_lease.h): what
//     the actor appends through; without a term (not leading) it appends nothing.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster/pg_event_log.h"
#include "cluster/replica.h"
#include "core/event_store.h"
#include "core/thread_annotations.h"

namespace callrec::cluster {

class PgConn;

class ClusterStore final : public core::EventStore {
 public:
  // `local` is this node's replica, opened with EventStore::Open; it is verified to be one
  // (VerifyReplica) and brought up to date before this returns.
  static core::Result<std::unique_ptr<ClusterStore>> Open(std::unique_ptr<core::EventStore> local,
                                                          const std::string& url, core::Clock& clock,
                                                          size_t appenders = 4);
  ~ClusterStore() override;

  // Starts / stops the tail thread. Stop is safe to call twice.
  // A notification is read on at most every `coalesce`: under load one catch-up query covers
  // the commits of many nodes instead of one query per commit on every node.
  void StartTailing(std::chrono::milliseconds poll = std::chrono::milliseconds(1000),
                    std::chrono::milliseconds coalesce = std::chrono::milliseconds(10));
  void StopTailing();
  // Copies what the shared log has beyond the replica (one copy at a time); returns its report.
  // With `until`, returns at once when the replica already has that seq (another caller's copy
  // brought it), and skips reading the shared log's head.
  core::Result<CatchUpReport> SyncFromShared(uint64_t until = 0);

  // The store the actor appends through; appends carry the term set by SetLeaderTerm.
  core::EventStore& Fenced() { return *fenced_; }
  void SetLeaderTerm(std::optional<uint64_t> term);
  std::optional<uint64_t> leader_term() const;

  // The shared log's last seq as of the last sync (for the projection lag on /metrics).
  uint64_t shared_last_seq() const { return shared_last_.load(); }
  core::EventStore& local() { return *local_; }

  // core::EventStore
  core::Result<core::AppendResult> Append(core::Event event, core::Durability durability) override;
  core::Result<std::vector<core::AppendResult>> AppendAll(std::vector<core::Event> events,
                                                          core::Durability durability) override;
  uint64_t LastSeq() const override { return local_->LastSeq(); }
  uint64_t WaitForAppend(uint64_t after_seq, std::chrono::milliseconds timeout) override {
    return local_->WaitForAppend(after_seq, timeout);
  }
  core::Result<core::Event> Read(uint64_t seq) override { return local_->Read(seq); }
  core::Status ForEachFrom(uint64_t from_seq, const std::function<bool(const core::Event&)>& visit) override {
    return local_->ForEachFrom(from_seq, visit);
  }
  core::Status ForEachOfIntake(std::string_view intake_id,
                               const std::function<bool(const core::Event&)>& visit) override {
    return local_->ForEachOfIntake(intake_id, visit);
  }
  core::Result<std::optional<uint64_t>> FindIdempotencyKey(std::string_view key) override {
    return local_->FindIdempotencyKey(key);
  }
  core::Result<std::optional<std::string>> GetDerived(std::string_view key) override {
    return local_->GetDerived(key);
  }
  core::Status ScanDerived(std::string_view prefix,
                           const std::function<bool(std::string_view, std::string_view)>& visit) override {
    return local_->ScanDerived(prefix, visit);
  }
  core::Status ScanDerivedFrom(std::string_view prefix, std::string_view start,
                               const std::function<bool(std::string_view, std::string_view)>& visit) override {
    return local_->ScanDerivedFrom(prefix, start, visit);
  }
  core::Status WriteDerived(const core::DerivedBatch& batch) override { return local_->WriteDerived(batch); }
  core::Result<std::unique_ptr<core::DerivedRebuild>> BeginRebuild() override { return local_->BeginRebuild(); }
  core::Status CatchUp() override { return core::Status::Ok(); }
  core::Result<core::CheckReport> Check() override { return local_->Check(); }
  const std::string& dir() const override { return local_->dir(); }
  core::Status CorruptRecordForTest(uint64_t seq, size_t byte_offset) override {
    return local_->CorruptRecordForTest(seq, byte_offset);
  }

  // Appends with an optional fence (Fenced() passes the leader term).
  core::Result<std::vector<core::AppendResult>> AppendShared(std::vector<core::Event> events,
                                                             std::optional<uint64_t> fence_term, bool fenced);

 private:
  ClusterStore(std::unique_ptr<core::EventStore> local, std::vector<std::unique_ptr<PgEventLog>> appenders,
               std::unique_ptr<PgEventLog> reader, std::string url);
  void Tail(std::chrono::milliseconds poll, std::chrono::milliseconds coalesce);
  struct Writer;
  core::Result<std::vector<core::AppendResult>> AppendGrouped(std::vector<core::Event> events);
  core::Result<std::vector<core::AppendResult>> Queue(std::vector<core::Event> events);
  void LeadGroup() REQUIRES(group_mu_);
  core::Status ReachLocally(const std::vector<core::AppendResult>& results);
  core::Status CopyCommitted(const std::vector<core::Event>& committed);

  std::unique_ptr<core::EventStore> local_;
  std::vector<std::unique_ptr<PgEventLog>> appenders_;
  std::atomic<size_t> next_appender_{0};
  core::Mutex group_mu_;  // also guards each queued Writer's hand-off
  std::deque<Writer*> writers_ GUARDED_BY(group_mu_);  // front: the one committing
  const std::string url_;

  core::Mutex sync_mu_;  // one copy into the replica at a time
  std::unique_ptr<PgEventLog> reader_ GUARDED_BY(sync_mu_);
  bool verified_ GUARDED_BY(sync_mu_) = false;  // the replica was checked against the log once
  std::atomic<uint64_t> shared_last_{0};

  mutable core::Mutex term_mu_;
  std::optional<uint64_t> term_ GUARDED_BY(term_mu_);
  std::unique_ptr<core::EventStore> fenced_;

  std::atomic<bool> stop_{false};
  std::thread tail_;
};

}  // namespace callrec::cluster
