// event_store.h — the append-only event log and the derived data beside it, on RocksDB.
//
// Everything callrec knows is an Event in this log. Derived data (the intake projection, its
// phone/call indexes, pending scheduler jobs) lives in a separate key space that can be thrown
// away and rebuilt from the log at any time (`callrec replay`).
//
// Who may call what, from which thread:
//   - One process opens a store with Open() (it takes RocksDB's LOCK file); any number of other
//     processes may open it with OpenReader() at the same time (a RocksDB secondary instance in a
//     private temp dir, refreshed by CatchUp()). A reader cannot append or write derived data.
//   - All methods are thread-safe. Append() from many threads shares fsyncs: writers queue, the
//     first in line (the leader) folds every queued append into one WriteBatch and one synced
//     write, as LevelDB's DBImpl::Write does. No mutex is held across the fsync.
//
// Key layout (column family: key grammar -> value):
//   events:        seq:be64                          -> event record (event.h)
//   dedupe:        idempotency_key bytes             -> seq:be64
//   intake_index:  len:u8 intake_id seq:be64         -> empty
//   meta:          "active_derived"                  -> generation:decimal
//   derived.<gen>: caller-defined keys               -> caller-defined values
// Big-endian seqs make RocksDB's bytewise order the seq order, so range reads come out sorted.
// Seqs are contiguous from 1; the next seq is derived at open from the last key of `events`.
//
// Why these options (tuned in one place, event_store.cc `BaseOptions`/`CfOptions`):
//   - WAL on, recovery kPointInTimeRecovery: after a crash the log is a prefix of what was
//     written, never a log with a hole; synced appends are in that prefix.
//   - `events` is written in key order and read in ranges: 16 KiB blocks, LZ4, no bloom filter.
//   - `dedupe` is point lookups on the webhook path: 10-bit whole-key bloom filter.
//   - `intake_index` and `derived.*` are prefix scans and point reads: bloom + shared cache.
//   - One LRU block cache shared by every column family, memtables charged to it (store_memory.h).
//
//   CALLREC_ASSIGN_OR_RETURN(auto store, EventStore::Open("data/store", clock));
//   Event e{.type = "intake.created", .intake_id = id, .source = "api", .payload = body};
//   CALLREC_ASSIGN_OR_RETURN(AppendResult r, store->Append(std::move(e)));
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/event.h"
#include "core/status.h"

namespace callrec::core {

struct AppendResult {
  uint64_t seq = 0;        // the new event's seq, or the first copy's when duplicate
  bool duplicate = false;  // the idempotency key was already stored; nothing was written
};

// A group commit (this store's, and cluster mode's in PostgreSQL) takes queued appends up to this
// many bytes, each event weighing GroupCommitBytes: the bound on one commit's latency and, in
// PostgreSQL, on one INSERT's arrays, which the server holds at once (webhook bodies may be up to
// 64 MiB). A single append bigger than it commits alone.
inline constexpr size_t kMaxGroupCommitBytes = 4 << 20;
inline size_t GroupCommitBytes(const Event& e) { return e.payload.size() + 64; }  // 64: the other fields

enum class Durability {
  kSync,    // fsync'd before Append returns: what an acknowledged webhook needs
  kNoSync,  // in the OS page cache only: for bulk generators and benchmarks
};

// A set of writes to derived data, applied atomically by EventStore::WriteDerived.
class DerivedBatch {
 public:
  void Put(std::string key, std::string value) { ops_.push_back({std::move(key), std::move(value), false}); }
  void Delete(std::string key) { ops_.push_back({std::move(key), {}, true}); }
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }

  struct Op {
    std::string key;
    std::string value;
    bool is_delete;
  };
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
};

struct CheckReport {
  uint64_t events = 0;          // events read
  uint64_t first_bad_seq = 0;   // 0 when the log is sound
  std::string problem;          // what is wrong at first_bad_seq (or with an index entry)
  bool ok() const { return problem.empty(); }
};

class DerivedRebuild;

