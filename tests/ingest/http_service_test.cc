// HttpService as an operator and a hostile network see it: health, metrics, configuration
// errors, keep-alive, slow clients, the connection cap and graceful stop.
#include "ingest/http_service.h"

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <thread>

#include "ingest_test_env.h"
#include "matchers/status_matchers.h"

namespace callrec::ingest {
namespace {

using testing::IngestEnv;
using testing::RawConnection;
using testing::WebhookBody;
using namespace std::chrono_literals;

// Polls `metrics` (real time, short) until `line` appears; for state reached on server threads.
bool WaitForMetric(core::Metrics& metrics, const std::string& line, std::chrono::milliseconds limit = 3s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (metrics.Render().find(line) != std::string::npos) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

std::string Get(int port, const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n\r\n";
}

TEST(HttpService, HealthReadinessAndMetrics) {
  IngestEnv env;
  std::atomic<bool> scheduler_running{false};
  env.config.ready = [&] { return scheduler_running.load(); };
  env.Start();
  auto client = env.Client();
  auto health = client.Get("/healthz");
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, R"({"status":"ok"})");
  auto not_ready = client.Get("/readyz");
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_NE(not_ready->body.find("not_ready"), std::string::npos);
  scheduler_running = true;
  EXPECT_EQ(client.Get("/readyz")->status, 200);

  EXPECT_EQ(client.Get("/api/intakes/some-intake-id", env.Admin())->status, 404);
  EXPECT_EQ(client.Get("/api/intakes/another-one", env.Admin())->status, 404);
  auto metrics = client.Get("/metrics");
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics->body.find(R"(callrec_http_requests_total{route="/api/intakes/{id}",status="404"} 2)"),
            std::string::npos) << metrics->body;
  EXPECT_EQ(metrics->body.find("some-intake-id"), std::string::npos) << "raw paths must not become labels";
  EXPECT_NE(metrics->body.find(R"(callrec_http_requests_total{route="/readyz",status="503"} 1)"), std::string::npos);
  EXPECT_NE(metrics->body.find("callrec_ingest_append_seconds_bucket"), std::string::npos);
}

TEST(HttpService, UnknownRoutesAnswerJson404) {
  IngestEnv env;
  env.Start();
  auto res = env.Client().Get("/nope");
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->body, R"({"error":"no route for GET /nope"})");
  EXPECT_TRUE(WaitForMetric(env.metrics, R"(callrec_http_requests_total{route="unmatched",status="404"} 1)"));
}

TEST(HttpService, ExtraGetRoutesAreCountedUnderTheirLabel) {
  IngestEnv env;
  IngestEnv* e = &env;
  ASSERT_NO_FATAL_FAILURE(env.Start());
  // AddGet must come before Start: build a second service to show the intended order.
  auto created = HttpService::Create(env.config, *env.faulty, env.clock, env.metrics, nullptr);
  ASSERT_OK(created);
  auto& service = *created;
  service->AddGet("/debug/echo/([^/]+)", "/debug/echo/{id}",
                  [](const httplib::Request& req, httplib::Response& res) {
                    res.set_content("{\"intake_id\":\"" + std::string(req.matches[1]) + "\"}", "application/json");
                  });
  ASSERT_OK(service->Start());
  httplib::Client client("127.0.0.1", service->port());
  auto res = client.Get("/debug/echo/abc");
  EXPECT_EQ(res->body, R"({"intake_id":"abc"})");
  EXPECT_NE(e->metrics.Render().find(R"(route="/debug/echo/{id}",status="200"} 1)"), std::string::npos);
  service->Stop();
}

