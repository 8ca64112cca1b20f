// pg_event_log.h — the shared event log of cluster mode (INTERFACE §8), in PostgreSQL.
//
// Several `serve` nodes append to one log table; each keeps its own RocksDB replica (replica.h).
// The promises are the embedded store's (core/event_store.h), kept by PostgreSQL:
//   - Seqs are contiguous from 1 in COMMIT order. Every writer first locks the one row of
//     `callrec_log_head` (SELECT ... FOR UPDATE), takes last_seq + 1, inserts, moves the head and
//     commits; the row lock is released only after the commit is visible. So a reader that saw
//     seq N never later finds a seq below N appear, and the committed rows are always 1..head.
//   - A redelivered idempotency key (a webhook's `telnyx:<data.id>`) is a duplicate forever,
//     whichever node gets it: checked inside the same transaction (under the head lock), with a
//     UNIQUE constraint on the column as a backstop.
//   - Each row holds the event record exactly as event.h encodes it (version, CRC32C, seq,
//     payload bytes as received), read back in binary; appends send it in binary too (an
//     element of a binary bytea[] parameter: the same bytes, nothing to escape or decode).
//   - An append returns only after COMMIT succeeded (durability as the server's
//     synchronous_commit says). PostgreSQL unreachable, a lock wait over `lock_timeout`, a
//     connection lost mid-transaction: kUnavailable, never a fake success. A connection lost
//     during COMMIT leaves the outcome unknown: kUnavailable saying so; a retry with the same
//     idempotency key is then harmless (it answers duplicate if the first one committed).
//
// Schema (created at Connect when missing, under an advisory lock so nodes starting together
// do not race):
//   callrec_log      (seq bigint PRIMARY KEY, idempotency_key bytea UNIQUE (NULL: none),
//                     intake_id bytea, record bytea NOT NULL, committed_at timestamptz)
//   callrec_log_head (id = 1, last_seq bigint)    the one row every writer locks
//   callrec_leader   (id = 1, term bigint, holder text, expires_at timestamptz)  leader_lease.h
// Each commit that appends also sends NOTIFY callrec_log (payload: the new last seq), which a
// tailing node LISTENs to; it must still read to catch up, NOTIFY is only a wake-up.
//
// An append is one transaction in two round trips (lock + find stored keys; insert + move the
// head + NOTIFY + COMMIT), each one libpq pipeline with binary array parameters, so the
// head lock is held for one round trip and the commit (AppendCollected: lock; insert...COMMIT,
// the lookup left to the UNIQUE constraint); its
// statements and the catch-up read are prepared once per session with one index-only plan each.
//
// Sessions set lock_timeout (5 s) and idle_in_transaction_session_timeout (10 s): a node stopped
// (SIGSTOP, GC pause) while holding the head lock is cut off by the server instead of stalling
// every other node's appends.
//
//   CALLREC_ASSIGN_OR_RETURN(auto log, PgEventLog::Connect("postgresql://db/callrec", clock));
//   CALLREC_ASSIGN_OR_RETURN(core::AppendResult r, log->Append(std::move(event)));
//
// Thread-safety: all methods are thread-safe; one PgEventLog owns one connection and runs one
// transaction at a time. For parallel appends open several (each is one PostgreSQL session).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/event.h"
#include "core/event_store.h"
#include "core/status.h"
#include "core/thread_annotations.h"

namespace callrec::cluster {

class PgEventLog {
 public:
  // Connects and creates the tables when missing. kUnavailable when the server cannot be reached;
  // kInvalidArgument for a bad URL (messages never include the password). `clock` stamps
  // recorded_at on appends and must outlive the log.
  static core::Result<std::unique_ptr<PgEventLog>> Connect(const std::string& url, core::Clock& clock);
  ~PgEventLog();
  PgEventLog(const PgEventLog&) = delete;
  PgEventLog& operator=(const PgEventLog&) = delete;

