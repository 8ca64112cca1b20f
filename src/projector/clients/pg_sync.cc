// The only file that includes libpq.
#include "projector/clients/pg_sync.h"

#include <libpq-fe.h>

#include <vector>

#include "core/derived_keys.h"
#include "core/json_nul.h"
#include "core/log.h"
#include "core/mask.h"
#include "core/store_id.h"

namespace callrec::projector {

namespace {

constexpr size_t kChunk = 500;  // intakes per transaction: bounded lock time, steady progress

// The §4 metadata keys merged into a user's table (the seed's keys).
constexpr const char* kSeedKeys =
    "ARRAY['call_control_id','call_session_id','call_leg_id','recording_started_at',"
    "'recording_id','recording_url_telnyx','recording_duration','recording_fetched_at',"
    "'recording_url_supabase','recording_migrated_at','recording_url_storage']";

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS callrec_intakes (
  id              text PRIMARY KEY,
  patient_phone   text NOT NULL,
  patient_id      text,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  state           text NOT NULL,
  failure_reason  text,
  fetch_attempts  integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  last_error      text,
  metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
  last_seq        bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS callrec_intakes_state ON callrec_intakes (state);
CREATE TABLE IF NOT EXISTS callrec_checkpoint (
  name text PRIMARY KEY,
  seq  bigint NOT NULL
);
ALTER TABLE callrec_checkpoint ADD COLUMN IF NOT EXISTS store_id text;
)sql";

// $1 = the intake's §4 JSON, $2 = the seq it reflects. A row only moves forward in seq.
constexpr const char* kUpsert = R"sql(
INSERT INTO callrec_intakes AS t (id, patient_phone, patient_id, created_at, updated_at, state,
  failure_reason, fetch_attempts, next_attempt_at, last_error, metadata, last_seq)
SELECT j->>'id', j->>'patient_phone', j->>'patient_id', (j->>'created_at')::timestamptz,
  (j->>'updated_at')::timestamptz, j->>'state', j->>'failure_reason',
  COALESCE((j->>'fetch_attempts')::integer, 0), (j->>'next_attempt_at')::timestamptz,
  j->>'last_error', COALESCE(j->'metadata', '{}'::jsonb), $2::bigint
FROM (SELECT $1::jsonb AS j) AS s
ON CONFLICT (id) DO UPDATE SET patient_phone = EXCLUDED.patient_phone,
  patient_id = EXCLUDED.patient_id, created_at = EXCLUDED.created_at,
  updated_at = EXCLUDED.updated_at, state = EXCLUDED.state,
  failure_reason = EXCLUDED.failure_reason, fetch_attempts = EXCLUDED.fetch_attempts,
  next_attempt_at = EXCLUDED.next_attempt_at, last_error = EXCLUDED.last_error,
  metadata = EXCLUDED.metadata, last_seq = EXCLUDED.last_seq
WHERE t.last_seq <= EXCLUDED.last_seq
)sql";

}  // namespace

struct PgSync::Conn {
  PGconn* pg = nullptr;
  ~Conn() {
    if (pg) PQfinish(pg);
  }
};

core::Result<std::string> QuoteTableName(std::string_view name) {
  auto ident = [](std::string_view part) {
    if (part.empty() || part.size() > 63) return false;
    if (!(std::isalpha(uint8_t(part[0])) || part[0] == '_')) return false;
    for (char c : part)
      if (!(std::isalnum(uint8_t(c)) || c == '_')) return false;
    return true;
  };
  size_t dot = name.find('.');
  std::string_view schema = dot == std::string_view::npos ? "" : name.substr(0, dot);
  std::string_view table = dot == std::string_view::npos ? name : name.substr(dot + 1);
  if ((dot != std::string_view::npos && !ident(schema)) || !ident(table))
    return core::Status::InvalidArgument("not a plain table name: '" + std::string(name) + "'");
  std::string out;
  if (!schema.empty()) out = "\"" + std::string(schema) + "\".";
  return out + "\"" + std::string(table) + "\"";
}

PgSync::PgSync(std::unique_ptr<Conn> conn, std::string merge_into)
    : conn_(std::move(conn)), merge_into_(std::move(merge_into)) {}
