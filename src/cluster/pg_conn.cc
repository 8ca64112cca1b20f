// PgConn: libpq behind Status (pg_conn.h).
#include "cluster/pg_conn.h"

#include <libpq-fe.h>

#include <cstring>

#include "core/mask.h"

namespace callrec::cluster {
namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// SQLSTATE classes worth a retry: connection (08), transaction rollback (40: serialization,
// deadlock), insufficient resources (53), operator intervention (57: shutdown, query canceled by
// a timeout), lock not available (55P03).
bool Retryable(std::string_view state) {
  if (state.size() != 5) return true;  // no SQLSTATE: libpq's own (connection) error
  std::string_view cls = state.substr(0, 2);
  return cls == "08" || cls == "40" || cls == "53" || cls == "57" || state == "55P03";
}

}  // namespace

PgRows::~PgRows() {
  if (r_) PQclear(r_);
}
int PgRows::rows() const { return PQntuples(r_); }
bool PgRows::null(int row, int col) const { return PQgetisnull(r_, row, col); }
std::string_view PgRows::value(int row, int col) const {
  return std::string_view(PQgetvalue(r_, row, col), size_t(PQgetlength(r_, row, col)));
}
std::string_view PgRows::command() const { return PQcmdStatus(r_); }
uint64_t PgRows::u64(int row, int col) const {
  std::string_view v = value(row, col);
  if (PQfformat(r_, col) == 0) return std::strtoull(std::string(v).c_str(), nullptr, 10);
  uint64_t out = 0;
  for (char c : v) out = (out << 8) | uint8_t(c);
  return out;
}

core::Result<std::unique_ptr<PgConn>> PgConn::Connect(const std::string& url, const std::string& options) {
  // dbname first: the keywords after it override what the URL says.
  const char* keys[] = {"dbname", "connect_timeout", "application_name", "options", nullptr};
  const char* values[] = {url.c_str(), "5", "callrec", options.c_str(), nullptr};
  pg_conn* pg = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  std::string masked = core::MaskSecrets(url);
  if (pg == nullptr || PQstatus(pg) != CONNECTION_OK) {
    std::string why = pg ? Trim(PQerrorMessage(pg)) : "out of memory";
    if (pg) PQfinish(pg);
    if (why.find("invalid") != std::string::npos || why.find("missing") != std::string::npos)
      return core::Status::InvalidArgument("bad PostgreSQL URL " + masked + ": " + why);
    return core::Status::Unavailable("cannot reach PostgreSQL at " + masked + ": " + why);
  }
  return std::unique_ptr<PgConn>(new PgConn(pg, masked));
}

PgConn::~PgConn() { PQfinish(pg_); }

core::Status PgConn::EnsureConnected() {
  if (PQstatus(pg_) == CONNECTION_OK) return core::Status::Ok();
  prepared_.clear();  // a new session has none
  PQreset(pg_);
  if (PQstatus(pg_) == CONNECTION_OK) return core::Status::Ok();
  return core::Status::Unavailable("cannot reach PostgreSQL at " + masked_url_ + ": " +
                                   Trim(PQerrorMessage(pg_)));
}

namespace {

// libpq's parameter arrays; text parameters are copied to be NUL-terminated.
struct ParamArrays {
  explicit ParamArrays(const std::vector<PgParam>& params) {
    text.reserve(params.size());
    for (const PgParam& p : params) {
      values.push_back(p.null ? nullptr : p.value.data() ? p.value.data() : "");  // nullptr means NULL
      lengths.push_back(int(p.value.size()));
      formats.push_back(p.binary ? 1 : 0);
      if (!p.binary && !p.null) values.back() = text.emplace_back(p.value).c_str();
    }
  }
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  std::vector<std::string> text;
};

}  // namespace

core::Result<PgRows> PgConn::Run(const std::string& sql, const std::vector<PgParam>& params,
                                 bool binary_result) {
  pg_result* r;
  if (params.empty() && !binary_result) {
    r = PQexec(pg_, sql.c_str());
  } else {
    ParamArrays a(params);
    r = PQexecParams(pg_, sql.c_str(), int(params.size()), nullptr, a.values.data(), a.lengths.data(),
                     a.formats.data(), binary_result ? 1 : 0);
  }
  return Finish(r);
}

