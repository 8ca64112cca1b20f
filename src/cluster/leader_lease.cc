// LeaderLease (leader_lease.h).
#include "cluster/leader_lease.h"

#include <algorithm>
#include <cstdio>
#include <random>

#include "cluster/pg_conn.h"
#include "cluster/pg_event_log.h"

namespace callrec::cluster {
namespace {

// Renew (same holder, unexpired: same term) or take over (free or expired: term + 1), under the
// head lock that fenced appends hold (leader_lease.h). No row returned: another node leads.
constexpr const char* kAcquire = R"sql(
UPDATE callrec_leader
   SET term = CASE WHEN holder = $1 AND expires_at > clock_timestamp() THEN term ELSE term + 1 END,
       holder = $1,
       expires_at = clock_timestamp() + ($2::bigint * interval '1 millisecond')
 WHERE id = 1 AND (holder = $1 OR expires_at <= clock_timestamp())
RETURNING term
)sql";

// The holder written in the row: the node id, '#', a random instance (Current() cuts at the last '#').
std::string NewHolder(const std::string& node_id) {
  std::random_device random;
  char instance[20];
  std::snprintf(instance, sizeof instance, "%08x%08x", random(), random());
  return node_id + "#" + instance;
}

}  // namespace

LeaderLease::LeaderLease(std::unique_ptr<PgConn> conn, std::string node_id, std::chrono::milliseconds lease)
    : conn_(std::move(conn)), node_id_(std::move(node_id)), holder_(NewHolder(node_id_)), lease_(lease) {}
LeaderLease::~LeaderLease() = default;

core::Result<std::unique_ptr<LeaderLease>> LeaderLease::Connect(const std::string& url, std::string node_id,
                                                                std::chrono::milliseconds lease) {
  if (node_id.empty()) return core::Status::InvalidArgument("a leader lease needs a node id");
  {  // the tables (PgEventLog creates them all, under its schema lock)
    class NoClock final : public core::Clock {
      std::chrono::system_clock::time_point WallNow() override { return {}; }
      std::chrono::steady_clock::time_point SteadyNow() override { return {}; }
    } clock;
    CALLREC_RETURN_IF_ERROR(PgEventLog::Connect(url, clock).status());
  }
  CALLREC_ASSIGN_OR_RETURN(auto conn, PgConn::Connect(url, "-c lock_timeout=5000 -c client_min_messages=warning"));
  return std::unique_ptr<LeaderLease>(new LeaderLease(std::move(conn), std::move(node_id), lease));
}

core::Result<std::optional<uint64_t>> LeaderLease::TryAcquireOrRenew() {
  CALLREC_RETURN_IF_ERROR(conn_->EnsureConnected());
  auto locked = conn_->Run("BEGIN; SELECT last_seq FROM callrec_log_head WHERE id = 1 FOR UPDATE");
  if (!locked.ok()) {
    conn_->Rollback();
    return locked.status();
  }
  std::string ms = std::to_string(lease_.count());
  auto row = conn_->Run(kAcquire, {PgParam::Text(holder_), PgParam::Text(ms)});
  if (!row.ok()) {
    conn_->Rollback();
    return row.status();
  }
  std::optional<uint64_t> term;
  if (row->rows() == 1) term = row->u64(0, 0);
  auto commit = conn_->Run("COMMIT");
  if (!commit.ok()) return core::Status::Unavailable("lease renewal outcome unknown: " + commit.status().message());
  if (commit->command() != "COMMIT") return core::Status::Unavailable("lease renewal rolled back");
  return term;
}

core::Status LeaderLease::Release(uint64_t term) {
  CALLREC_RETURN_IF_ERROR(conn_->EnsureConnected());
  std::string t = std::to_string(term);
  return conn_
      ->Run("UPDATE callrec_leader SET expires_at = '-infinity' WHERE id = 1 AND term = $1::bigint AND holder = $2",
            {PgParam::Text(t), PgParam::Text(holder_)})
      .status();
}

core::Result<LeaderInfo> LeaderLease::Current() {
  CALLREC_RETURN_IF_ERROR(conn_->EnsureConnected());
  CALLREC_ASSIGN_OR_RETURN(
      PgRows r, conn_->Run("SELECT term, holder, expires_at <= clock_timestamp() FROM callrec_leader WHERE id = 1"));
  LeaderInfo info;
  if (r.rows() != 1) return info;
  info.term = r.u64(0, 0);
  const std::string_view holder = r.value(0, 1);
  info.holder = std::string(holder.substr(0, std::min(holder.size(), holder.rfind('#'))));
  info.expired = r.value(0, 2) == "t";
  return info;
}

}  // namespace callrec::cluster
