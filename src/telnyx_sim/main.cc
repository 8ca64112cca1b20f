// telnyx-sim — the local Telnyx + Supabase Storage simulator; see src/tools/sim_cli.h and
// docs/telnyx-sim.md.
#include "tools/sim_cli.h"

int main(int argc, char** argv) { return callrec::tools::TelnyxSimMain(argc, argv); }
