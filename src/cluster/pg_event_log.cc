// PgEventLog: the shared log on PostgreSQL (pg_event_log.h).
#include "cluster/pg_event_log.h"

#include <algorithm>
#include <map>

#include "cluster/pg_conn.h"

namespace callrec::cluster {
namespace {

// Held (transaction-scoped) while the schema is created, so nodes starting together don't race
// on CREATE TABLE IF NOT EXISTS. "callrec\x01" as a number.
constexpr const char* kSchemaLock = "7161117183876456193";
// A node stopped while it holds the head lock is cut off after 10 s; waiting for the lock gives
// up after 5 s (the webhook then answers 503 and Telnyx retries).
constexpr const char* kSessionOptions =
    "-c lock_timeout=5000 -c idle_in_transaction_session_timeout=10000 -c client_min_messages=warning "
    "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off";

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS callrec_log (
  seq             bigint PRIMARY KEY CHECK (seq > 0),
  idempotency_key bytea UNIQUE,
  intake_id       bytea,
  record          bytea NOT NULL,
  committed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS callrec_log_head (
  id       integer PRIMARY KEY CHECK (id = 1),
  last_seq bigint NOT NULL
);
INSERT INTO callrec_log_head (id, last_seq) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS callrec_leader (
  id         integer PRIMARY KEY CHECK (id = 1),
  term       bigint NOT NULL,
  holder     text NOT NULL,
  expires_at timestamptz NOT NULL
);
INSERT INTO callrec_leader (id, term, holder, expires_at) VALUES (1, 0, '', '-infinity')
  ON CONFLICT (id) DO NOTHING;
)sql";

// The statements every append and catch-up runs, prepared once per session (PgConn::Prepare):
// parsing, analysing and planning them on every call was a third of PostgreSQL's CPU under load.
// One plan per session (plan_cache_mode=force_generic_plan), and never a sequential scan
// (enable_seqscan=off): a plan made while the log is small must stay right as it grows; every
// statement here is an index lookup or an index range.
const std::pair<const char*, const char*> kPrepared[] = {
    {"callrec_lock_head", "SELECT last_seq FROM callrec_log_head WHERE id = 1 FOR UPDATE"},
    {"callrec_fence", "SELECT term = $1::bigint AND expires_at > clock_timestamp() FROM callrec_leader WHERE id = 1"},
    {"callrec_stored_keys",
     "SELECT k.i, l.seq FROM unnest($1::bytea[]) WITH ORDINALITY AS k(key, i) "
     "JOIN callrec_log l ON l.idempotency_key = k.key"},
    {"callrec_insert",
     "INSERT INTO callrec_log (seq, idempotency_key, intake_id, record) "
     "SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[])"},
    {"callrec_move_head",
     "WITH moved AS (UPDATE callrec_log_head SET last_seq = $1::bigint WHERE id = 1 RETURNING last_seq) "
     "SELECT pg_notify('callrec_log', last_seq::text) FROM moved"},
    {"callrec_read_from",
     "SELECT seq, record FROM callrec_log WHERE seq >= $1::bigint AND seq < $1::bigint + $2::bigint ORDER BY seq"},
};

// Connected, with kPrepared prepared on this session (again after a reconnect).
core::Status ReadyToRun(PgConn& pg) {
  CALLREC_RETURN_IF_ERROR(pg.EnsureConnected());
  for (const auto& [name, sql] : kPrepared) CALLREC_RETURN_IF_ERROR(pg.Prepare(name, sql));
  return core::Status::Ok();
}

// What every append checks and stamps before its transaction, as the embedded store does.
core::Status CheckAndStamp(std::vector<core::Event>& events, core::Clock& clock) {
  CALLREC_RETURN_IF_ERROR(core::CheckIntakeIds(events));
  for (auto& e : events)
    if (e.recorded_at_ms == 0) e.recorded_at_ms = clock.WallMillis();
  return core::Status::Ok();
}

// Opens the append transaction holding the head row's lock (every writer takes it, so seqs are
// assigned in commit order); the log's last seq. `extra` statements (the fence check, the
// stored-keys lookup) go in the same round trip after the lock, their results into
// `extra_results`. Rolled back on failure.
core::Result<uint64_t> BeginAtHead(PgConn& pg, std::vector<PgCall> extra = {},
                                   std::vector<PgRows>* extra_results = nullptr) {
  CALLREC_RETURN_IF_ERROR(ReadyToRun(pg));
  std::vector<PgCall> calls = {{"", "BEGIN", {}}, {"callrec_lock_head", "", {}}};
  for (PgCall& c : extra) calls.push_back(std::move(c));
  auto done = pg.RunPipeline(calls);
  if (!done.ok() || (*done)[1].rows() != 1) {
    pg.Rollback();
    return done.ok() ? core::Status::Internal("callrec_log_head has no row") : done.status();
  }
  if (extra_results)
    for (size_t i = 2; i < done->size(); ++i) extra_results->push_back(std::move((*done)[i]));
  return (*done)[1].u64(0, 0);
}

// A one-dimensional array parameter in PostgreSQL's binary format (array_send): the header
// (dimensions, has-nulls flag, element type, length, lower bound 1), then each element as its
// length and bytes (-1: NULL). Binary, so the records travel and are stored without hex
// encoding, lexing, array_in or hex decoding (docs/PERFORMANCE.md, cluster section).
constexpr uint32_t kByteaOid = 17, kInt8Oid = 20;
class BinaryArray {
 public:
  explicit BinaryArray(uint32_t element_oid) : oid_(element_oid) {}
  void Add(std::string_view bytes, bool null_when_empty = false) {
    ++count_;
    if (bytes.empty() && null_when_empty) {
      has_null_ = true;
      Put32(body_, 0xffffffffu);
      return;
    }
    Put32(body_, uint32_t(bytes.size()));
    body_.append(bytes);
  }
  std::string Finish() const {
    std::string out;
    out.reserve(20 + body_.size());
    Put32(out, 1);
    Put32(out, has_null_ ? 1 : 0);
    Put32(out, oid_);
    Put32(out, count_);
    Put32(out, 1);
    return out + body_;
  }