  // As EventStore::Append / AppendAll: assigns seqs (and recorded_at when 0), skips duplicates of
  // stored idempotency keys (duplicate = true, the first copy's seq), all in one transaction.
  // With `fence_term` (the actor's appends, leader_lease.h): the transaction first checks that
  // `callrec_leader` still names this term with an unexpired lease, under the head lock; else
  // kFailedPrecondition ("fenced") and nothing is written. A deposed leader appends nothing.
  core::Result<core::AppendResult> Append(core::Event event, std::optional<uint64_t> fence_term = std::nullopt);
  // With `committed`, the events this call stored are appended to it as stored (seq and
  // recorded_at set), in seq order: the caller can copy them into its replica without reading
  // them back.
  core::Result<std::vector<core::AppendResult>> AppendAll(std::vector<core::Event> events,
                                                          std::optional<uint64_t> fence_term = std::nullopt,
                                                          std::vector<core::Event>* committed = nullptr);

  // The group commit of a node (cluster_store.h): the head lock is taken FIRST, then `take` is
  // called, once, whether taking the lock worked or not, and returns the events to append (the
  // caller moves them out of its queue): every append that queued while this node waited for the
  // lock behind other nodes' commits joins this transaction. No stored-keys lookup: a key already
  // in the log (a redelivery) makes the INSERT fail on its UNIQUE constraint, nothing of the
  // group is written, and the group is appended again as AppendAll does (lookup first), so a
  // duplicate is still answered as one. Results and `committed` as AppendAll's, in `take`'s order.
  core::Result<std::vector<core::AppendResult>> AppendCollected(const std::function<std::vector<core::Event>()>& take,
                                                                std::vector<core::Event>* committed = nullptr);

  // Stores events that already carry their seqs (`callrec migrate-log`): in one transaction,
  // requires events[0].seq == head + 1 and contiguous seqs, else kFailedPrecondition and nothing
  // is written. The records are stored as EncodeEventRecord gives them.
  core::Status Import(const std::vector<core::Event>& events);

  // The highest committed seq (0 when empty).
  core::Result<uint64_t> LastSeq();
  // Up to `max` events with seq >= from_seq, in seq order, checksums verified. Fewer than `max`
  // only at the end of the log. kCorruption for a bad record or a hole.
  core::Result<std::vector<core::Event>> ReadFrom(uint64_t from_seq, size_t max);
  // The stored record bytes of `seq`, or nullopt when there is none.
  core::Result<std::optional<std::string>> ReadRecord(uint64_t seq);
  core::Result<std::optional<uint64_t>> FindIdempotencyKey(std::string_view key);
  // Contiguous seqs from 1, each record's checksum and seq, head row == last seq; reads it all.
  core::Result<core::CheckReport> Check();

  // The URL with any password masked, for messages.
  const std::string& masked_url() const { return masked_url_; }

  // Test hook: overwrites one byte of seq's stored record (xor 0xFF).
  core::Status CorruptRecordForTest(uint64_t seq, size_t byte_offset);

 private:
  struct Conn;
  PgEventLog(std::unique_ptr<Conn> conn, std::string masked_url, core::Clock& clock);
  core::Result<std::vector<core::AppendResult>> AppendLocked(std::vector<core::Event>& events,
                                                             std::optional<uint64_t> fence_term,
                                                             std::vector<core::Event>* committed) REQUIRES(mu_);
  core::Result<std::vector<core::AppendResult>> InsertAndCommit(std::vector<core::Event>& events, uint64_t last_seq,
                                                                std::map<std::string, uint64_t, std::less<>>& stored,
                                                                std::vector<core::Event>* committed) REQUIRES(mu_);
  core::Status ImportLocked(const std::vector<core::Event>& events) REQUIRES(mu_);
  core::Result<std::vector<core::Event>> ReadFromLocked(uint64_t from_seq, size_t max) REQUIRES(mu_);

  core::Mutex mu_;  // one transaction at a time on the connection
  std::unique_ptr<Conn> conn_ GUARDED_BY(mu_);
  const std::string masked_url_;
  core::Clock& clock_;
};

}  // namespace callrec::cluster
