// telnyx-sim — the local Telnyx + Supabase Storage simulator; see src/telnyx_sim/cli.h and
// docs/telnyx-sim.md.
#include "telnyx_sim/cli.h"

int main(int argc, char** argv) { return callrec::telnyx_sim::TelnyxSimMain(argc, argv); }