PgSync::~PgSync() = default;

core::Result<std::unique_ptr<PgSync>> PgSync::Connect(const std::string& url,
                                                     const std::string& merge_into) {
  std::string quoted;
  if (!merge_into.empty()) {
    CALLREC_ASSIGN_OR_RETURN(quoted, QuoteTableName(merge_into));
  }
  auto conn = std::make_unique<Conn>();
  // connect_timeout keeps a down server from stalling the caller for the OS default (minutes).
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* values[] = {url.c_str(), "5", "callrec", nullptr};
  conn->pg = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn->pg == nullptr || PQstatus(conn->pg) != CONNECTION_OK) {
    std::string why = conn->pg ? PQerrorMessage(conn->pg) : "out of memory";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    if (why.find("invalid") != std::string::npos || why.find("missing") != std::string::npos)
      return core::Status::InvalidArgument("bad PostgreSQL URL " + core::MaskSecrets(url) + ": " + why);
    return core::Status::Unavailable("cannot reach PostgreSQL at " + core::MaskSecrets(url) + ": " + why);
  }
  std::unique_ptr<PgSync> sync(new PgSync(std::move(conn), quoted));
  CALLREC_RETURN_IF_ERROR(sync->Exec(kSchema));
  return sync;
}

core::Status PgSync::Exec(const std::string& sql) {
  PGresult* r = PQexec(conn_->pg, sql.c_str());
  ExecStatusType st = PQresultStatus(r);
  std::string err = PQresultErrorMessage(r);
  PQclear(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return core::Status::Ok();
  if (PQstatus(conn_->pg) != CONNECTION_OK) {
    PQreset(conn_->pg);  // next attempt starts from a fresh connection
    return core::Status::Unavailable("PostgreSQL connection lost: " + err);
  }
  return core::Status::Unavailable("PostgreSQL: " + err);
}

core::Result<PgCheckpoint> PgSync::ReadCheckpoint() {
  PGresult* r = PQexec(conn_->pg, "SELECT seq, store_id FROM callrec_checkpoint WHERE name = 'intakes'");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    std::string err = PQresultErrorMessage(r);
    PQclear(r);
    if (PQstatus(conn_->pg) != CONNECTION_OK) PQreset(conn_->pg);
    return core::Status::Unavailable("PostgreSQL: " + err);
  }
  PgCheckpoint cp;
  if (PQntuples(r)) {
    cp.seq = std::strtoull(PQgetvalue(r, 0, 0), nullptr, 10);
    if (!PQgetisnull(r, 0, 1)) cp.store_id = PQgetvalue(r, 0, 1);
  }
  PQclear(r);
  return cp;
}

core::Result<uint64_t> PgSync::Checkpoint() {
  CALLREC_ASSIGN_OR_RETURN(PgCheckpoint cp, ReadCheckpoint());
  return cp.seq;
}

