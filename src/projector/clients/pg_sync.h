// pg_sync.h — keeps a PostgreSQL copy of the intake projection (README "PostgreSQL (optional)").
//
// PostgreSQL is a follower, never the source of truth: the projection in the store is. Each
// SyncOnce() reads the intakes the projector changed since the checkpoint (derived keys
// `updated/<seq:be64>/<id>`, one per intake at its latest change, in seq order), upserts their
// §4 JSON into `callrec_intakes`, and moves `callrec_checkpoint('intakes')` forward in the SAME
// transaction, chunk by chunk. So a crash at any point never skips a change, and re-applying one
// is an idempotent upsert of the same state.
// With `merge_into` (e.g. "intakes") the §4 metadata keys are also merged into that table's
// existing `metadata` JSONB column by `id`: the seed's "no schema change" path.
// The checkpoint names the store it came from (core/store_id.h). A checkpoint written by
// another store, or ahead of this store's log (a reinstall, a restored backup, a second
// installation on the same database), is refused with kFailedPrecondition and a
// `pg_sync.foreign_checkpoint` log line until an operator runs TakeOver (`callrec pg-sync
// --take-over`): syncing "nothing" silently was the bug. A checkpoint from before store ids is
// claimed when it is not ahead.
// Data PostgreSQL refuses: U+0000 (which old stores may hold) is replaced by U+FFFD on the way
// out (`pg_sync.nul_replaced`); any other row refused with a data exception (SQLSTATE 22xxx) is
// skipped with a `pg_sync.row_skipped` error line and counted, so it never blocks later intakes
// (it is tried again when the intake next changes, or by the next process).
// When PostgreSQL is down, SyncOnce returns kUnavailable and the caller tries again later; the
// service keeps receiving meanwhile, and the next success catches up from the checkpoint.
//
// Thread-safety: one PgSync per thread (it owns one connection).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "core/event_store.h"
#include "core/status.h"

namespace callrec::projector {

struct PgSyncReport {
  uint64_t rows = 0;            // intakes upserted (or skipped, see below)
  uint64_t checkpoint = 0;      // the seq PostgreSQL now reflects
  uint64_t transactions = 0;
  uint64_t nul_replaced = 0;    // U+0000 characters written as U+FFFD
  uint64_t skipped = 0;         // rows PostgreSQL refused as data (SQLSTATE 22xxx)
};

struct PgCheckpoint {
  uint64_t seq = 0;
  std::string store_id;  // "" when never synced or written before store ids
};

class PgSync {
 public:
  // Connects and creates the tables when missing. kUnavailable when the server cannot be
  // reached; kInvalidArgument for a bad URL or table name (the message never includes the
  // password).
  static core::Result<std::unique_ptr<PgSync>> Connect(const std::string& url,
                                                       const std::string& merge_into = "");
  ~PgSync();
  PgSync(const PgSync&) = delete;
  PgSync& operator=(const PgSync&) = delete;

  // Brings PostgreSQL up to date with the store's projection.
  core::Result<PgSyncReport> SyncOnce(core::EventStore& store);

  // The checkpoint as PostgreSQL has it (0 when never synced).
  core::Result<uint64_t> Checkpoint();
  core::Result<PgCheckpoint> ReadCheckpoint();

  // Makes this store the owner of the database's checkpoint and restarts it from 0, so the next
  // SyncOnce rewrites every intake of this store (rows of intakes only the other store had stay).
  core::Status TakeOver(core::EventStore& store);

 private:
  struct Conn;
  explicit PgSync(std::unique_ptr<Conn> conn, std::string merge_into);
  core::Status Exec(const std::string& sql);
  core::Status Run(const char* sql, std::initializer_list<const char*> params, std::string& sqlstate);
  core::Status CheckOwnership(core::EventStore& store, const PgCheckpoint& cp);
  core::Status UpsertChunk(core::EventStore& store, const std::vector<std::pair<uint64_t, std::string>>& chunk,
                           PgSyncReport& report, std::optional<std::pair<uint64_t, std::string>>& bad_row);

  std::unique_ptr<Conn> conn_;
  std::string merge_into_;  // quoted identifier, or "" when not merging
  std::set<std::pair<uint64_t, std::string>> skipped_;  // (seq, id) rows PostgreSQL refused
};

// "intakes" -> "\"intakes\"", "public.intakes" -> "\"public\".\"intakes\"";
// kInvalidArgument for anything but [A-Za-z_][A-Za-z0-9_]* (optionally schema-qualified).
core::Result<std::string> QuoteTableName(std::string_view name);

}  // namespace callrec::projector
