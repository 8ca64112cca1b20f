// private_postgres.h — a PostgreSQL server of one test's own, for tests that stop and start the
// server itself (the shared one of ./scripts/test serves tests running in parallel).
//
//   auto pg = PrivatePostgres::Create();      // initdb in a temp dir, own port and socket dir
//   ASSERT_OK(pg);
//   ... (*pg)->url() ...                       // postgresql://callrec@127.0.0.1:<port>/callrec
//   ASSERT_OK((*pg)->Stop());                  // pg_ctl stop -m immediate: a server crash
//   ASSERT_OK((*pg)->Start());                 // again on the same port, after crash recovery
//
// The binaries are found as scripts/pg-test-server finds them (it does the work: `bash
// scripts/pg-test-server create|stop|start|destroy`). A server that cannot be created or started
// is an error, and the test FAILS (never skips). The destructor stops it and removes its directory.
//
// Thread-safety: one test thread uses an instance.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"

namespace callrec::testing {

class PrivatePostgres {
 public:
  static core::Result<std::unique_ptr<PrivatePostgres>> Create();
  ~PrivatePostgres();
  PrivatePostgres(const PrivatePostgres&) = delete;
  PrivatePostgres& operator=(const PrivatePostgres&) = delete;

  const std::string& url() const { return url_; }
  // Stops the server the way a crash does: every session cut, no shutdown checkpoint.
  core::Status Stop();
  // Starts it again on the same port; returns once it accepts connections.
  core::Status Start();
  // The server's log (its last `n` bytes), for a failing test's output.
  std::string LogTail(size_t n) const;

 private:
  PrivatePostgres(std::string dir, std::string port);

  std::string dir_, port_, url_;
};

}  // namespace callrec::testing