core::Status PgSync::CheckOwnership(core::EventStore& store, const PgCheckpoint& cp) {
  std::string ours = core::StoreId(store);
  std::string why;
  if (!cp.store_id.empty() && !ours.empty() && cp.store_id != ours) {
    why = "PostgreSQL's checkpoint (seq " + std::to_string(cp.seq) + ") was written by store " + cp.store_id +
          ", this is store " + ours + " (a reinstall, or a second installation on the same database)";
  } else if (cp.seq > store.LastSeq()) {
    why = "PostgreSQL's checkpoint (seq " + std::to_string(cp.seq) + ") is ahead of this store (last seq " +
          std::to_string(store.LastSeq()) + "; a restored backup, or another store)";
  }
  if (!why.empty()) {
    core::LogError("pg_sync.foreign_checkpoint",
                   {{"checkpoint_store_id", cp.store_id}, {"checkpoint_seq", cp.seq}, {"store_id", ours},
                    {"last_seq", store.LastSeq()}});
    return core::Status::FailedPrecondition(
        why + ": nothing synced. Run `callrec pg-sync --take-over --once` to resynchronise this database "
        "from this store");
  }
  if (cp.store_id.empty() && cp.seq > 0 && !ours.empty()) {
    // A checkpoint from before store ids, consistent with this store: claim it.
    const char* p[] = {ours.c_str()};
    PGresult* r = PQexecParams(conn_->pg,
                               "UPDATE callrec_checkpoint SET store_id = $1 WHERE name = 'intakes' AND store_id IS NULL",
                               1, nullptr, p, nullptr, nullptr, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    std::string err = PQresultErrorMessage(r);
    PQclear(r);
    if (!ok) return core::Status::Unavailable("PostgreSQL: " + err);
  }
  return core::Status::Ok();
}

core::Status PgSync::TakeOver(core::EventStore& store) {
  CALLREC_ASSIGN_OR_RETURN(PgCheckpoint before, ReadCheckpoint());
  std::string ours = core::StoreId(store);
  CALLREC_RETURN_IF_ERROR(Exec("BEGIN"));
  // Rows keep the other store's last_seq; zero them so this store's upserts replace them.
  core::Status s = Exec("UPDATE callrec_intakes SET last_seq = 0");
  if (s.ok()) {
    const char* p[] = {ours.empty() ? nullptr : ours.c_str()};
    PGresult* r = PQexecParams(conn_->pg,
                               "INSERT INTO callrec_checkpoint (name, seq, store_id) VALUES ('intakes', 0, $1) "
                               "ON CONFLICT (name) DO UPDATE SET seq = 0, store_id = EXCLUDED.store_id",
                               1, nullptr, p, nullptr, nullptr, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) s = core::Status::Unavailable(std::string("PostgreSQL: ") + PQresultErrorMessage(r));
    PQclear(r);
  }
  if (!s.ok()) {
    Exec("ROLLBACK").IgnoreError();
    return s;
  }
  CALLREC_RETURN_IF_ERROR(Exec("COMMIT"));
  core::LogWarn("pg_sync.take_over", {{"previous_store_id", before.store_id}, {"previous_seq", before.seq},
                                      {"store_id", ours}});
  return core::Status::Ok();
}

// Runs `sql` with `params`; on failure fills `sqlstate` (e.g. "22P05") and returns the error.
core::Status PgSync::Run(const char* sql, std::initializer_list<const char*> params, std::string& sqlstate) {
  std::vector<const char*> p(params);
  PGresult* r = PQexecParams(conn_->pg, sql, int(p.size()), nullptr, p.data(), nullptr, nullptr, 0);
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  std::string err = PQresultErrorMessage(r);
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  sqlstate = state ? state : "";
  PQclear(r);
  if (ok) return core::Status::Ok();
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  return core::Status::Unavailable(err);
}

core::Status PgSync::UpsertChunk(core::EventStore& store, const std::vector<std::pair<uint64_t, std::string>>& chunk,
                                 PgSyncReport& report, std::optional<std::pair<uint64_t, std::string>>& bad_row) {
  CALLREC_RETURN_IF_ERROR(Exec("BEGIN"));
  auto fail = [&](core::Status s) {
    Exec("ROLLBACK").IgnoreError();
    return s;
  };
  uint64_t nul_replaced = 0;
  std::string sqlstate;
  for (const auto& [seq, id] : chunk) {
    if (skipped_.count({seq, id})) continue;
    auto json = store.GetDerived(core::keys::IntakeKey(id));
    if (!json.ok()) return fail(json.status());
    if (!json->has_value()) continue;  // an intake never disappears; tolerate a torn read
    std::string text = std::move(**json);
    // Stores from before the API refused U+0000 may hold it; PostgreSQL's jsonb never will.
    if (size_t n = core::ReplaceJsonNulEscapes(text)) {
      core::LogWarn("pg_sync.nul_replaced", {{"intake_id", id}, {"count", uint64_t(n)}});
      nul_replaced += n;
    }
    std::string seq_text = std::to_string(seq);
    core::Status s = Run(kUpsert, {text.c_str(), seq_text.c_str()}, sqlstate);
    if (s.ok() && !merge_into_.empty()) {
      std::string sql = "UPDATE " + merge_into_ +
                        " SET metadata = COALESCE(metadata, '{}'::jsonb) || COALESCE((SELECT "
                        "jsonb_object_agg(key, value) FROM jsonb_each($1::jsonb->'metadata') "
                        "WHERE key = ANY(" + kSeedKeys + ")), '{}'::jsonb) WHERE id::text = $2";
      s = Run(sql.c_str(), {text.c_str(), id.c_str()}, sqlstate);
      if (!s.ok()) s = core::Status::Unavailable("merge into " + merge_into_ + ": " + s.message());
    } else if (!s.ok()) {
      s = core::Status::Unavailable("upsert of intake " + id + ": " + s.message());
    }
    if (s.ok()) continue;
    // SQLSTATE class 22 is "data exception": this row will never go in as it is. Name it so
    // the caller skips it, instead of retrying the chunk (and every later intake) forever.
    if (sqlstate.rfind("22", 0) == 0 && PQstatus(conn_->pg) == CONNECTION_OK) bad_row = {seq, id};
    if (PQstatus(conn_->pg) != CONNECTION_OK) PQreset(conn_->pg);
    return fail(s);
  }
  std::string last = std::to_string(chunk.back().first);
  std::string ours = core::StoreId(store);
  core::Status s = Run("INSERT INTO callrec_checkpoint (name, seq, store_id) VALUES ('intakes', $1, $2) "
                       "ON CONFLICT (name) DO UPDATE SET seq = GREATEST(callrec_checkpoint.seq, EXCLUDED.seq), "
                       "store_id = COALESCE(EXCLUDED.store_id, callrec_checkpoint.store_id)",
                       {last.c_str(), ours.empty() ? nullptr : ours.c_str()}, sqlstate);
  if (!s.ok()) return fail(core::Status::Unavailable("checkpoint: " + s.message()));
  CALLREC_RETURN_IF_ERROR(Exec("COMMIT"));
  report.nul_replaced += nul_replaced;
  return core::Status::Ok();
}

core::Result<PgSyncReport> PgSync::SyncOnce(core::EventStore& store) {
  PgSyncReport report;
  CALLREC_ASSIGN_OR_RETURN(PgCheckpoint cp, ReadCheckpoint());
  CALLREC_RETURN_IF_ERROR(CheckOwnership(store, cp));
  report.checkpoint = cp.seq;
  // Every intake changed after the checkpoint, in the order of its latest change.
  std::vector<std::pair<uint64_t, std::string>> changed;
  std::string start = core::keys::UpdatedKey(report.checkpoint + 1, "");
  start.pop_back();  // drop the '/': seek to the first key at or after seq checkpoint+1
  core::Status s = store.ScanDerivedFrom(core::keys::kUpdated, start, [&](std::string_view key, std::string_view) {
    if (key.size() < 8 + 8 + 1) return true;
    uint64_t seq = core::keys::DecodeBe64(key.substr(core::keys::kUpdated.size()));
    if (seq > report.checkpoint) changed.emplace_back(seq, std::string(key.substr(17)));
    return true;
  });
  CALLREC_RETURN_IF_ERROR(s);
  for (size_t i = 0; i < changed.size(); i += kChunk) {
    std::vector<std::pair<uint64_t, std::string>> chunk(
        changed.begin() + i, changed.begin() + std::min(changed.size(), i + kChunk));
    while (true) {
      std::optional<std::pair<uint64_t, std::string>> bad_row;
      core::Status chunk_status = UpsertChunk(store, chunk, report, bad_row);
      if (chunk_status.ok()) break;
      if (!bad_row) return chunk_status;
      core::LogError("pg_sync.row_skipped", {{"intake_id", bad_row->second}, {"seq", bad_row->first},
                                             {"error", chunk_status.message()}});
      skipped_.insert(*bad_row);
      ++report.skipped;
    }
    report.rows += chunk.size();
    report.checkpoint = chunk.back().first;
    ++report.transactions;
  }
  if (report.rows > 0)
    core::LogInfo("pg_sync.synced", {{"rows", report.rows}, {"checkpoint", report.checkpoint}});
  return report;
}

}  // namespace callrec::projector