 private:
  static void Put32(std::string& out, uint32_t v) {
    for (int b = 0; b < 4; ++b) out.push_back(char(v >> (24 - 8 * b)));
  }
  uint32_t oid_;
  uint32_t count_ = 0;
  bool has_null_ = false;
  std::string body_;
};

// The new rows of one append transaction, as the four binary array parameters of callrec_insert.
class NewRows {
 public:
  void Add(const core::Event& e) {
    char be[8];
    for (int b = 0; b < 8; ++b) be[b] = char(e.seq >> (56 - 8 * b));
    seqs_.Add(std::string_view(be, 8));
    ids_.Add(e.idempotency_key, /*null_when_empty=*/true);
    intakes_.Add(e.intake_id, /*null_when_empty=*/true);
    records_.Add(core::EncodeEventRecord(e));
  }
  // Inserts the rows, moves the head to `last` (NOTIFY), COMMITs: one pipeline, one round trip.
  // On failure nothing is committed (rolled back), except a connection lost with the COMMIT sent:
  // kUnavailable saying the outcome is unknown. A stored key: kAlreadyExists (UNIQUE).
  core::Status Commit(PgConn& pg, uint64_t last) {
    const std::string n = std::to_string(last);
    const std::string s = seqs_.Finish(), k = ids_.Finish(), in = intakes_.Finish(), r = records_.Finish();
    auto done = pg.RunPipeline(
        {{"callrec_insert", "", {PgParam::Bytes(s), PgParam::Bytes(k), PgParam::Bytes(in), PgParam::Bytes(r)}},
         {"callrec_move_head", "", {PgParam::Text(n)}},
         {"", "COMMIT", {}}});
    if (!done.ok()) {
      // The COMMIT went out in the same trip: with the connection gone it may have run.
      if (pg.socket() < 0)
        return core::Status::Unavailable("commit outcome unknown (" + done.status().message() +
                                         "): retry with the same idempotency key");
      pg.Rollback();  // an error before or at COMMIT: PostgreSQL skipped the rest, nothing committed
      return done.status();
    }
    if (done->empty() || done->back().command() != "COMMIT")
      return core::Status::Unavailable("PostgreSQL rolled the append back (" +
                                       std::string(done->empty() ? "" : done->back().command()) + ")");
    return core::Status::Ok();
  }

