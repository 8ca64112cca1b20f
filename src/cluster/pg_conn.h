// pg_conn.h — one libpq connection for the cluster module, with errors as Status.
//
// Internal to src/cluster (the only files that include libpq-fe.h are its .cc files). Statements
// go out with PQexecParams; bytea parameters and results travel in binary, so bytes are never
// escaped or re-encoded. Errors map to codes the callers act on:
//   - the server unreachable, the connection lost, a lock or statement timeout, a serialization
//     failure or deadlock, the server shutting down or out of resources: kUnavailable (retry);
//   - a unique violation (SQLSTATE 23505): kAlreadyExists;
//   - anything else: kInternal, with PostgreSQL's message.
// A lost connection is reset (reconnected) at the start of the next statement outside a
// transaction, so a node resumes by itself once PostgreSQL is back.
//
// Thread-safety: none; the owner serialises use (PgEventLog holds a mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

struct pg_conn;
struct pg_result;

namespace callrec::cluster {

// A statement's parameter: text (numbers) or binary (bytea).
struct PgParam {
  std::string_view value;
  bool binary = false;
  bool null = false;
  static PgParam Text(std::string_view v) { return {v, false, false}; }
  static PgParam Bytes(std::string_view v) { return {v, true, false}; }
  static PgParam Null() { return {{}, false, true}; }
};

// One statement of a pipeline (PgConn::RunPipeline): the prepared statement `name` when it is
// set, else `sql`; text results.
struct PgCall {
  std::string name;
  std::string sql;
  std::vector<PgParam> params;
};

// A statement's result; rows and columns as libpq gives them.
class PgRows {
 public:
  explicit PgRows(pg_result* r) : r_(r) {}
  ~PgRows();
  PgRows(PgRows&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  PgRows& operator=(PgRows&&) = delete;
  int rows() const;
  bool null(int row, int col) const;
  std::string_view value(int row, int col) const;  // bytes (binary results) or text
  // A bigint column of a binary result (big-endian 8 bytes) or a text one.
  uint64_t u64(int row, int col) const;
  // The command tag ("COMMIT", "ROLLBACK", "INSERT 0 1", ...).
  std::string_view command() const;

 private:
  pg_result* r_;
  friend class PgConn;
};

class PgConn {
 public:
  // Connects with connect_timeout 5 s, application_name "callrec" and the session settings
  // `options` (a libpq options string, e.g. "-c lock_timeout=5000").
  static core::Result<std::unique_ptr<PgConn>> Connect(const std::string& url, const std::string& options);
  ~PgConn();
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Runs one statement (several without params: libpq's simple protocol). binary_result asks
  // for every column in binary.
  core::Result<PgRows> Run(const std::string& sql, const std::vector<PgParam>& params = {},
                           bool binary_result = false);
  // Prepares `sql` as the named statement `name` on this session, once per connection (a
  // reconnect forgets them and the next call prepares again). Then RunPrepared, or a PgCall
  // naming it in RunPipeline, skips parsing and planning it on every call.
  core::Status Prepare(const std::string& name, const std::string& sql);
  // Runs `calls` in ONE round trip with parameters (libpq's pipeline mode: the extended protocol,
  // so binary parameters, and one Sync after the last). Every statement's result, in order; the
  // first error when one failed (PostgreSQL skips the statements after it up to the Sync, and an
  // open transaction is left aborted: Rollback()).
  core::Result<std::vector<PgRows>> RunPipeline(const std::vector<PgCall>& calls);
  core::Result<PgRows> RunPrepared(const std::string& name, const std::vector<PgParam>& params,
                                   bool binary_result = false);
  // Reconnects when the connection is gone; kUnavailable when that fails.
  core::Status EnsureConnected();
  // Best effort ROLLBACK after a failed statement inside a transaction.
  void Rollback();
  // The socket, for waiting on NOTIFY (replica tailing); -1 when not connected.
  int socket() const;
  // Reads pending input and returns the payloads of the notifications received (after LISTEN).
  core::Result<std::vector<std::string>> TakeNotifications();

  const std::string& masked_url() const { return masked_url_; }

 private:
  // The rows of a successful result (taking it), else Failure(r).
  core::Result<PgRows> Finish(pg_result* r);
  // The Status for a failed result (nullptr: the connection's own error), coded as above.
  core::Status Failure(pg_result* r);
  PgConn(pg_conn* pg, std::string masked_url) : pg_(pg), masked_url_(std::move(masked_url)) {}
  pg_conn* pg_;
  std::string masked_url_;
  std::set<std::string> prepared_;  // on the current connection
};

}  // namespace callrec::cluster
