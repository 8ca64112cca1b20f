// callrec — placeholder entry point until the CLI lands (see src/tools/cli.h).
int main() { return 0; }
