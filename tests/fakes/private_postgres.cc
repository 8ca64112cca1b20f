#include "fakes/private_postgres.h"

#include <sstream>

#include "fakes/run_command.h"

namespace callrec::testing {
namespace {

CommandResult Script(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/bin/bash", std::string(CALLREC_SOURCE_DIR) + "/scripts/pg-test-server"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

core::Status Failed(const std::string& what, const CommandResult& r) {
  return core::Status::Unavailable("scripts/pg-test-server " + what + " failed (exit " +
                                   std::to_string(r.exit_code) + "): " + r.err);
}

}  // namespace

core::Result<std::unique_ptr<PrivatePostgres>> PrivatePostgres::Create() {
  CommandResult r = Script({"create"});
  std::istringstream out(r.out);
  std::string dir, port;
  out >> dir >> port;
  if (r.exit_code != 0 || port.empty()) return Failed("create", r);
  return std::unique_ptr<PrivatePostgres>(new PrivatePostgres(dir, port));
}

PrivatePostgres::PrivatePostgres(std::string dir, std::string port)
    : dir_(std::move(dir)), port_(std::move(port)), url_("postgresql://callrec@127.0.0.1:" + port_ + "/callrec") {}

PrivatePostgres::~PrivatePostgres() { Script({"destroy", dir_}); }

core::Status PrivatePostgres::Stop() {
  CommandResult r = Script({"stop", dir_, "immediate"});
  return r.exit_code == 0 ? core::Status() : Failed("stop", r);
}

core::Status PrivatePostgres::Start() {
  CommandResult r = Script({"start", dir_, port_});
  return r.exit_code == 0 ? core::Status() : Failed("start", r);
}

std::string PrivatePostgres::LogTail(size_t n) const {
  CommandResult r = RunCommand({"/usr/bin/tail", "-c", std::to_string(n), dir_ + "/server.log"});
  return r.out;
}

}  // namespace callrec::testing