 private:
  BinaryArray seqs_{kInt8Oid}, ids_{kByteaOid}, intakes_{kByteaOid}, records_{kByteaOid};
};

}  // namespace

struct PgEventLog::Conn {
  std::unique_ptr<PgConn> pg;
};

PgEventLog::PgEventLog(std::unique_ptr<Conn> conn, std::string masked_url, core::Clock& clock)
    : conn_(std::move(conn)), masked_url_(std::move(masked_url)), clock_(clock) {}
PgEventLog::~PgEventLog() = default;

core::Result<std::unique_ptr<PgEventLog>> PgEventLog::Connect(const std::string& url, core::Clock& clock) {
  auto conn = std::make_unique<Conn>();
  CALLREC_ASSIGN_OR_RETURN(conn->pg, PgConn::Connect(url, kSessionOptions));
  auto made = conn->pg->Run(std::string("BEGIN; SELECT pg_advisory_xact_lock(") + kSchemaLock + ");" + kSchema + "COMMIT");
  if (!made.ok()) {
    conn->pg->Rollback();
    return core::Status(made.status().code(), "creating the shared log tables: " + made.status().message());
  }
  std::string masked = conn->pg->masked_url();
  return std::unique_ptr<PgEventLog>(new PgEventLog(std::move(conn), std::move(masked), clock));
}

core::Result<core::AppendResult> PgEventLog::Append(core::Event event, std::optional<uint64_t> fence_term) {
  std::vector<core::Event> one;
  one.push_back(std::move(event));
  CALLREC_ASSIGN_OR_RETURN(auto results, AppendAll(std::move(one), fence_term));
  return results[0];
}

core::Result<std::vector<core::AppendResult>> PgEventLog::AppendAll(std::vector<core::Event> events,
                                                                     std::optional<uint64_t> fence_term,
                                                                     std::vector<core::Event>* committed) {
  CALLREC_RETURN_IF_ERROR(CheckAndStamp(events, clock_));
  core::MutexLock lock(mu_);
  return AppendLocked(events, fence_term, committed);
}

// One transaction in two round trips, so the head lock is held for one trip and the commit:
//   1. BEGIN, lock the head, [check the fence], find the keys already stored;
//   2. insert the new events, move the head, NOTIFY, COMMIT.
// Each trip is a pipeline (extended protocol) with the arrays as binary parameters.
core::Result<std::vector<core::AppendResult>> PgEventLog::AppendLocked(std::vector<core::Event>& events,
                                                                        std::optional<uint64_t> fence_term,
                                                                        std::vector<core::Event>* committed) {
  PgConn& pg = *conn_->pg;
  std::vector<std::string_view> keys;
  BinaryArray key_array(kByteaOid);
  for (const core::Event& e : events)
    if (!e.idempotency_key.empty()) {
      keys.push_back(e.idempotency_key);
      key_array.Add(e.idempotency_key);
    }
  const std::string term = fence_term ? std::to_string(*fence_term) : "", key_bytes = key_array.Finish();
  std::vector<PgCall> extra;
  // Under the head lock, which a takeover also takes: the term cannot change until we commit.
  if (fence_term) extra.push_back({"callrec_fence", "", {PgParam::Text(term)}});
  // Keys already stored (under the head lock: no other writer can add one meanwhile), by their
  // 1-based position in `keys`.
  if (!keys.empty()) extra.push_back({"callrec_stored_keys", "", {PgParam::Bytes(key_bytes)}});
  std::vector<PgRows> found;
  CALLREC_ASSIGN_OR_RETURN(const uint64_t last_seq, BeginAtHead(pg, std::move(extra), &found));
  if (fence_term && (found[0].rows() != 1 || found[0].value(0, 0) != "t")) {
    pg.Rollback();
    return core::Status::FailedPrecondition("fenced: this node no longer leads (term " + term +
                                            " is over or its lease expired); nothing appended");
  }
  std::map<std::string, uint64_t, std::less<>> stored;
  if (!keys.empty()) {
    const PgRows& rows = found.back();
    for (int i = 0; i < rows.rows(); ++i) {
      const uint64_t at = rows.u64(i, 0);
      if (at >= 1 && at <= keys.size()) stored.emplace(std::string(keys[at - 1]), rows.u64(i, 1));
    }
  }
  return InsertAndCommit(events, last_seq, stored, committed);
}

core::Result<std::vector<core::AppendResult>> PgEventLog::AppendCollected(
    const std::function<std::vector<core::Event>()>& take, std::vector<core::Event>* committed) {
  core::MutexLock lock(mu_);
  PgConn& pg = *conn_->pg;
  const core::Result<uint64_t> last_seq = BeginAtHead(pg);
  std::vector<core::Event> events = take();  // once the lock is held: the group is as big as it gets
  if (!last_seq.ok()) return last_seq.status();
  if (core::Status bad = CheckAndStamp(events, clock_); !bad.ok()) {
    pg.Rollback();
    return bad;
  }
  std::map<std::string, uint64_t, std::less<>> none;  // only keys repeated within the group are known
  auto optimistic = InsertAndCommit(events, *last_seq, none, committed);
  if (optimistic.ok() || optimistic.status().code() != core::StatusCode::kAlreadyExists) return optimistic;
  // A key already stored (InsertAndCommit rolled back: nothing of the group was written). Rare: a
  // redelivery, or the same delivery racing on another node. Again, with the lookup.
  return AppendLocked(events, std::nullopt, committed);
}

// Round trip 2 of AppendLocked, inside its transaction: seqs for the new events, in order (a key
// seen earlier in the log or in this batch is a duplicate), one INSERT, the head, COMMIT: one
// pipeline, the arrays binary.
core::Result<std::vector<core::AppendResult>> PgEventLog::InsertAndCommit(
    std::vector<core::Event>& events, uint64_t last_seq, std::map<std::string, uint64_t, std::less<>>& stored,
    std::vector<core::Event>* committed) {
  PgConn& pg = *conn_->pg;
  const uint64_t first = last_seq + 1;
  uint64_t next = first;
  std::vector<core::AppendResult> results;
  std::vector<size_t> fresh_at;
  NewRows rows;
  for (size_t i = 0; i < events.size(); ++i) {
    core::Event& e = events[i];
    if (!e.idempotency_key.empty()) {
      auto [it, fresh] = stored.emplace(e.idempotency_key, next);
      if (!fresh) {
        results.push_back({it->second, true});
        continue;
      }
    }
    e.seq = next;
    rows.Add(e);
    results.push_back({next++, false});
    fresh_at.push_back(i);
  }
  if (next == first) {  // only duplicates: nothing to commit
    pg.Rollback();
    return results;
  }
  CALLREC_RETURN_IF_ERROR(rows.Commit(pg, next - 1));
  if (committed)
    for (size_t i : fresh_at) committed->push_back(events[i]);
  return results;
}

core::Status PgEventLog::Import(const std::vector<core::Event>& events) {
  if (events.empty()) return core::Status::Ok();
  core::MutexLock lock(mu_);
  return ImportLocked(events);
}

// One transaction, one INSERT of every row (binary arrays, as an append): a million events move
// in about a thousand round trips, not a million.
core::Status PgEventLog::ImportLocked(const std::vector<core::Event>& events) {
  PgConn& pg = *conn_->pg;
  CALLREC_ASSIGN_OR_RETURN(const uint64_t last_seq, BeginAtHead(pg));
  NewRows rows;
  uint64_t expected = last_seq + 1;
  for (const core::Event& e : events) {
    if (e.seq != expected) {
      pg.Rollback();
      return core::Status::FailedPrecondition("the shared log ends at seq " + std::to_string(last_seq) +
                                              ": cannot import seq " + std::to_string(events[0].seq) +
                                              (e.seq == events[0].seq ? "" : " (or seqs are not contiguous)"));
    }
    rows.Add(e);
    ++expected;
  }
  core::Status committed = rows.Commit(pg, expected - 1);
  if (committed.code() == core::StatusCode::kAlreadyExists)
    return core::Status::FailedPrecondition("an idempotency key of seqs " + std::to_string(last_seq + 1) + ".." +
                                            std::to_string(expected - 1) + " is already in the shared log");
  return committed;
}

core::Result<uint64_t> PgEventLog::LastSeq() {
  core::MutexLock lock(mu_);
  CALLREC_RETURN_IF_ERROR(conn_->pg->EnsureConnected());
  CALLREC_ASSIGN_OR_RETURN(PgRows r, conn_->pg->Run("SELECT last_seq FROM callrec_log_head WHERE id = 1"));
  if (r.rows() != 1) return core::Status::Internal("callrec_log_head has no row");
  return r.u64(0, 0);
}

core::Result<std::vector<core::Event>> PgEventLog::ReadFrom(uint64_t from_seq, size_t max) {
  core::MutexLock lock(mu_);
  return ReadFromLocked(std::max<uint64_t>(from_seq, 1), max);
}

core::Result<std::vector<core::Event>> PgEventLog::ReadFromLocked(uint64_t from_seq, size_t max) {
  CALLREC_RETURN_IF_ERROR(ReadyToRun(*conn_->pg));
  // A range of seqs (the log has no holes), bounded so that from + max stays a bigint.
  std::string from = std::to_string(from_seq), limit = std::to_string(std::min<uint64_t>(max, uint64_t{1} << 40));
  CALLREC_ASSIGN_OR_RETURN(
      PgRows r, conn_->pg->RunPrepared("callrec_read_from", {PgParam::Text(from), PgParam::Text(limit)}, true));
  std::vector<core::Event> out;
  out.reserve(size_t(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    uint64_t seq = r.u64(i, 0);
    if (seq != from_seq + uint64_t(i))
      return core::Status::Corruption("shared log: seq " + std::to_string(from_seq + i) + " is missing (next is " +
                                      std::to_string(seq) + ")");
    auto e = core::DecodeEventRecord(r.value(i, 1));
    if (!e.ok()) return core::Status::Corruption("shared log seq " + std::to_string(seq) + ": " + e.status().message());
    if (e->seq != seq)
      return core::Status::Corruption("shared log row " + std::to_string(seq) + " holds seq " + std::to_string(e->seq));
    out.push_back(std::move(*e));
  }
  return out;
}

core::Result<std::optional<std::string>> PgEventLog::ReadRecord(uint64_t seq) {
  core::MutexLock lock(mu_);
  CALLREC_RETURN_IF_ERROR(conn_->pg->EnsureConnected());
  std::string s = std::to_string(seq);
  CALLREC_ASSIGN_OR_RETURN(PgRows r, conn_->pg->Run("SELECT record FROM callrec_log WHERE seq = $1::bigint",
                                                    {PgParam::Text(s)}, true));
  if (r.rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(std::string(r.value(0, 0)));
}

core::Result<std::optional<uint64_t>> PgEventLog::FindIdempotencyKey(std::string_view key) {
  core::MutexLock lock(mu_);
  CALLREC_RETURN_IF_ERROR(conn_->pg->EnsureConnected());
  CALLREC_ASSIGN_OR_RETURN(PgRows r, conn_->pg->Run("SELECT seq FROM callrec_log WHERE idempotency_key = $1",
                                                    {PgParam::Bytes(key)}, true));
  if (r.rows() == 0) return std::optional<uint64_t>();
  return std::optional<uint64_t>(r.u64(0, 0));
}

core::Result<core::CheckReport> PgEventLog::Check() {
  core::MutexLock lock(mu_);
  PgConn& pg = *conn_->pg;
  CALLREC_RETURN_IF_ERROR(pg.EnsureConnected());
  core::CheckReport report;
  auto fail = [&](uint64_t seq, std::string problem) {
    report.first_bad_seq = seq;
    report.problem = std::move(problem);
    return report;
  };
  CALLREC_ASSIGN_OR_RETURN(PgRows head, pg.Run("SELECT last_seq FROM callrec_log_head WHERE id = 1"));
  if (head.rows() != 1) return fail(0, "callrec_log_head has no row");
  const uint64_t last = head.u64(0, 0);
  uint64_t expected = 1;
  while (true) {
    std::string from = std::to_string(expected);
    CALLREC_ASSIGN_OR_RETURN(
        PgRows r, pg.Run("SELECT seq, record, idempotency_key, intake_id FROM callrec_log WHERE seq >= $1::bigint "
                         "ORDER BY seq LIMIT 2000",
                         {PgParam::Text(from)}, true));
    if (r.rows() == 0) break;
    for (int i = 0; i < r.rows(); ++i, ++expected) {
      uint64_t seq = r.u64(i, 0);
      if (seq != expected)
        return fail(expected, "seq " + std::to_string(expected) + " is missing (next stored is " + std::to_string(seq) + ")");
      auto e = core::DecodeEventRecord(r.value(i, 1));
      if (!e.ok()) return fail(seq, e.status().message());
      if (e->seq != seq) return fail(seq, "record says seq " + std::to_string(e->seq));
      if (std::string_view(r.null(i, 2) ? "" : r.value(i, 2)) != e->idempotency_key)
        return fail(seq, "idempotency_key column differs from the record's");
      if (std::string_view(r.null(i, 3) ? "" : r.value(i, 3)) != e->intake_id)
        return fail(seq, "intake_id column differs from the record's");
      ++report.events;
    }
  }
  if (expected - 1 != last)
    return fail(expected, "the head says seq " + std::to_string(last) + " but the log ends at " + std::to_string(expected - 1));
  return report;
}

core::Status PgEventLog::CorruptRecordForTest(uint64_t seq, size_t byte_offset) {
  core::MutexLock lock(mu_);
  std::string s = std::to_string(seq), off = std::to_string(byte_offset);
  return conn_->pg
      ->Run("UPDATE callrec_log SET record = set_byte(record, $2::int, get_byte(record, $2::int) # 255) WHERE seq = $1::bigint",
            {PgParam::Text(s), PgParam::Text(off)})
      .status();
}

}  // namespace callrec::cluster
