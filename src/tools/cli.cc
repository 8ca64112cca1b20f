#include "tools/cli.h"

#include <iostream>

#include "core/intake_id.h"
#include "core/mask.h"

namespace callrec::tools {

void AddDataDirOption(CLI::App& cmd, std::string& target) {
  target = "data/store";
  cmd.add_option("--data-dir", target, "The RocksDB store directory")
      ->envname("CALLREC_DATA_DIR")
      ->capture_default_str();
}

CLI::Option* AddEventLogOption(CLI::App& cmd, std::string& target, const std::string& description) {
  return cmd.add_option("--event-log", target,
                 description.empty() ? "Cluster mode: the shared log, postgres://... (--data-dir is then this machine's "
                                       "replica of it, brought up to date first); unset: the embedded store"
                                     : description)
      ->envname("CALLREC_EVENT_LOG")
      ->check(CLI::Validator(
          [](std::string& url) {
            bool pg = url.empty() || url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0;
            return pg ? std::string() : std::string("expected a postgres:// URL (unset: the embedded store)");
          },
          "URL"));
}

const CLI::Validator& IntakeIdValidator() {
  static const CLI::Validator validator(
      [](std::string& id) {
        return core::IsStoredIntakeId(id) ? std::string() : std::string(core::IntakeIdRule());
      },
      "INTAKE_ID");
  return validator;
}

const CLI::Validator& NewIntakeIdValidator() {
  static const CLI::Validator validator(
      [](std::string& id) {
        return core::IsValidIntakeId(id) ? std::string() : std::string(core::IntakeIdRule());
      },
      "INTAKE_ID");
  return validator;
}

int Fail(const std::string& message) {
  std::cerr << "callrec: " << core::MaskSecrets(message) << "\n";
  return kExitFailure;
}

int RunCallrec(int argc, char** argv) {
  CLI::App app{
      "callrec — makes sure every patient intake call gets its audio recording.\n"
      "Receives Telnyx call webhooks, starts recordings, finds each call's recording through the\n"
      "Telnyx API (verified to belong to the call) and attaches it to its intake. Everything is\n"
      "an event in an embedded RocksDB log; state is derived from it and can be replayed.",
      "callrec"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("callrec ") + CALLREC_VERSION);
  app.footer(
      "Start with `./scripts/run` (a demo against the bundled Telnyx simulator) and\n"
      "`callrec timeline <intake-id>` to read what happened to a call.");
  Action action;
  AddServeCommand(app, action);
  AddIntakeCommand(app, action);
  AddAuditCommands(app, action);
  AddStoreCommands(app, action);
  AddReplayCommand(app, action);
  AddPgSyncCommand(app, action);
  AddClusterCommands(app, action);
  if (auto exit_code = ParseCommandLine(app, argc, argv)) return *exit_code;
  if (!action) return Fail("no command chosen (see --help)");
  return action();
}

}  // namespace callrec::tools
