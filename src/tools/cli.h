// cli.h — the `callrec` command line (CLI11), one file per group of subcommands.
//
// Each Add*Commands registers its subcommands on `app` and, when one of them is chosen on the
// command line, sets `action` to the function that runs it. RunCallrec parses, then runs the
// action. Exit codes (cli/command_line.h): 0 ok, 1 failure, 2 usage.
//
// Every subcommand that touches the store takes --data-dir (env CALLREC_DATA_DIR). Output that is
// data goes to stdout; diagnostics go to stderr.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/command_line.h"

namespace callrec::tools {

// The exit codes and the parse are shared with telnyx-sim (cli/command_line.h).
using cli::kExitFailure;
using cli::kExitOk;
using cli::kExitUsage;
using cli::ParseCommandLine;

using Action = std::function<int()>;

// Registers --data-dir on `cmd`, bound to `target` (flag, then CALLREC_DATA_DIR, then data/store).
void AddDataDirOption(CLI::App& cmd, std::string& target);

// Registers --event-log on `cmd` (env CALLREC_EVENT_LOG; unset: the embedded store). A value
// must be a postgres:// or postgresql:// URL (cluster mode, README "Running a cluster"), else a
// usage error.
CLI::Option* AddEventLogOption(CLI::App& cmd, std::string& target, const std::string& description = "");

// CLI11 check for an intake id argument (core/intake_id.h): a bad id is a usage error (exit 2)
// before anything is opened or sent, not a malformed URL or a confusing "not found".
// IntakeIdValidator: an existing intake (ids of old stores, up to 64 characters, included);
// NewIntakeIdValidator: the id of a new intake (1-40, Telnyx's custom_file_name limit).
const CLI::Validator& IntakeIdValidator();
const CLI::Validator& NewIntakeIdValidator();

// Prints "callrec: <message>" to stderr and returns kExitFailure.
int Fail(const std::string& message);

void AddStoreCommands(CLI::App& app, Action& action);   // events, check
void AddServeCommand(CLI::App& app, Action& action);    // serve
void AddAuditCommands(CLI::App& app, Action& action);   // timeline, show, intakes
void AddReplayCommand(CLI::App& app, Action& action);   // replay
void AddIntakeCommand(CLI::App& app, Action& action);   // intake create
void AddPgSyncCommand(CLI::App& app, Action& action);   // pg-sync
void AddClusterCommands(CLI::App& app, Action& action); // migrate-log

// `callrec check --event-log URL`: the shared log, then its agreement with the store in
// `data_dir` when there is one (cmd_cluster.cc).
int RunClusterCheck(const std::string& data_dir, const std::string& event_log);

int RunCallrec(int argc, char** argv);

}  // namespace callrec::tools
