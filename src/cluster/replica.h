// replica.h — a node's local copy of the shared log: the same seqs, the same record bytes.
//
// In cluster mode every node keeps a RocksDB store (--data-dir) whose `events` are a prefix of
// the shared log in PostgreSQL (pg_event_log.h), and projects from it as the embedded mode does.
// CatchUpReplica copies what the shared log has beyond the local store's last seq, in order,
// with EventStore::AppendAll: the local store assigns the next seq itself, and since nothing else
// appends to a replica, those are the shared log's seqs (checked; a difference is kCorruption).
// Before copying it checks that the local store IS a replica of this log: its last record must
// be byte for byte the shared log's record of that seq, and the shared log must not end before
// it. An embedded store, or a replica of another cluster, is refused with kFailedPrecondition
// (use `callrec migrate-log` to move an embedded store's log into PostgreSQL).
// Replica appends are not synced (kNoSync): after a crash the store recovers a prefix
// (point-in-time recovery) and the next catch-up copies the rest again.
//
// Thread-safety: as its arguments'; run one catch-up per local store at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cluster/pg_event_log.h"
#include "core/event_store.h"
#include "core/status.h"

namespace callrec::cluster {

struct CatchUpReport {
  uint64_t copied = 0;    // events appended to the local store
  uint64_t last_seq = 0;  // the local store's last seq afterwards
};

// Verifies the local store is a prefix of `log` (unless `verify` is false: a caller that
// verified it once and is the only writer of `local` may skip the extra read), then copies up to
// `max_events` (0: everything) in batches of `batch` events.
core::Result<CatchUpReport> CatchUpReplica(PgEventLog& log, core::EventStore& local, uint64_t max_events = 0,
                                           size_t batch = 1000, bool verify = true);

// kFailedPrecondition when `local` is not a prefix of `log` (see above); Ok for an empty store.
core::Status VerifyReplica(PgEventLog& log, core::EventStore& local);

// Appends `events`, which carry their shared seqs in order from local.LastSeq() + 1, to the
// replica (unsynced); kCorruption when the store gives any of them another seq or calls it a
// duplicate.
core::Status AppendToReplica(core::EventStore& local, std::vector<core::Event> events);

}  // namespace callrec::cluster
