#include "ingest/tuned_server.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>  // std::condition_variable_any
#include <cstring>
#include <deque>
#include <thread>
#include <vector>

#include "core/log.h"
#include "core/thread_annotations.h"
#include "ingest/connection_stream.h"

namespace callrec::ingest {
namespace {

// Per worker thread: the connection it serves, so handlers can ask for it to be closed.
struct ConnectionState {
  bool close_after_response = false;
};
thread_local ConnectionState* t_connection = nullptr;
// Set while the accept thread runs a connection it has no room for: serve nothing, answer 503.
thread_local bool t_shedding = false;

// A fixed pool of workers with a bounded wait list. httplib hands every accepted connection to
// enqueue(); when the wait list is full the connection is run at once on the accept thread with
// t_shedding set, which makes TunedServer answer 503 and close it without reading anything.
class WorkerPool final : public httplib::TaskQueue {
 public:
  WorkerPool(size_t threads, size_t max_pending, std::atomic<size_t>& waiting,
             core::Gauge* waiting_gauge)
      : max_pending_(max_pending), waiting_(waiting), waiting_gauge_(waiting_gauge) {
    threads_.reserve(threads);
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
  }

  void enqueue(std::function<void()> fn) override {
    {
      core::MutexLock lock(mu_);
      // Idle workers are about to take queued jobs: only the rest count against the cap.
      if (jobs_.size() < max_pending_ + idle_ && !shutdown_) {
        jobs_.push_back(std::move(fn));
        SetWaiting();
        cv_.notify_one();
        return;
      }
    }
    t_shedding = true;
    fn();
    t_shedding = false;
  }

  // Runs what is queued (connections left waiting see the server stopped and just close), then
  // joins the workers, which finish the requests they are serving.
  void shutdown() override {
    {
      core::MutexLock lock(mu_);
      shutdown_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> fn;
      {
        core::MutexLock lock(mu_);
        ++idle_;
        SetWaiting();
        cv_.wait(lock, [&]() REQUIRES(mu_) { return !jobs_.empty() || shutdown_; });
        --idle_;
        if (jobs_.empty()) return;  // shutdown_ and nothing left
        fn = std::move(jobs_.front());
        jobs_.pop_front();
        SetWaiting();
      }
      fn();
    }
  }

  // Connections no idle worker is about to take.
  void SetWaiting() REQUIRES(mu_) {
    size_t n = jobs_.size() > idle_ ? jobs_.size() - idle_ : 0;
    waiting_.store(n, std::memory_order_relaxed);
    if (waiting_gauge_ != nullptr) waiting_gauge_->Set(int64_t(n));
  }

