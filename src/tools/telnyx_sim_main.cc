// telnyx-sim — placeholder entry point until the simulator lands.
int main() { return 0; }
