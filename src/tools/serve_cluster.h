// serve_cluster.h — what `serve --event-log postgres://...` adds: this node's place in a cluster.
//
// OpenServeStore opens the store serve runs on: the embedded RocksDB store, or in cluster mode a
// cluster::ClusterStore over this node's replica in --data-dir (appends commit in the shared log,
// a thread tails it). ClusterNode then runs the leadership loop (cluster/leader_lease.h): every
// lease / 3 it renews or tries to take the lease. When this node takes it, a separate thread
// copies the shared log up to its head (everything the previous leader appended), waits for the
// projection to apply it, and calls `become_leader` (serve starts the actor there). When it loses
// the lease — another node holds it, or it expired and this renewal took it under a new term —
// it clears the term (the actor's appends are fenced from then on) and calls `deposed` once; serve
// then shuts down and exits 1, and its supervisor restarts it as a follower (crash-only: no
// half-stopped actor is ever restarted in place). While PostgreSQL cannot be reached it keeps
// trying and stays up (its webhooks answer 503): past the lease its appends are fenced anyway.
//
// /metrics: callrec_cluster_leader (1 while leading), callrec_cluster_term,
// callrec_cluster_projection_lag_events (the shared log's last seq minus the applied seq).
// /readyz adds "leader", "term" and "lag_events" (ReadyJson).
//
// Thread-safety: Start/Stop from the controlling thread; leading(), ReadyJson() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "cluster/cluster_store.h"
#include "cluster/leader_lease.h"
#include "core/metrics.h"
#include "core/thread_annotations.h"
#include "tools/serve_options.h"

namespace callrec::tools {

core::Result<std::unique_ptr<core::EventStore>> OpenServeStore(const ServeOptions& o, core::Clock& clock);

class ClusterNode {
 public:
  // `store` is what OpenServeStore returned in cluster mode; it must outlive the node.
  static core::Result<std::unique_ptr<ClusterNode>> Create(core::EventStore& store, const ServeOptions& o,
                                                           const ServeSettings& s, core::Metrics& metrics);
  ~ClusterNode() { Stop(); }

  // What the actor appends through (fenced by the term).
  core::EventStore& actor_store() { return store_.Fenced(); }
  // The replica (for memory gauges and the store id).
  core::EventStore& local() { return store_.local(); }

  // `applied_seq()` is the projection's; `wait_applied(seq)` waits a little (say 200 ms) for it
  // to reach seq and says whether it did.
  void Start(std::function<uint64_t()> applied_seq, std::function<bool(uint64_t)> wait_applied,
             std::function<void(uint64_t term)> become_leader, std::function<void()> deposed);
  // From now on `become_leader` is never called (it has returned if it ran): call it before
  // stopping what become_leader starts. The lease is still renewed until Stop.
  void StopActivating();
  // Stops the loop, releases a held lease (the next node takes over at once) and stops tailing.
  void Stop();

  bool leading() const { return leading_.load(); }
  std::string ReadyJson() const;
  const std::string& node_id() const { return lease_->node_id(); }

 private:
  ClusterNode(cluster::ClusterStore& store, std::unique_ptr<cluster::LeaderLease> lease, core::Metrics& metrics);
  void Run();
  void Elected(uint64_t term);
  void Depose(const std::string& why);
  void UpdateGauges();
  bool stopping();

  cluster::ClusterStore& store_;
  std::unique_ptr<cluster::LeaderLease> lease_;
  core::Gauge* leader_gauge_;
  core::Gauge* term_gauge_;
  core::Gauge* lag_gauge_;
  std::function<uint64_t()> applied_seq_;
  std::function<bool(uint64_t)> wait_applied_;
  std::function<void(uint64_t)> become_leader_;
  std::function<void()> deposed_;

  std::atomic<bool> leading_{false};
  std::atomic<uint64_t> term_{0};
  std::atomic<bool> was_deposed_{false};
  core::Mutex activation_mu_;  // held while become_leader runs
  bool no_activation_ GUARDED_BY(activation_mu_) = false;
  core::Mutex mu_;
  std::condition_variable_any cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread loop_;
  std::thread activation_;  // Elected's catch-up, off the renewal loop
};

}  // namespace callrec::tools
