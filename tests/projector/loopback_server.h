// loopback_server.h — a real cpp-httplib server on 127.0.0.1, port 0, for transport tests.
//
// Register routes on `server` before Start(); the destructor stops the server and joins its
// thread. The listening socket exists once Start() returns (bind_to_any_port listens), so
// clients may connect at once.
//
// Thread-safety: handlers run on the server's worker threads; guard shared state in them.
#pragma once

#include <httplib.h>

#include <string>
#include <thread>

namespace callrec::testing {

class LoopbackServer {
 public:
  LoopbackServer() {
    server.set_keep_alive_max_count(1000);
    // Stop() waits for open keep-alive connections to time out: keep that short.
    server.set_keep_alive_timeout(1);
    // Without it every keep-alive response waits ~40 ms for a delayed ACK (measured-anchors.md).
    server.set_tcp_nodelay(true);
  }
  ~LoopbackServer() { Stop(); }

  // Returns the base URL, "http://127.0.0.1:PORT".
  std::string Start() {
    port_ = server.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server.listen_after_bind(); });
    // stop() is a no-op until the accept loop runs, so wait for it: Stop() must not hang.
    while (!server.is_running()) std::this_thread::yield();
    return base();
  }
  void Stop() {
    if (thread_.joinable()) {
      server.stop();
      thread_.join();
    }
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

  httplib::Server server;

 private:
  int port_ = 0;
  std::thread thread_;
};

}  // namespace callrec::testing
