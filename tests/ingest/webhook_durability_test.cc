// "200 means stored": a child process serves webhooks and is SIGKILLed the moment a client reads
// a 200; the reopened store holds every delivery that was answered 200.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <thread>

#include "ingest_test_env.h"
#include "matchers/status_matchers.h"

namespace callrec::ingest {
namespace {

using testing::TempDir;
using testing::WebhookBody;
using testing::WebhookSigner;

// Runs in the forked child: serve on port 0, report the port, wait to be killed.
[[noreturn]] void ServeUntilKilled(const std::string& dir, const std::string& public_key, int port_fd) {
  core::SetLogSinkForTest(+[](std::string_view) {});
  core::SystemClock clock;
  auto store = core::EventStore::Open(dir, clock);
  if (!store.ok()) ::_exit(3);
  core::Metrics metrics;
  HttpServiceConfig config;
  config.listen_port = 0;
  config.telnyx_public_key = public_key;
  auto service = HttpService::Create(config, **store, clock, metrics, nullptr);
  if (!service.ok() || !(*service)->Start().ok()) ::_exit(4);
  int port = (*service)->port();
  if (::write(port_fd, &port, sizeof port) != sizeof port) ::_exit(5);
  for (;;) ::pause();
}

TEST(WebhookDurability, SigkillRightAfterA200KeepsEveryAcknowledgedDelivery) {
  TempDir dir;
  WebhookSigner telnyx;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    ServeUntilKilled(dir.Sub("store"), telnyx.PublicKeyBase64(), fds[1]);
  }
  ::close(fds[1]);
  int port = 0;
  ASSERT_EQ(::read(fds[0], &port, sizeof port), ssize_t(sizeof port));
  ::close(fds[0]);

  // Four clients deliver concurrently; whoever reads the 40th 200 kills the server at once,
  // while the other three have requests in flight.
  std::mutex mu;
  std::map<std::string, uint64_t> acked;
  std::atomic<bool> killed{false};
  std::string ts = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch()).count());
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port);
      c.set_keep_alive(true);
      for (int i = 0; !killed; ++i) {
        std::string id = "ev-kill-" + std::to_string(t) + "-" + std::to_string(i);
        std::string body = WebhookBody(id);
        httplib::Headers h = {{"telnyx-timestamp", ts}, {"telnyx-signature-ed25519", telnyx.Sign(ts, body)}};
        auto res = c.Post("/api/webhooks/telnyx/call-events", h, body, "application/json");
        if (!res || res->status != 200) continue;
        std::lock_guard lock(mu);
        if (killed) return;
        acked[id] = std::stoull(res->body.substr(res->body.find("\"seq\":") + 6));
        if (acked.size() == 40) {
          ::kill(pid, SIGKILL);
          killed = true;
        }
      }
    });
  }
  for (auto& c : clients) c.join();
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child exited on its own: " << status;

  testing::ManualClock clock;
  auto store = core::EventStore::Open(dir.Sub("store"), clock);
  ASSERT_OK(store);
  ASSERT_EQ(acked.size(), 40u);
  for (const auto& [id, seq] : acked) {
    auto event = (*store)->Read(seq);
    ASSERT_OK(event) << "delivery " << id << " was answered 200 with seq " << seq << " but is gone";
    EXPECT_EQ(event->idempotency_key, "telnyx:" + id);
    EXPECT_EQ(event->payload, WebhookBody(id));
  }
  auto report = (*store)->Check();
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok()) << report->problem;
}

}  // namespace
}  // namespace callrec::ingest
