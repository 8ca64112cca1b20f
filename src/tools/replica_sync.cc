// SyncReplica (replica_sync.h).
#include "tools/replica_sync.h"

#include <iostream>

#include "cluster/pg_event_log.h"
#include "cluster/replica.h"
#include "core/event_store.h"
#include "projector/projection/projector.h"

namespace callrec::tools {

core::Status SyncReplica(const std::string& data_dir, const std::string& event_log) {
  if (event_log.empty()) return core::Status::Ok();
  core::SystemClock clock;
  CALLREC_ASSIGN_OR_RETURN(auto log, cluster::PgEventLog::Connect(event_log, clock));
  auto store = core::EventStore::Open(data_dir, clock);
  if (!store.ok()) {
    if (store.status().code() != core::StatusCode::kFailedPrecondition ||
        store.status().message().find("in use") == std::string::npos)
      return store.status();
    std::cerr << "callrec: " << data_dir << " is held by a running `serve`, which keeps it up to date with "
              << "the shared log; reading it as it is\n";
    return core::Status::Ok();
  }
  CALLREC_ASSIGN_OR_RETURN(cluster::CatchUpReport copied, cluster::CatchUpReplica(*log, **store));
  CALLREC_ASSIGN_OR_RETURN(auto projector, projector::Projector::Open(**store));
  CALLREC_RETURN_IF_ERROR(projector->CatchUp());
  if (copied.copied > 0)
    std::cerr << "callrec: replica " << data_dir << " brought up to date: " << copied.copied
              << " event(s) copied, now at seq " << copied.last_seq << "\n";
  return core::Status::Ok();
}

}  // namespace callrec::tools
