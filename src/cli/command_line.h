// command_line.h — what the two binaries, `callrec` and `telnyx-sim`, share of their command
// line: the exit codes and the CLI11 parse that answers --help, --version and usage errors.
//
// Exit codes (README "The command line"): 0 ok, 1 failure, 2 usage. A usage error is anything
// CLI11 refuses (unknown flag, bad value, failed validator); its message names the flag and is
// printed through core::MaskSecrets, so a password given in a URL never reaches the terminal.
//
// Thread-safety: call from main()'s thread, once per App.
#pragma once

#include <optional>

#include <CLI/CLI.hpp>

namespace callrec::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Parses argv into `app`. nullopt when the program should go on; otherwise the exit code: 0 after
// --help/--version, kExitUsage (after CLI11's message) for any parse or validation error.
std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv);

}  // namespace callrec::cli