TEST(HttpService, CreateRefusesBadConfiguration) {
  IngestEnv env;
  auto create = [&](HttpServiceConfig c) {
    return HttpService::Create(c, *env.store, env.clock, env.metrics, nullptr).status();
  };
  HttpServiceConfig no_key = env.config;
  no_key.telnyx_public_key.clear();
  core::Status st = create(no_key);
  EXPECT_EQ(st.code(), core::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("--telnyx-public-key"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("--insecure-skip-signature"), std::string::npos) << st.message();

  HttpServiceConfig bad_key = env.config;
  bad_key.telnyx_public_key = "bm90IGEga2V5";
  st = create(bad_key);
  EXPECT_EQ(st.code(), core::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("--telnyx-public-key"), std::string::npos) << st.message();

  HttpServiceConfig zero = env.config;
  zero.max_body_bytes = 0;
  EXPECT_EQ(create(zero).code(), core::StatusCode::kInvalidArgument);
  HttpServiceConfig port = env.config;
  port.listen_port = 70000;
  EXPECT_EQ(create(port).code(), core::StatusCode::kInvalidArgument);
}

TEST(HttpService, StartFailsClearlyWhenThePortIsTaken) {
  IngestEnv first;
  first.Start();
  IngestEnv second;
  second.config.listen_port = first.port();
  auto created = HttpService::Create(second.config, *second.store, second.clock, second.metrics, nullptr);
  ASSERT_OK(created);
  core::Status st = (*created)->Start();
  EXPECT_EQ(st.code(), core::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find(std::to_string(first.port())), std::string::npos) << st.message();
}

TEST(HttpService, KeepAliveConnectionServesManyRequestsIncludingPipelined) {
  IngestEnv env;
  env.Start();
  RawConnection raw(env.port());
  // The packaged library closes after 5 requests per connection; ours keeps going.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(raw.Send(Get(env.port(), "/healthz")));
    std::string answer = raw.ReadUntil(R"({"status":"ok"})", 2000);
    ASSERT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << "request " << i << ": " << answer;
    ASSERT_FALSE(raw.closed());
  }
  std::string ten;
  for (int i = 0; i < 10; ++i) ten += Get(env.port(), "/healthz");
  ASSERT_TRUE(raw.Send(ten));
  std::string answers;
  for (int i = 0; i < 10 && !raw.closed(); ++i) answers += raw.ReadUntil(R"({"status":"ok"})", 2000);
  size_t count = 0;
  for (size_t at = answers.find("HTTP/1.1 200"); at != std::string::npos; at = answers.find("HTTP/1.1 200", at + 1)) ++count;
  EXPECT_EQ(count, 10u);
}

TEST(HttpService, SlowClientsDoNotBlockOthersAndAreDroppedAtTheDeadline) {
  IngestEnv env;
  env.config.tuning.worker_threads = 4;
  env.config.tuning.request_deadline = 600ms;
  env.Start();
  RawConnection headers_half(env.port()), body_half(env.port()), trickle(env.port());
  ASSERT_TRUE(headers_half.Send("POST /api/webhooks/telnyx/call-events HTTP/1.1\r\nHost: x\r\nContent-"));
  ASSERT_TRUE(body_half.Send("POST /api/webhooks/telnyx/call-events HTTP/1.1\r\nHost: x\r\n"
                             "Content-Length: 1000\r\n\r\n{\"data\":"));
  std::atomic<bool> trickling{true};
  std::thread trickler([&] {
    // One byte every 50 ms: far inside the 5 s per-read timeout, so only the deadline stops it.
    std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(200, 'a');
    for (size_t i = 0; i < request.size() && trickling; ++i) {
      if (!trickle.Send(request.substr(i, 1))) break;
      std::this_thread::sleep_for(50ms);
    }
  });

  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    auto res = env.PostWebhook(WebhookBody("ev-slow-" + std::to_string(i)));
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s) << "others were held up by the slow clients";

  // All three started more than the 600 ms deadline ago; 1.5 s more is ample slack.
  for (RawConnection* c : {&headers_half, &body_half, &trickle}) {
    c->ReadUntilClosed(1500);
    EXPECT_TRUE(c->closed()) << "a slow client kept its connection past the request deadline";
  }
  trickling = false;
  trickler.join();
  EXPECT_TRUE(WaitForMetric(env.metrics, "callrec_http_request_deadline_exceeded_total 3"))
      << env.metrics.Render();
  EXPECT_EQ(env.store->LastSeq(), 20u);
}

TEST(HttpService, ConnectionsPastTheCapAreShedWith503) {
  IngestEnv env;
  env.config.tuning.worker_threads = 2;
  env.config.tuning.max_pending_connections = 1;
  env.Start();
  // Two idle connections occupy both workers; a third waits; a fourth is over the cap.
  // One at a time: under load (ASan, a busy CI machine) a worker may not have taken the first
  // connection off the wait list before the second arrives, which would shed the second.
  RawConnection idle1(env.port());
  ASSERT_TRUE(WaitForMetric(env.metrics, "callrec_http_connections_active 1")) << env.metrics.Render();
  RawConnection idle2(env.port());
  ASSERT_TRUE(WaitForMetric(env.metrics, "callrec_http_connections_active 2")) << env.metrics.Render();
  RawConnection waiting(env.port());
  ASSERT_TRUE(WaitForMetric(env.metrics, "callrec_http_connections_waiting 1")) << env.metrics.Render();
  RawConnection shed(env.port());
  std::string answer = shed.ReadUntilClosed(2000);
  EXPECT_EQ(answer.rfind("HTTP/1.1 503", 0), 0u) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos);
  EXPECT_NE(answer.find(R"({"error":"server busy: too many open connections"})"), std::string::npos);
  EXPECT_TRUE(shed.closed());
  EXPECT_TRUE(WaitForMetric(env.metrics, "callrec_http_connections_shed_total 1"));

  // A worker answering while others wait closes its keep-alive connection after the answer.
  ASSERT_TRUE(idle1.Send(Get(env.port(), "/healthz")));
  std::string first = idle1.ReadUntilClosed(2000);
  EXPECT_NE(first.find("Connection: close"), std::string::npos) << first;
  EXPECT_TRUE(idle1.closed());
  // That frees a worker for the waiting connection.
  ASSERT_TRUE(waiting.Send(Get(env.port(), "/healthz")));
  EXPECT_EQ(waiting.ReadUntil(R"({"status":"ok"})", 2000).rfind("HTTP/1.1 200", 0), 0u);
}

