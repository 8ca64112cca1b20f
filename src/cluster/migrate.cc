// MigrateLog and CompareLogs (migrate.h).
#include "cluster/migrate.h"

#include <string>
#include <vector>

namespace callrec::cluster {

namespace {

// The shared log must be a prefix of `from`: its last record equals `from`'s of that seq.
core::Status CheckSharedIsPrefix(core::EventStore& from, PgEventLog& to, uint64_t shared_last) {
  if (shared_last == 0) return core::Status::Ok();
  std::string what = "the shared log at " + to.masked_url() + " (last seq " + std::to_string(shared_last) + ")";
  if (shared_last > from.LastSeq())
    return core::Status::FailedPrecondition(what + " is ahead of the store in " + from.dir() + " (last seq " +
                                            std::to_string(from.LastSeq()) + "): it holds another log; nothing copied");
  CALLREC_ASSIGN_OR_RETURN(std::optional<std::string> shared, to.ReadRecord(shared_last));
  CALLREC_ASSIGN_OR_RETURN(core::Event mine, from.Read(shared_last));
  if (!shared || core::EncodeEventRecord(mine) != *shared)
    return core::Status::FailedPrecondition(what + " differs from the store in " + from.dir() + " at seq " +
                                            std::to_string(shared_last) + ": it holds another log; nothing copied");
  return core::Status::Ok();
}

}  // namespace

core::Result<MigrateReport> MigrateLog(core::EventStore& from, PgEventLog& to, size_t batch,
                                       const std::function<void(uint64_t, uint64_t)>& progress, size_t batch_bytes) {
  CALLREC_ASSIGN_OR_RETURN(uint64_t shared_last, to.LastSeq());
  CALLREC_RETURN_IF_ERROR(CheckSharedIsPrefix(from, to, shared_last));
  MigrateReport report;
  report.last_seq = shared_last;
  const uint64_t total = from.LastSeq() - shared_last;
  std::vector<core::Event> pending;
  size_t pending_bytes = 0;
  core::Status failed;
  auto flush = [&] {
    failed = to.Import(pending);
    if (!failed.ok()) return false;
    if (report.first_seq == 0) report.first_seq = pending.front().seq;
    report.copied += pending.size();
    report.last_seq = pending.back().seq;
    pending.clear();
    pending_bytes = 0;
    if (progress) progress(report.copied, total);
    return true;
  };
  CALLREC_RETURN_IF_ERROR(from.ForEachFrom(shared_last + 1, [&](const core::Event& e) {
    pending.push_back(e);
    pending_bytes += core::GroupCommitBytes(e);
    return (pending.size() < batch && pending_bytes < batch_bytes) || flush();
  }));
  CALLREC_RETURN_IF_ERROR(failed);
  if (!pending.empty() && !flush()) return failed;
  return report;
}

core::Result<CompareReport> CompareLogs(core::EventStore& local, PgEventLog& shared, size_t batch) {
  CompareReport report;
  report.local_last = local.LastSeq();
  CALLREC_ASSIGN_OR_RETURN(report.shared_last, shared.LastSeq());
  const uint64_t common = std::min(report.local_last, report.shared_last);
  while (report.compared < common && report.first_diff == 0) {
    CALLREC_ASSIGN_OR_RETURN(std::vector<core::Event> theirs,
                             shared.ReadFrom(report.compared + 1, size_t(std::min<uint64_t>(batch, common - report.compared))));
    if (theirs.empty()) return core::Status::Corruption("the shared log ends before its head says");
    for (const core::Event& e : theirs) {
      CALLREC_ASSIGN_OR_RETURN(core::Event mine, local.Read(e.seq));
      if (core::EncodeEventRecord(mine) != core::EncodeEventRecord(e)) {
        report.first_diff = e.seq;
        break;
      }
      report.compared = e.seq;
    }
  }
  return report;
}

}  // namespace callrec::cluster