core::Status PgConn::Prepare(const std::string& name, const std::string& sql) {
  if (prepared_.count(name) > 0) return core::Status::Ok();
  CALLREC_RETURN_IF_ERROR(Finish(PQprepare(pg_, name.c_str(), sql.c_str(), 0, nullptr)).status());
  prepared_.insert(name);
  return core::Status::Ok();
}

core::Result<PgRows> PgConn::RunPrepared(const std::string& name, const std::vector<PgParam>& params,
                                         bool binary_result) {
  ParamArrays a(params);
  return Finish(PQexecPrepared(pg_, name.c_str(), int(params.size()), a.values.data(), a.lengths.data(),
                               a.formats.data(), binary_result ? 1 : 0));
}

core::Result<PgRows> PgConn::Finish(pg_result* r) {
  PgRows rows(r);
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return rows;
  return Failure(r);
}

core::Result<std::vector<PgRows>> PgConn::RunPipeline(const std::vector<PgCall>& calls) {
  if (PQenterPipelineMode(pg_) == 0) return Failure(nullptr);
  bool sent = true;
  for (const PgCall& c : calls) {
    ParamArrays a(c.params);
    const int n = int(c.params.size());
    sent = c.name.empty() ? PQsendQueryParams(pg_, c.sql.c_str(), n, nullptr, a.values.data(), a.lengths.data(),
                                              a.formats.data(), 0) != 0
                          : PQsendQueryPrepared(pg_, c.name.c_str(), n, a.values.data(), a.lengths.data(),
                                                a.formats.data(), 0) != 0;
    if (!sent) break;
  }
  core::Status first_error = sent ? core::Status::Ok() : Failure(nullptr);
  // After a failed send, still Sync and read what went out: libpq leaves pipeline mode only with
  // every result read.
  if (PQpipelineSync(pg_) == 0 && first_error.ok()) first_error = Failure(nullptr);
  std::vector<PgRows> all;
  // Each statement's results end with a NULL; the Sync's own result ends the pipeline. Two NULLs
  // in a row: nothing more will come (the connection is gone: libpq then ends pipeline mode,
  // and the next statement reconnects).
  for (int nulls = 0; nulls < 2;) {
    pg_result* r = PQgetResult(pg_);
    if (r == nullptr) {
      ++nulls;
      continue;
    }
    nulls = 0;
    PgRows rows(r);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_PIPELINE_SYNC) break;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) all.push_back(std::move(rows));
    else if (st != PGRES_PIPELINE_ABORTED && first_error.ok()) first_error = Failure(r);
  }
  PQexitPipelineMode(pg_);  // fails only with results unread, i.e. on a lost connection
  if (first_error.ok() && (PQstatus(pg_) != CONNECTION_OK || all.size() != calls.size()))
    first_error = Failure(nullptr);
  if (!first_error.ok()) return first_error;
  return all;
}

core::Status PgConn::Failure(pg_result* r) {
  std::string err = r ? Trim(PQresultErrorMessage(r)) : Trim(PQerrorMessage(pg_));
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string_view sqlstate = state ? state : "";
  if (PQstatus(pg_) != CONNECTION_OK)
    return core::Status::Unavailable("PostgreSQL connection to " + masked_url_ + " lost: " + err);
  if (sqlstate == "23505") return core::Status::AlreadyExists("PostgreSQL: " + err);
  if (Retryable(sqlstate)) return core::Status::Unavailable("PostgreSQL: " + err);
  return core::Status::Internal("PostgreSQL: " + err);
}

void PgConn::Rollback() {
  if (PQstatus(pg_) != CONNECTION_OK) return;
  PQclear(PQexec(pg_, "ROLLBACK"));
}

int PgConn::socket() const { return PQstatus(pg_) == CONNECTION_OK ? PQsocket(pg_) : -1; }

core::Result<std::vector<std::string>> PgConn::TakeNotifications() {
  std::vector<std::string> out;
  if (PQconsumeInput(pg_) == 0)
    return core::Status::Unavailable("PostgreSQL connection to " + masked_url_ + " lost: " +
                                     Trim(PQerrorMessage(pg_)));
  while (PGnotify* n = PQnotifies(pg_)) {
    out.emplace_back(n->extra);
    PQfreemem(n);
  }
  return out;
}

}  // namespace callrec::cluster
