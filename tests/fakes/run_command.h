// run_command.h — runs one of our binaries as a child process and captures what it printed.
//
//   CommandResult r = RunCommand({BinaryPath("callrec"), "events", "--data-dir", dir});
//   EXPECT_EQ(r.exit_code, 0);
#pragma once

#include <string>
#include <vector>

namespace callrec::testing {

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal or could not start
  std::string out;
  std::string err;
};

// Absolute path of a binary built next to the tests (build/callrec, build/telnyx-sim).
std::string BinaryPath(const std::string& name);

// Runs argv[0] with argv, extra environment entries "K=V" added, stdin closed.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& extra_env = {});

// `callrec <args...>` (the binary built next to the tests), as an operator runs it.
CommandResult RunCallrec(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {});

}  // namespace callrec::testing
