// tuned_server.h — cpp-httplib's Server with callrec's connection handling.
//
// httplib::Server parses requests and routes them; TunedServer replaces how it serves one
// accepted connection (the library's virtual process_and_close_socket) and the task queue that
// runs connections, to get what the packaged 0.11.4 cannot be configured to do:
//   - responses are written with one send(2) (head and body coalesced, TCP_NODELAY);
//   - a whole request must arrive within ServerTuning::request_deadline;
//   - a bounded pool: worker_threads run connections, at most max_pending_connections wait, and
//     the rest are answered 503 and closed by the accept thread;
//   - BeginStop() stops accepting, wakes idle keep-alive connections so they close at once, and
//     lets requests already being read or handled finish (the listen thread returns after the
//     workers are joined);
//   - a handler may ask for the connection to be closed after its response
//     (CloseConnectionAfterResponse), e.g. when it answered without reading the body.
// All ServerTuning values are applied here and nowhere else.
//
// Lifecycle: construct, register routes (httplib API), Bind(), Listen() on a thread of the
// caller's, BeginStop() from any thread, then join that thread. A stopped server is not restarted.
//
// Thread-safety: route registration and Bind() before Listen(); BeginStop() from any thread;
// CloseConnectionAfterResponse() from a handler (it acts on the calling worker's connection).
#pragma once

#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "core/metrics.h"
#include "core/status.h"
#include "ingest/server_tuning.h"

namespace callrec::ingest {

class TunedServer final : public httplib::Server {
 public:
  // `metrics` may be null; when set, connection gauges and counters are registered in it.
  TunedServer(const ServerTuning& tuning, core::Metrics* metrics);
  ~TunedServer() override;

  TunedServer(const TunedServer&) = delete;
  TunedServer& operator=(const TunedServer&) = delete;

  // Binds host:port (port 0 picks a free one) and raises the listen backlog. Returns the port.
  // kFailedPrecondition when the address cannot be bound (in use, not permitted, bad host).
  core::Result<int> Bind(const std::string& host, int port);
  // Accepts and serves until BeginStop(); returns once every worker has finished.
  // Requires: Bind() succeeded.
  bool Listen();
  // Idempotent. See the file comment for what finishes and what is closed.
  void BeginStop();
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  // Marks the connection the calling handler serves to be closed once this response is sent,
  // and says so in the response (`Connection: close`). Outside a handler it does nothing.
  static void CloseConnectionAfterResponse(httplib::Response& res);

  const ServerTuning& tuning() const { return tuning_; }

 private:
  bool process_and_close_socket(socket_t sock) override;
  // Waits for the next request on an idle keep-alive connection: false on timeout or stop.
  bool WaitForRequest(int fd) const;
  void ShedConnection(int fd);
  void LingeringClose(int fd) const;

  const ServerTuning tuning_;
  int stop_fd_ = -1;     // eventfd, readable once BeginStop() ran: wakes idle connections
  int listen_fd_ = -1;   // the bound socket, for re-listening with a larger backlog
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> waiting_{0};  // accepted connections waiting for a worker

  core::Gauge* active_connections_ = nullptr;
  core::Gauge* waiting_connections_ = nullptr;
  core::Counter* shed_connections_ = nullptr;
  core::Counter* deadline_drops_ = nullptr;
};

}  // namespace callrec::ingest
