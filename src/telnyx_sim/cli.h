// cli.h — the `telnyx-sim` command line (serve, call, keygen, public-key).
//
// Lives in the telnyx_sim library so the binary's main() is one line. Exit codes (shared with
// callrec, cli/command_line.h): 0 ok, 1 failure, 2 usage (bad flag or value, with a message naming
// the flag). Data goes to stdout (the ids of a placed call, a public key); logs go to stderr as
// JSON lines.
//
// Thread-safety: call once, from main().
#pragma once

namespace callrec::telnyx_sim {

int TelnyxSimMain(int argc, char** argv);

}  // namespace callrec::telnyx_sim
