#include "cli/command_line.h"

#include <iostream>
#include <sstream>

#include "core/mask.h"

namespace callrec::cli {

namespace {

// CLI11's answer (help, version, or the usage error, which echoes the offending arguments),
// printed through MaskSecrets: a URL with a password given on the command line or in the
// environment never reaches the terminal.
int ExitMasked(CLI::App& app, const CLI::Error& e) {
  std::ostringstream out, err;
  int code = app.exit(e, out, err);
  std::cout << core::MaskSecrets(out.str()) << std::flush;
  std::cerr << core::MaskSecrets(err.str()) << std::flush;
  return code;
}

}  // namespace

std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return ExitMasked(app, e);
  } catch (const CLI::CallForAllHelp& e) {
    return ExitMasked(app, e);
  } catch (const CLI::CallForVersion& e) {
    return ExitMasked(app, e);
  } catch (const CLI::ParseError& e) {
    ExitMasked(app, e);  // prints the message and a pointer to --help
    return kExitUsage;
  }
  return std::nullopt;
}

}  // namespace callrec::cli