class EventStore {
 public:
  // Opens (creating it, mode 0700, when missing) the store in `dir` for writing. Only one process
  // at a time: kFailedPrecondition naming the holder when another has it open.
  // `clock` stamps recorded_at on appends and must outlive the store.
  static Result<std::unique_ptr<EventStore>> Open(const std::string& dir, Clock& clock);
  // Opens a store for reading while another process may be writing it. kNotFound when `dir`
  // holds no store.
  static Result<std::unique_ptr<EventStore>> OpenReader(const std::string& dir);

  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;
  virtual ~EventStore() = default;

  // Appends `event`, assigning its seq and, when recorded_at_ms is 0, its time. When the event
  // has an idempotency key that is already stored, writes nothing and returns the first copy's
  // seq with duplicate = true; the check and the write are one atomic step, also under races.
  // kUnavailable when the disk write fails (the caller may retry); kFailedPrecondition on a reader.
  // Requires: event.intake_id.size() <= kMaxIntakeIdBytes.
  virtual Result<AppendResult> Append(Event event, Durability durability = Durability::kSync) = 0;
  // Appends several events in one atomic write: all of them or none survive a crash. Duplicates
  // among them are skipped individually, as Append does.
  virtual Result<std::vector<AppendResult>> AppendAll(std::vector<Event> events,
                                                      Durability durability = Durability::kSync) = 0;

  // The highest seq stored (0 when empty). A reader sees the primary's as of its last CatchUp().
  virtual uint64_t LastSeq() const = 0;
  // Blocks until LastSeq() > after_seq or `timeout` passes (in-process appends only); returns
  // LastSeq(). How the projector tails the log without polling.
  virtual uint64_t WaitForAppend(uint64_t after_seq, std::chrono::milliseconds timeout) = 0;

  // kNotFound for a seq never written.
  virtual Result<Event> Read(uint64_t seq) = 0;
  // Visits events with seq >= from_seq in seq order until `visit` returns false.
  virtual Status ForEachFrom(uint64_t from_seq, const std::function<bool(const Event&)>& visit) = 0;
  // Visits, in seq order, the events appended with this intake_id (an index range read).
  virtual Status ForEachOfIntake(std::string_view intake_id,
                                 const std::function<bool(const Event&)>& visit) = 0;
  // The seq stored under an idempotency key, if any.
  virtual Result<std::optional<uint64_t>> FindIdempotencyKey(std::string_view key) = 0;

  // Derived data of the active generation.
  virtual Result<std::optional<std::string>> GetDerived(std::string_view key) = 0;
  // Visits keys starting with `prefix` in bytewise order until `visit` returns false.
  virtual Status ScanDerived(
      std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) = 0;
  // Like ScanDerived, starting at the first key >= `start` (which should begin with `prefix`):
  // how readers resume an ordered index (e.g. pg-sync's `updated/<seq>/` from its checkpoint).
  virtual Status ScanDerivedFrom(
      std::string_view prefix, std::string_view start,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) = 0;
  // Applies `batch` atomically without fsync: derived data can always be rebuilt from the log.
  virtual Status WriteDerived(const DerivedBatch& batch) = 0;
  // Starts a new, empty generation of derived data beside the active one; see DerivedRebuild.
  // kFailedPrecondition on a reader.
  virtual Result<std::unique_ptr<DerivedRebuild>> BeginRebuild() = 0;

  // Reader only: brings this view up to date with the writing process. No-op on the primary.
  virtual Status CatchUp() = 0;

  // Verifies contiguous seqs from 1, every record's checksum and seq, and that the intake and
  // idempotency indexes agree with the records. Reads everything; for `callrec check`.
  virtual Result<CheckReport> Check() = 0;

  virtual const std::string& dir() const = 0;

  // Overwrites one byte of the stored record of `seq` (xor 0xFF), bypassing every check.
  virtual Status CorruptRecordForTest(uint64_t seq, size_t byte_offset) = 0;

 protected:
  EventStore() = default;
};

// A generation of derived data being built aside (by `callrec replay`). Nothing a reader or the
// store's GetDerived sees changes until Commit(), which makes it the active generation in one
// synced write and drops the old one. Destroyed without Commit(), the partial generation is
// dropped (and one left behind by a crash is dropped at the next Open).
class DerivedRebuild {
 public:
  virtual ~DerivedRebuild() = default;
  virtual Status Write(const DerivedBatch& batch) = 0;
  virtual Status Commit() = 0;
};

}  // namespace callrec::core
