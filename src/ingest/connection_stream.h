// connection_stream.h — one accepted TCP connection as httplib reads and writes it (internal to
// TunedServer).
//
// Reads are buffered (httplib reads the request line and headers a byte at a time) and bounded
// by the per-read timeout and the current request's deadline; writes are collected and sent by
// Flush(), so a response's head and body leave in one send(2). Before blocking on a read, owed
// output is flushed (e.g. "100 Continue").
//
// Socket waits use the real monotonic clock: they bound what a peer may hold, which only makes
// sense in real time (poll(2) sleeps in real time anyway). Nothing recorded depends on it.
//
// Thread-safety: used by the one worker thread serving the connection.
#pragma once

#include <httplib.h>

#include <array>
#include <chrono>
#include <string>

#include "ingest/server_tuning.h"

namespace callrec::ingest {

using SteadyTime = std::chrono::steady_clock::time_point;

inline SteadyTime SteadyNow() { return std::chrono::steady_clock::now(); }
inline int Millis(std::chrono::milliseconds d) { return d.count() > 0 ? int(d.count()) : 0; }
// poll(2) on one fd, retried on EINTR. >0 ready, 0 timeout, <0 error.
int PollOne(int fd, short events, int timeout_ms);

class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int fd, const ServerTuning& tuning) : fd_(fd), tuning_(tuning) {}

  // Reads for the next request must complete before `deadline`.
  void ArmDeadline(SteadyTime deadline) { deadline_ = deadline; }
  bool deadline_expired() const { return deadline_expired_; }
  // A read timed out or failed: whatever httplib answered, the request stream is out of step
  // and the connection must close.
  bool read_failed() const { return read_failed_; }
  // Bytes of a pipelined next request already read from the socket.
  bool HasBufferedInput() const { return in_pos_ < in_end_; }
  // Sends everything written so far. False when the peer is gone or stalls past write_timeout.
  bool Flush();

  // httplib::Stream
  bool is_readable() const override { return HasBufferedInput() || WaitReadable(); }
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

 private:
  static constexpr size_t kFlushAtBytes = 64 << 10;

  ssize_t TakeBuffered(char* ptr, size_t size);
  // Waits for input within both the per-read timeout and the request deadline.
  bool WaitReadable() const;
  ssize_t Receive(char* ptr, size_t size);

  const int fd_;
  const ServerTuning& tuning_;
  SteadyTime deadline_ = SteadyTime::max();
  mutable bool deadline_expired_ = false;
  mutable bool read_failed_ = false;
  std::array<char, 16384> in_;
  size_t in_pos_ = 0;
  size_t in_end_ = 0;
  std::string out_;
};

}  // namespace callrec::ingest