  const size_t max_pending_;
  std::atomic<size_t>& waiting_;
  core::Gauge* const waiting_gauge_;
  core::Mutex mu_;
  std::condition_variable_any cv_;
  std::deque<std::function<void()>> jobs_ GUARDED_BY(mu_);
  bool shutdown_ GUARDED_BY(mu_) = false;
  size_t idle_ GUARDED_BY(mu_) = 0;  // workers waiting for a job
  std::vector<std::thread> threads_;
};

// The whole answer to a shed connection, built once.
const std::string& ShedResponse() {
  static const std::string response = [] {
    std::string body = "{\"error\":\"server busy: too many open connections\"}";
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
           "Content-Length: " + std::to_string(body.size()) +
           "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body;
  }();
  return response;
}

}  // namespace

TunedServer::TunedServer(const ServerTuning& tuning, core::Metrics* metrics) : tuning_(tuning) {
  set_tcp_nodelay(tuning_.tcp_nodelay);
  set_keep_alive_max_count(tuning_.keep_alive_max_count);
  set_keep_alive_timeout(std::max<time_t>(1, tuning_.keep_alive_timeout.count() / 1000));
  // The library puts these on accepted sockets as SO_RCVTIMEO/SO_SNDTIMEO: a backstop under
  // ConnectionStream's own poll()s.
  set_read_timeout(tuning_.read_timeout);
  set_write_timeout(tuning_.write_timeout);
  new_task_queue = [this] {
    return new WorkerPool(tuning_.worker_threads, tuning_.max_pending_connections, waiting_,
                          waiting_connections_);
  };
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (metrics != nullptr) {
    active_connections_ = metrics->GetGauge("callrec_http_connections_active",
                                            "Connections being served by a worker");
    waiting_connections_ = metrics->GetGauge("callrec_http_connections_waiting",
                                             "Accepted connections waiting for a free worker");
    shed_connections_ = metrics->GetCounter(
        "callrec_http_connections_shed_total",
        "Connections answered 503 and closed because every worker was busy and the wait list full");
    deadline_drops_ = metrics->GetCounter(
        "callrec_http_request_deadline_exceeded_total",
        "Connections closed because a request did not arrive within the request deadline");
  }
}

TunedServer::~TunedServer() {
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

core::Result<int> TunedServer::Bind(const std::string& host, int port) {
  set_socket_options([this](socket_t fd) {
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);  // restart while TIME_WAITs linger
    listen_fd_ = fd;
  });
  errno = 0;
  int bound = port == 0 ? bind_to_any_port(host) : (bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    int err = errno;
    return core::Status::FailedPrecondition("cannot listen on " + host + ":" + std::to_string(port) +
                                            (err != 0 ? std::string(": ") + std::strerror(err) : ""));
  }
  // The packaged library listened with a backlog of 5; listening again only updates it.
  if (listen_fd_ >= 0 && ::listen(listen_fd_, tuning_.listen_backlog) != 0) {
    core::LogWarn("http.backlog_unchanged", {{"error", std::strerror(errno)}});
  }
  return bound;
}

bool TunedServer::Listen() { return listen_after_bind(); }

void TunedServer::BeginStop() {
  if (stopping_.exchange(true, std::memory_order_acq_rel)) return;
  uint64_t one = 1;
  if (stop_fd_ >= 0 && ::write(stop_fd_, &one, sizeof one) < 0) {
    core::LogWarn("http.stop_signal_failed", {{"error", std::strerror(errno)}});
  }
  stop();  // closes the listening socket; Listen() returns after the workers finish
}

void TunedServer::CloseConnectionAfterResponse(httplib::Response& res) {
  res.set_header("Connection", "close");
  if (t_connection != nullptr) t_connection->close_after_response = true;
}

bool TunedServer::WaitForRequest(int fd) const {
  pollfd p[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    int r = ::poll(p, 2, Millis(tuning_.keep_alive_timeout));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || (p[1].revents & POLLIN)) return false;
    return (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
  }
}

void TunedServer::ShedConnection(int fd) {
  // Never blocks the accept thread: the answer fits any fresh socket's send buffer.
  const std::string& answer = ShedResponse();
  ssize_t ignored = ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)ignored;
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
  if (shed_connections_ != nullptr) {
    shed_connections_->Inc();
    uint64_t n = shed_connections_->value();
    if (n == 1 || n % 1000 == 0) core::LogWarn("http.connection_shed", {{"shed_total", n}});
  }
}

void TunedServer::LingeringClose(int fd) const {
  ::shutdown(fd, SHUT_WR);  // the client sees the end of our answer
  char scratch[16384];
  size_t drained = 0;
  SteadyTime until = SteadyNow() + tuning_.linger_timeout;
  while (drained < tuning_.linger_max_bytes) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyNow());
    if (left.count() <= 0 || PollOne(fd, POLLIN, Millis(left)) <= 0) break;
    ssize_t n = ::recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break;
    if (n > 0) drained += size_t(n);
  }
}

bool TunedServer::process_and_close_socket(socket_t sock) {
  if (t_shedding) {
    ShedConnection(sock);
    return false;
  }
  if (active_connections_ != nullptr) active_connections_->Add(1);
  if (tuning_.tcp_nodelay) {
    int on = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  ConnectionStream strm(sock, tuning_);
  ConnectionState state;
  t_connection = &state;
  bool ret = false;
  for (size_t served = 0; served < tuning_.keep_alive_max_count; ++served) {
    if (stopping() || svr_sock_ == INVALID_SOCKET) break;
    if (!strm.HasBufferedInput() && !WaitForRequest(sock)) break;
    // Close after this response when it is the last allowed, or when connections are waiting
    // for a worker (so long-lived keep-alive clients cannot starve them).
    bool close_connection = served + 1 >= tuning_.keep_alive_max_count ||
                            waiting_.load(std::memory_order_relaxed) > 0;
    bool connection_closed = false;
    strm.ArmDeadline(SteadyNow() + tuning_.request_deadline);
    ret = process_request(strm, close_connection, connection_closed, nullptr);
    ret = strm.Flush() && ret;
    if (!ret || strm.read_failed() || connection_closed || close_connection ||
        state.close_after_response) {
      break;
    }
  }
  t_connection = nullptr;
  if (strm.deadline_expired() && deadline_drops_ != nullptr) deadline_drops_->Inc();
  if (state.close_after_response) LingeringClose(sock);
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  if (active_connections_ != nullptr) active_connections_->Add(-1);
  return ret;
}

}  // namespace callrec::ingest
