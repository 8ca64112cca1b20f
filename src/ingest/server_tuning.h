// server_tuning.h — every knob of the HTTP server, in one place, with the reason for each value.
//
// Debian's cpp-httplib 0.11.4 at its defaults serves ~300 req/s on keep-alive load where the same
// library can serve ~55,000 (measured on this project's 2-core machines): Nagle's algorithm with
// delayed ACKs costs ~40 ms per response, connections close after 5 requests, 8 worker threads,
// and a listen backlog of 5 makes bursts of new connections wait 1 s for a SYN retry. The values
// below undo that and bound what slow or hostile clients can hold. TunedServer (tuned_server.h)
// applies them; nothing else in callrec sets server options.
//
// Thread-safety: a value type.
#pragma once

#include <chrono>
#include <cstddef>

namespace callrec::ingest {

struct ServerTuning {
  // Threads serving connections. cpp-httplib is thread-per-connection: a keep-alive connection
  // holds its worker until it closes, so this is also the number of clients served at once.
  // Telnyx opens a handful; 64 covers a load generator's 64 connections on 2 cores (threads
  // mostly wait on sockets and on the shared fsync). The library default is 8.
  size_t worker_threads = 64;

  // Accepted connections that may wait for a free worker. Past this the accept thread answers
  // 503 with `Connection: close` at once and closes, instead of queueing without bound: the
  // cap on concurrent connections is worker_threads + max_pending_connections. While anyone
  // waits, workers close their keep-alive connections after the current response, so waiting
  // clients are not starved by long-lived ones.
  size_t max_pending_connections = 256;

  // Requests served on one connection before it is closed (library default 5, which makes a
  // keep-alive client reconnect every 5 requests).
  size_t keep_alive_max_count = 100000;
  // How long an idle keep-alive connection may wait for its next request. Stop() wakes idle
  // connections at once, so this does not delay shutdown.
  std::chrono::milliseconds keep_alive_timeout{5000};

  // Longest wait for one read / one write on a socket before the connection is dropped.
  std::chrono::milliseconds read_timeout{5000};
  std::chrono::milliseconds write_timeout{5000};
  // A whole request (request line, headers and body) must arrive within this, however it
  // trickles: a per-read timeout alone lets a client sending one byte every few seconds hold a
  // worker for hours ("slowloris").
  std::chrono::milliseconds request_deadline{10000};

  // listen(2) backlog. The packaged library hard-codes 5; TunedServer calls listen() again on
  // the bound socket with this value (Linux updates the backlog of a listening socket).
  int listen_backlog = 1024;

  // TCP_NODELAY on every connection: responses leave in one segment without waiting for the
  // client's delayed ACK. The response head and body are also coalesced into one write.
  bool tcp_nodelay = true;

  // After answering a request whose body is not read (413 by Content-Length), the server stops
  // writing and discards what the client still sends, up to these limits, before closing; a
  // plain close with unread bytes would send a TCP reset that can destroy the 413 in flight.
  size_t linger_max_bytes = 4u << 20;
  std::chrono::milliseconds linger_timeout{1000};
};

}  // namespace callrec::ingest
