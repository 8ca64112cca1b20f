#include "fakes/test_postgres.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <random>

namespace callrec::testing {

core::Result<std::string> QueryOne(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string err = PQerrorMessage(c);
    PQfinish(c);
    return core::Status::Unavailable(err);
  }
  PGresult* r = PQexec(c, sql.c_str());
  auto st = PQresultStatus(r);
  std::string out;
  core::Status status;
  if (st == PGRES_TUPLES_OK) {
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) out = PQgetvalue(r, 0, 0);
  } else if (st != PGRES_COMMAND_OK) {
    status = core::Status::Internal(PQresultErrorMessage(r));
  }
  PQclear(r);
  PQfinish(c);
  if (!status.ok()) return status;
  return out;
}

core::Result<std::string> CreateTestDatabase() {
  const char* base = std::getenv("CALLREC_TEST_POSTGRES_URL");
  if (base == nullptr || *base == '\0')
    return core::Status::FailedPrecondition(
        "CALLREC_TEST_POSTGRES_URL is not set: run the tests through ./scripts/test, which starts "
        "a private PostgreSQL");
  std::string url = base;
  std::string name = "callrec_t_" + std::to_string(std::random_device{}() % 100000000);
  CALLREC_RETURN_IF_ERROR(QueryOne(url, "CREATE DATABASE " + name).status());
  size_t slash = url.rfind('/');
  return url.substr(0, slash + 1) + name;
}

}  // namespace callrec::testing
