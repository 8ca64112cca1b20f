// migrate.h — moving an embedded store's log into the shared log, and comparing the two.
//
// MigrateLog copies the events of a RocksDB store (core/event_store.h) into the PostgreSQL log
// (pg_event_log.h) with the same seqs and the same record bytes, in transactions of `batch`
// events or kMigrateBatchBytes, whichever comes first (PgEventLog::Import). It is resumable and
// idempotent: it starts after the shared log's last seq, once it has checked that the shared log
// is a prefix of the store (its last record is byte for byte the store's record of that seq); run
// again, it copies only what was appended since. A shared log that is ahead of the store, or differs from it, is refused with
// kFailedPrecondition and nothing is written. The store may be a reader of a running `serve`:
// run it again after stopping `serve` to copy the last events, then start the cluster.
//
// CompareLogs reads both logs over their common seqs and reports the first seq whose records
// differ (`callrec check --event-log ... --data-dir ...`).
//
// Thread-safety: as their arguments'.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "cluster/pg_event_log.h"
#include "core/event_store.h"
#include "core/status.h"

namespace callrec::cluster {

struct MigrateReport {
  uint64_t copied = 0;
  uint64_t first_seq = 0;  // the first seq copied (0 when none)
  uint64_t last_seq = 0;   // the shared log's last seq afterwards
};

// A transaction also ends once its events reach this many bytes: each is ONE insert whose arrays
// PostgreSQL must hold at once (a parameter may not pass 1 GB), and webhook bodies may be up to
// --max-body-bytes (64 MiB) each. An event bigger than the bound goes in a transaction alone.
inline constexpr size_t kMigrateBatchBytes = size_t(64) << 20;

// `progress(copied, total_to_copy)` after each committed batch.
core::Result<MigrateReport> MigrateLog(core::EventStore& from, PgEventLog& to, size_t batch = 1000,
                                       const std::function<void(uint64_t, uint64_t)>& progress = {},
                                       size_t batch_bytes = kMigrateBatchBytes);

struct CompareReport {
  uint64_t local_last = 0;
  uint64_t shared_last = 0;
  uint64_t compared = 0;     // seqs 1..compared are byte for byte equal
  uint64_t first_diff = 0;   // 0 when the common seqs all agree
  bool same() const { return first_diff == 0 && local_last == shared_last; }
};

core::Result<CompareReport> CompareLogs(core::EventStore& local, PgEventLog& shared, size_t batch = 1000);

}  // namespace callrec::cluster
