// OpenServeStore and ClusterNode (serve_cluster.h).
#include "tools/serve_cluster.h"

#include <unistd.h>

#include "core/log.h"

namespace callrec::tools {

core::Result<std::unique_ptr<core::EventStore>> OpenServeStore(const ServeOptions& o, core::Clock& clock) {
  CALLREC_ASSIGN_OR_RETURN(auto local, core::EventStore::Open(o.data_dir, clock));
  if (o.event_log.empty()) return local;
  CALLREC_ASSIGN_OR_RETURN(auto store, cluster::ClusterStore::Open(std::move(local), o.event_log, clock));
  store->StartTailing();
  return std::unique_ptr<core::EventStore>(std::move(store));
}

ClusterNode::ClusterNode(cluster::ClusterStore& store, std::unique_ptr<cluster::LeaderLease> lease,
                         core::Metrics& metrics)
    : store_(store), lease_(std::move(lease)),
      leader_gauge_(metrics.GetGauge("callrec_cluster_leader", "1 while this node leads (runs the Telnyx/storage steps)")),
      term_gauge_(metrics.GetGauge("callrec_cluster_term", "The leader term this node holds (0: none)")),
      lag_gauge_(metrics.GetGauge("callrec_cluster_projection_lag_events",
                                  "Events of the shared log this node's projection has not applied yet")) {}

core::Result<std::unique_ptr<ClusterNode>> ClusterNode::Create(core::EventStore& store, const ServeOptions& o,
                                                               const ServeSettings& s, core::Metrics& metrics) {
  auto* cluster_store = dynamic_cast<cluster::ClusterStore*>(&store);
  if (cluster_store == nullptr) return core::Status::Internal("cluster mode without a ClusterStore");
  std::string node_id = o.node_id;
  if (node_id.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    node_id = std::string(host) + "-" + std::to_string(::getpid());
  }
  CALLREC_ASSIGN_OR_RETURN(auto lease, cluster::LeaderLease::Connect(o.event_log, node_id, s.leader_lease));
  return std::unique_ptr<ClusterNode>(new ClusterNode(*cluster_store, std::move(lease), metrics));
}

void ClusterNode::Start(std::function<uint64_t()> applied_seq, std::function<bool(uint64_t)> wait_applied,
                        std::function<void(uint64_t)> become_leader, std::function<void()> deposed) {
  applied_seq_ = std::move(applied_seq);
  wait_applied_ = std::move(wait_applied);
  become_leader_ = std::move(become_leader);
  deposed_ = std::move(deposed);
  loop_ = std::thread([this] { Run(); });
}

void ClusterNode::StopActivating() {
  core::MutexLock lock(activation_mu_);
  no_activation_ = true;
}

void ClusterNode::Stop() {
  {
    core::MutexLock lock(mu_);
    if (stop_ && !loop_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();  // first: it is the one that starts activation_
  if (activation_.joinable()) activation_.join();
  store_.StopTailing();
}

std::string ClusterNode::ReadyJson() const {
  return std::string("\"leader\":") + (leading() ? "true" : "false") + ",\"term\":" + std::to_string(term_.load()) +
         ",\"lag_events\":" + std::to_string(lag_gauge_->value());
}

void ClusterNode::UpdateGauges() {
  uint64_t shared = store_.shared_last_seq(), applied = applied_seq_ ? applied_seq_() : 0;
  lag_gauge_->Set(shared > applied ? int64_t(shared - applied) : 0);
  leader_gauge_->Set(leading() ? 1 : 0);
  term_gauge_->Set(int64_t(term_.load()));
}

// Everything the previous leader appended is in the shared log before the takeover committed
// (leader_lease.h): copy it, let the projection apply it, then act.
void ClusterNode::Elected(uint64_t term) {
  auto synced = store_.SyncFromShared();
  if (!synced.ok()) core::LogWarn("cluster.catch_up_failed", {{"error", synced.status().message()}});
  const uint64_t head = store_.LastSeq();
  while (!wait_applied_(head))
    if (stopping()) return;
  core::MutexLock lock(activation_mu_);
  if (stopping() || no_activation_) return;
  leading_ = true;
  UpdateGauges();
  core::LogInfo("cluster.leader_elected", {{"node_id", node_id()}, {"term", term}, {"last_seq", store_.LastSeq()}});
  become_leader_(term);
}

void ClusterNode::Depose(const std::string& why) {
  store_.SetLeaderTerm(std::nullopt);
  leading_ = false;
  was_deposed_ = true;
  UpdateGauges();
  core::LogWarn("cluster.deposed", {{"node_id", node_id()}, {"term", term_.load()}, {"reason", why}});
  deposed_();
}

void ClusterNode::Run() {
  const auto period = lease_->lease() / 3;
  bool warned = false;
  while (!stopping()) {
    auto term = lease_->TryAcquireOrRenew();
    const bool holding = term_.load() != 0;
    if (!term.ok()) {
      // PostgreSQL unreachable: keep trying. Nothing is lost by waiting: past the lease the actor's
      // appends are fenced anyway, and the next answer says whether this node still leads.
      if (!warned) core::LogWarn("cluster.lease_unavailable", {{"error", term.status().message()}});
      warned = true;
    } else if (term->has_value()) {
      warned = false;
      if (holding && **term != term_.load()) {
        // The lease ran out meanwhile and was taken again: others may have led in between.
        lease_->Release(**term).IgnoreError();  // best effort: the next leader need not wait
        Depose("the lease expired and was taken again under a new term");
      } else if (!holding) {
        term_ = **term;
        store_.SetLeaderTerm(**term);
        activation_ = std::thread([this, t = **term] { Elected(t); });
      }
    } else {
      warned = false;
      if (holding) Depose("another node holds the lease");
    }
    UpdateGauges();
    core::MutexLock lock(mu_);
    cv_.wait_for(lock, period, [this]() REQUIRES(mu_) { return stop_; });
  }
  const uint64_t held = was_deposed_ ? 0 : term_.load();
  if (held != 0) lease_->Release(held).IgnoreError();  // a clean stop: the next node need not wait
}

bool ClusterNode::stopping() {
  core::MutexLock lock(mu_);
  return stop_ || was_deposed_;
}

}  // namespace callrec::tools
