// CatchUpReplica: the shared log into a node's RocksDB (replica.h).
#include "cluster/replica.h"

#include <string>
#include <vector>

namespace callrec::cluster {

core::Status VerifyReplica(PgEventLog& log, core::EventStore& local) {
  const uint64_t local_last = local.LastSeq();
  if (local_last == 0) return core::Status::Ok();
  CALLREC_ASSIGN_OR_RETURN(std::optional<std::string> shared, log.ReadRecord(local_last));
  std::string where = "the store in " + local.dir() + " (last seq " + std::to_string(local_last) + ")";
  if (!shared)
    return core::Status::FailedPrecondition(where + " is ahead of the shared log at " + log.masked_url() +
                                            ": it is not a replica of this log (an embedded store? "
                                            "`callrec migrate-log` copies one into PostgreSQL)");
  CALLREC_ASSIGN_OR_RETURN(core::Event mine, local.Read(local_last));
  if (core::EncodeEventRecord(mine) != *shared)
    return core::Status::FailedPrecondition(where + " differs from the shared log at " + log.masked_url() +
                                            " at seq " + std::to_string(local_last) +
                                            ": it is not a replica of this log; use a new --data-dir");
  return core::Status::Ok();
}

core::Status AppendToReplica(core::EventStore& local, std::vector<core::Event> events) {
  if (events.empty()) return core::Status::Ok();
  const uint64_t first = events.front().seq;
  CALLREC_ASSIGN_OR_RETURN(auto results, local.AppendAll(std::move(events), core::Durability::kNoSync));
  for (size_t i = 0; i < results.size(); ++i)
    if (results[i].duplicate || results[i].seq != first + i)
      return core::Status::Corruption("replica " + local.dir() + " took shared seq " + std::to_string(first + i) +
                                      " as seq " + std::to_string(results[i].seq) +
                                      (results[i].duplicate ? " (a duplicate key)" : ""));
  return core::Status::Ok();
}

core::Result<CatchUpReport> CatchUpReplica(PgEventLog& log, core::EventStore& local, uint64_t max_events,
                                           size_t batch, bool verify) {
  if (verify) CALLREC_RETURN_IF_ERROR(VerifyReplica(log, local));
  CatchUpReport report;
  while (max_events == 0 || report.copied < max_events) {
    size_t want = batch;
    if (max_events != 0) want = size_t(std::min<uint64_t>(want, max_events - report.copied));
    const uint64_t from = local.LastSeq() + 1;
    CALLREC_ASSIGN_OR_RETURN(std::vector<core::Event> events, log.ReadFrom(from, want));
    if (events.empty()) break;
    const size_t n = events.size();
    CALLREC_RETURN_IF_ERROR(AppendToReplica(local, std::move(events)));
    report.copied += n;
    if (n < want) break;
  }
  report.last_seq = local.LastSeq();
  return report;
}

}  // namespace callrec::cluster
