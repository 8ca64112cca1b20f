// leader_lease.h — which node of a cluster runs the Telnyx/storage steps (INTERFACE §8).
//
// One row, `callrec_leader (term, holder, expires_at)`, next to the shared log (pg_event_log.h).
// A node leads while the row names it with an unexpired lease; it renews well before expiry
// (every lease / 3). Another node takes over only once the lease has expired, by PostgreSQL's
// clock (clock_timestamp()), never the nodes' own. Each takeover increments `term`.
//
// Fencing: the actor's appends carry the term (PgEventLog::Append(e, term)); the append
// transaction checks, under the log's head lock, that the row still holds that term with an
// unexpired lease. A takeover takes the same head lock first, so an append of the old term
// either committed before the takeover (and the new leader, which catches up to the head after
// taking over, sees it) or is refused. A leader that was paused (SIGSTOP, GC, a network cut)
// past its lease therefore appends nothing when it resumes, even before anyone else took over;
// its next renewal tells it it was deposed.
//
//   CALLREC_ASSIGN_OR_RETURN(auto lease, LeaderLease::Connect(url, "node-a", std::chrono::seconds(5)));
//   CALLREC_ASSIGN_OR_RETURN(std::optional<uint64_t> term, lease->TryAcquireOrRenew());
//   if (term) { ... run steps, append with *term ... }
//
// Thread-safety: one thread at a time (it owns one connection).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"

namespace callrec::cluster {

class PgConn;

struct LeaderInfo {
  uint64_t term = 0;
  std::string holder;  // the leading node's id ("" before anyone led), without its instance
  bool expired = true;
};

class LeaderLease {
 public:
  // Connects (creating the shared log's tables when missing). `node_id` names this node in the
  // row and in log lines. The row's holder is `node_id#<instance>`, the instance drawn at random
  // per LeaderLease: two processes given the same node id (a copied config) are still two
  // holders, so they cannot both renew one lease and both lead.
  static core::Result<std::unique_ptr<LeaderLease>> Connect(const std::string& url, std::string node_id,
                                                            std::chrono::milliseconds lease);
  ~LeaderLease();
  LeaderLease(const LeaderLease&) = delete;
  LeaderLease& operator=(const LeaderLease&) = delete;

  // Renews the lease when this node holds it (same term), takes it over with term + 1 when it
  // is free or expired, else does nothing. Returns the term while this node leads, nullopt when
  // another node does. kUnavailable when PostgreSQL cannot be reached (the caller must then stop
  // acting once its lease has run out: its appends are fenced anyway).
  core::Result<std::optional<uint64_t>> TryAcquireOrRenew();
  // Ends this node's lease now when it holds `term` (a clean shutdown: no wait for expiry).
  core::Status Release(uint64_t term);
  core::Result<LeaderInfo> Current();

  const std::string& node_id() const { return node_id_; }
  const std::string& holder() const { return holder_; }  // node_id#instance, as in the row
  std::chrono::milliseconds lease() const { return lease_; }

 private:
  LeaderLease(std::unique_ptr<PgConn> conn, std::string node_id, std::chrono::milliseconds lease);
  std::unique_ptr<PgConn> conn_;
  const std::string node_id_;
  const std::string holder_;
  const std::chrono::milliseconds lease_;
};

}  // namespace callrec::cluster