TEST(HttpService, StopLetsARequestInFlightFinishAndRefusesNewConnections) {
  IngestEnv env;
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  auto created = HttpService::Create(env.config, *env.faulty, env.clock, env.metrics, nullptr);
  ASSERT_OK(created);
  auto service = std::move(created.value());
  service->AddGet("/slow", "/slow", [&](const httplib::Request&, httplib::Response& res) {
    entered.set_value();
    released.wait();
    res.set_content("done", "text/plain");
  });
  ASSERT_OK(service->Start());
  int port = service->port();
  auto answer = std::async(std::launch::async, [port] {
    httplib::Client c("127.0.0.1", port);
    auto res = c.Get("/slow");
    return res ? res->status : -1;
  });
  entered.get_future().wait();
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    service->Stop();
    stopped = true;
  });
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(stopped) << "Stop() returned while a request was being handled";
  EXPECT_FALSE(RawConnection(port).connected()) << "a stopping server accepted a new connection";
  release.set_value();
  EXPECT_EQ(answer.get(), 200);
  stopper.join();
  EXPECT_TRUE(stopped);
}

TEST(HttpService, StopClosesIdleKeepAliveConnectionsAtOnce) {
  IngestEnv env;
  env.config.tuning.keep_alive_timeout = 60s;
  env.Start();
  RawConnection idle(env.port());
  ASSERT_TRUE(idle.Send(Get(env.port(), "/healthz")));
  ASSERT_EQ(idle.ReadUntil(R"({"status":"ok"})", 2000).rfind("HTTP/1.1 200", 0), 0u);
  auto start = std::chrono::steady_clock::now();
  env.service->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "Stop() waited for the idle timeout";
  idle.ReadUntilClosed(1000);
  EXPECT_TRUE(idle.closed());
}

TEST(HttpService, StopDuringLoadLosesNoAcknowledgedWebhook) {
  IngestEnv env;
  env.Start();
  std::mutex mu;
  std::map<std::string, uint64_t> acked;  // data.id -> seq answered with 200
  std::atomic<int> acked_count{0};
  std::atomic<bool> server_gone{false};
  std::vector<std::thread> clients;
  std::string ts = env.NowSeconds();
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", env.port());
      c.set_keep_alive(true);
      for (int i = 0; !server_gone; ++i) {
        std::string id = "ev-load-" + std::to_string(t) + "-" + std::to_string(i);
        std::string body = WebhookBody(id);
        auto res = c.Post("/api/webhooks/telnyx/call-events", env.Signed(body, ts), body, "application/json");
        if (!res) {
          // Refused or closed: the server is stopping. One retry tells us whether it is gone.
          auto again = c.Post("/api/webhooks/telnyx/call-events", env.Signed(body, ts), body, "application/json");
          if (!again) { server_gone = true; break; }
          res = std::move(again);
        }
        if (res->status != 200) continue;
        auto seq_at = res->body.find("\"seq\":");
        std::lock_guard lock(mu);
        acked[id] = std::stoull(res->body.substr(seq_at + 6));
        acked_count.fetch_add(1);
      }
    });
  }
  while (acked_count.load() < 150) std::this_thread::sleep_for(1ms);
  env.service->Stop();
  server_gone = true;
  for (auto& c : clients) c.join();

  ASSERT_GE(acked.size(), 150u);
  for (const auto& [id, seq] : acked) {
    auto event = env.store->Read(seq);
    ASSERT_OK(event) << "acknowledged seq " << seq << " is missing";
    EXPECT_EQ(event->idempotency_key, "telnyx:" + id);
  }
  EXPECT_EQ(env.store->LastSeq(), acked.size()) << "every stored delivery was acknowledged, and no more";
}

}  // namespace
}  // namespace callrec::ingest
