// The only file that includes libpq.
#include "projector/pg_sync.h"

#include <libpq-fe.h>

#include <vector>

#include "core/log.h"

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

// Hides the password of a postgresql:// URL in messages.
std::string Redact(const std::string& url) {
  size_t scheme = url.find("://");
  size_t at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

uint64_t DecodeBe64(std::string_view s) {
  uint64_t v = 0;
  for (char c : s.substr(0, 8)) v = (v << 8) | uint8_t(c);
  return v;
}

}  // namespace

struct PgSync::Conn {
  PGconn* pg = nullptr;
  ~Conn() {
    if (pg) PQfinish(pg);
  }
};

std::string UpdatedKey(uint64_t seq, std::string_view intake_id) {
  std::string k = "updated/";
  for (int i = 7; i >= 0; --i) k.push_back(char((seq >> (8 * i)) & 0xFF));
  k.push_back('/');
  k.append(intake_id);
  return k;
}

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
      return core::Status::InvalidArgument("bad PostgreSQL URL " + Redact(url) + ": " + why);
    return core::Status::Unavailable("cannot reach PostgreSQL at " + Redact(url) + ": " + why);
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

core::Result<uint64_t> PgSync::Checkpoint() {
  PGresult* r = PQexec(conn_->pg, "SELECT seq FROM callrec_checkpoint WHERE name = 'intakes'");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    std::string err = PQresultErrorMessage(r);
    PQclear(r);
    if (PQstatus(conn_->pg) != CONNECTION_OK) PQreset(conn_->pg);
    return core::Status::Unavailable("PostgreSQL: " + err);
  }
  uint64_t seq = PQntuples(r) ? std::strtoull(PQgetvalue(r, 0, 0), nullptr, 10) : 0;
  PQclear(r);
  return seq;
}

core::Status PgSync::UpsertChunk(core::EventStore& store,
                                 const std::vector<std::pair<uint64_t, std::string>>& chunk) {
  CALLREC_RETURN_IF_ERROR(Exec("BEGIN"));
  auto fail = [&](core::Status s) {
    Exec("ROLLBACK").IgnoreError();
    return s;
  };
  for (const auto& [seq, id] : chunk) {
    auto json = store.GetDerived("intake/" + id);
    if (!json.ok()) return fail(json.status());
    if (!json->has_value()) continue;  // an intake never disappears; tolerate a torn read
    std::string seq_text = std::to_string(seq);
    const char* params[] = {(*json)->c_str(), seq_text.c_str()};
    PGresult* r = PQexecParams(conn_->pg, kUpsert, 2, nullptr, params, nullptr, nullptr, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    std::string err = PQresultErrorMessage(r);
    PQclear(r);
    if (!ok) return fail(core::Status::Unavailable("upsert of intake " + id + ": " + err));
    if (!merge_into_.empty()) {
      std::string sql = "UPDATE " + merge_into_ +
                        " SET metadata = COALESCE(metadata, '{}'::jsonb) || COALESCE((SELECT "
                        "jsonb_object_agg(key, value) FROM jsonb_each($1::jsonb->'metadata') "
                        "WHERE key = ANY(" + kSeedKeys + ")), '{}'::jsonb) WHERE id::text = $2";
      const char* mp[] = {(*json)->c_str(), id.c_str()};
      r = PQexecParams(conn_->pg, sql.c_str(), 2, nullptr, mp, nullptr, nullptr, 0);
      ok = PQresultStatus(r) == PGRES_COMMAND_OK;
      err = PQresultErrorMessage(r);
      PQclear(r);
      if (!ok) return fail(core::Status::Unavailable("merge into " + merge_into_ + ": " + err));
    }
  }
  std::string last = std::to_string(chunk.back().first);
  const char* cp[] = {last.c_str()};
  PGresult* r = PQexecParams(conn_->pg,
                             "INSERT INTO callrec_checkpoint (name, seq) VALUES ('intakes', $1) "
                             "ON CONFLICT (name) DO UPDATE SET seq = GREATEST(callrec_checkpoint.seq, EXCLUDED.seq)",
                             1, nullptr, cp, nullptr, nullptr, 0);
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  std::string err = PQresultErrorMessage(r);
  PQclear(r);
  if (!ok) return fail(core::Status::Unavailable("checkpoint: " + err));
  return Exec("COMMIT");
}

core::Result<PgSyncReport> PgSync::SyncOnce(core::EventStore& store) {
  PgSyncReport report;
  CALLREC_ASSIGN_OR_RETURN(report.checkpoint, Checkpoint());
  // Every intake changed after the checkpoint, in the order of its latest change.
  std::vector<std::pair<uint64_t, std::string>> changed;
  std::string start = UpdatedKey(report.checkpoint + 1, "");
  start.pop_back();  // drop the '/': seek to the first key at or after seq checkpoint+1
  core::Status s = store.ScanDerivedFrom("updated/", start, [&](std::string_view key, std::string_view) {
    if (key.size() < 8 + 8 + 1) return true;
    uint64_t seq = DecodeBe64(key.substr(8));
    if (seq > report.checkpoint) changed.emplace_back(seq, std::string(key.substr(17)));
    return true;
  });
  CALLREC_RETURN_IF_ERROR(s);
  for (size_t i = 0; i < changed.size(); i += kChunk) {
    std::vector<std::pair<uint64_t, std::string>> chunk(
        changed.begin() + i, changed.begin() + std::min(changed.size(), i + kChunk));
    CALLREC_RETURN_IF_ERROR(UpsertChunk(store, chunk));
    report.rows += chunk.size();
    report.checkpoint = chunk.back().first;
    ++report.transactions;
  }
  if (report.rows > 0)
    core::LogInfo("pg_sync.synced", {{"rows", report.rows}, {"checkpoint", report.checkpoint}});
  return report;
}

}  // namespace callrec::projector
