#include "ingest/connection_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace callrec::ingest {
namespace {

template <typename GetName>
void Address(int fd, GetName get_name, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (get_name(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  ip = text;
}

}  // namespace

int PollOne(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r >= 0 || errno != EINTR) return r;
  }
}

bool ConnectionStream::is_writable() const {
  return PollOne(fd_, POLLOUT, Millis(tuning_.write_timeout)) > 0;
}

ssize_t ConnectionStream::read(char* ptr, size_t size) {
  if (HasBufferedInput()) return TakeBuffered(ptr, size);
  // Whatever we owe the client (e.g. "100 Continue") must reach it before we wait on it.
  if (!out_.empty() && !Flush()) return -1;
  if (size >= in_.size()) return Receive(ptr, size);
  ssize_t n = Receive(in_.data(), in_.size());
  if (n <= 0) return n;
  in_pos_ = 0;
  in_end_ = size_t(n);
  return TakeBuffered(ptr, size);
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
  out_.append(ptr, size);
  if (out_.size() >= kFlushAtBytes && !Flush()) return -1;
  return ssize_t(size);
}

bool ConnectionStream::Flush() {
  size_t sent = 0;
  bool ok = true;
  while (sent < out_.size()) {
    ssize_t n = ::send(fd_, out_.data() + sent, out_.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += size_t(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
               PollOne(fd_, POLLOUT, Millis(tuning_.write_timeout)) > 0) {
      continue;
    } else {
      ok = false;
      break;
    }
  }
  out_.clear();
  if (out_.capacity() > kFlushAtBytes) std::string().swap(out_);
  return ok;
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  Address(fd_, ::getpeername, ip, port);
}

void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const {
  Address(fd_, ::getsockname, ip, port);
}

ssize_t ConnectionStream::TakeBuffered(char* ptr, size_t size) {
  size_t n = std::min(size, in_end_ - in_pos_);
  std::memcpy(ptr, in_.data() + in_pos_, n);
  in_pos_ += n;
  return ssize_t(n);
}

bool ConnectionStream::WaitReadable() const {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - SteadyNow());
  if (left.count() <= 0) {
    deadline_expired_ = read_failed_ = true;
    return false;
  }
  bool deadline_binds = left < tuning_.read_timeout;
  int r = PollOne(fd_, POLLIN, Millis(std::min(left, tuning_.read_timeout)));
  if (r == 0 && deadline_binds) deadline_expired_ = true;
  if (r <= 0) read_failed_ = true;
  return r > 0;
}

ssize_t ConnectionStream::Receive(char* ptr, size_t size) {
  for (;;) {
    if (!WaitReadable()) return -1;
    ssize_t n = ::recv(fd_, ptr, size, MSG_DONTWAIT);
    if (n >= 0) return n;
    if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      read_failed_ = true;
      return -1;
    }
  }
}

}  // namespace callrec::ingest
