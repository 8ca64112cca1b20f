// ingest_test_env.h — a running HttpService over a real store, for the ingest tests.
//
// A temp-dir EventStore (wrapped in FaultyStore so tests can make appends fail), a ManualClock
// (signature timestamps are judged against it), a fresh Telnyx key pair, the fake projector, and
// the service on 127.0.0.1 port 0. Log lines are captured instead of printed so tests can assert
// on them. Also: a raw TCP connection for clients that misbehave on purpose.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "core/event_store.h"
#include "core/log.h"
#include "core/metrics.h"
#include "fakes/fake_projection_progress.h"
#include "fakes/faulty_store.h"
#include "fakes/manual_clock.h"
#include "fakes/temp_dir.h"
#include "fakes/webhook_signer.h"
#include "ingest/http_service.h"
#include "matchers/status_matchers.h"

namespace callrec::testing {

// Collects log lines while alive (one capture at a time, tests run sequentially).
class LogCapture {
 public:
  LogCapture() { core::SetLogSinkForTest(&Sink); Lines().clear(); }
  ~LogCapture() { core::SetLogSinkForTest(nullptr); }
  static std::string All() {
    std::lock_guard lock(Mu());
    std::string out;
    for (auto& l : Lines()) out += l + "\n";
    return out;
  }

 private:
  static void Sink(std::string_view line) {
    std::lock_guard lock(Mu());
    Lines().emplace_back(line);
  }
  static std::mutex& Mu() { static std::mutex mu; return mu; }
  static std::vector<std::string>& Lines() { static std::vector<std::string> lines; return lines; }
};

inline std::string ReadSample(const std::string& name) {
  std::ifstream in(std::string(CALLREC_SOURCE_DIR) + "/data/webhooks/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The sample call.answered delivery with its data.id (and optionally event_type) replaced.
inline std::string WebhookBody(const std::string& id, const std::string& type = "call.answered") {
  std::string body = ReadSample("webhook.call.answered.json");
  auto replace = [&](const std::string& from, const std::string& to) {
    size_t at = body.find(from);
    if (at != std::string::npos) body.replace(at, from.size(), to);
  };
  replace("0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", id);
  replace("\"event_type\": \"call.answered\"", "\"event_type\": \"" + type + "\"");
  return body;
}

class IngestEnv {
 public:
  static constexpr const char* kToken = "s3cret-admin-token-for-tests";

  IngestEnv() {
    auto opened = core::EventStore::Open(dir.Sub("store"), clock);
    EXPECT_OK(opened);
    store = std::move(opened.value());
    faulty = std::make_unique<FaultyStore>(*store);
    progress = std::make_unique<FakeProjectionProgress>(*faulty);
    config.listen_port = 0;
    config.telnyx_public_key = signer.PublicKeyBase64();
    config.admin_token = kToken;
    config.projection_wait = std::chrono::milliseconds(200);
    config.random = [n = uint64_t(0)]() mutable { return 0x0123456789abcdefULL + n++; };
    config.tuning.worker_threads = 16;
  }
  ~IngestEnv() { Stop(); }

  void Start() {
    auto created = ingest::HttpService::Create(config, *faulty, clock, metrics, progress.get());
    ASSERT_OK(created);
    service = std::move(created.value());
    core::Status st = service->Start();
    ASSERT_OK(st);
  }
  void Stop() {
    if (service) service->Stop();
  }
  int port() const { return service->port(); }

  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", service->port());
    c.set_read_timeout(10, 0);
    c.set_write_timeout(10, 0);
    return c;
  }

  std::string NowSeconds() { return std::to_string(clock.WallMillis() / 1000); }

  httplib::Headers Signed(const std::string& body, const std::string& timestamp) const {
    return {{"telnyx-timestamp", timestamp}, {"telnyx-signature-ed25519", signer.Sign(timestamp, body)}};
  }

  httplib::Result PostWebhook(const std::string& body) {
    auto c = Client();
    return c.Post("/api/webhooks/telnyx/call-events", Signed(body, NowSeconds()), body,
                  "application/json");
  }

  httplib::Headers Admin() const { return {{"Authorization", std::string("Bearer ") + kToken}}; }

  std::vector<core::Event> Events() {
    std::vector<core::Event> out;
    EXPECT_TRUE(store->ForEachFrom(1, [&](const core::Event& e) {
      out.push_back(e);
      return true;
    }).ok());
    return out;
  }

  LogCapture logs;
  TempDir dir;
  ManualClock clock;
  std::unique_ptr<core::EventStore> store;
  std::unique_ptr<FaultyStore> faulty;
  core::Metrics metrics;
  WebhookSigner signer;
  std::unique_ptr<FakeProjectionProgress> progress;
  ingest::HttpServiceConfig config;
  std::unique_ptr<ingest::HttpService> service;
};

// A TCP connection driven byte by byte, for clients that misbehave on purpose.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawConnection() { ::close(fd_); }
  bool connected() const { return connected_; }

  bool Send(std::string_view data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == ssize_t(data.size());
  }
  // Reads until the peer closes or `timeout_ms` has passed in all. closed() tells which.
  std::string ReadUntilClosed(int timeout_ms) {
    std::string out;
    char buf[8192];
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, int(left.count())) <= 0) return out;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        return out;
      }
      out.append(buf, size_t(n));
    }
  }
  // Reads until `marker` has been seen (or the timeout / close).
  std::string ReadUntil(std::string_view marker, int timeout_ms) {
    std::string out;
    char buf[8192];
    while (out.find(marker) == std::string::npos) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) break;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      out.append(buf, size_t(n));
    }
    return out;
  }
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
};

}  // namespace callrec::testing
