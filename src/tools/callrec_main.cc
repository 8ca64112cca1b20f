// callrec — every subcommand is in src/tools/cli.h.
#include "tools/cli.h"

int main(int argc, char** argv) { return callrec::tools::RunCallrec(argc, argv); }
