// The webhook route through a real server on loopback and a real store.
#include "ingest/webhook_route.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "ingest_test_env.h"

namespace callrec::ingest {
namespace {

using testing::IngestEnv;
using testing::RawConnection;
using testing::WebhookBody;
using namespace std::chrono_literals;

constexpr char kPath[] = "/api/webhooks/telnyx/call-events";

std::string ErrorOf(const std::string& json) {
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, json);
  if (!root.ok()) return "<not json: " + json + ">";
  auto e = core::JsonString(*root, "/error");
  return e ? std::string(*e) : "<no error field: " + json + ">";
}

uint64_t CounterValue(core::Metrics& m, const std::string& series) {
  std::string text = m.Render();
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stoull(text.substr(at + series.size() + 2));
}

TEST(WebhookRoute, StoresTheRawBodyBeforeAnswering) {
  IngestEnv env;
  env.Start();
  std::string body = WebhookBody("ev-1");
  auto res = env.PostWebhook(body);
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"received":true,"seq":1,"duplicate":false})");
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");

  auto events = env.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "telnyx.webhook");
  EXPECT_EQ(events[0].source, "telnyx.webhook");
  EXPECT_EQ(events[0].intake_id, "");
  EXPECT_EQ(events[0].payload, body) << "payload must be byte-for-byte";
  EXPECT_EQ(events[0].idempotency_key, "telnyx:ev-1");
  EXPECT_EQ(events[0].recorded_at_ms, env.clock.WallMillis());
}

TEST(WebhookRoute, RedeliveryAnswersTheFirstSeqAndStoresNothing) {
  IngestEnv env;
  env.Start();
  ASSERT_EQ(env.PostWebhook(WebhookBody("other"))->status, 200);
  std::string body = WebhookBody("ev-dup");
  auto first = env.PostWebhook(body);
  ASSERT_EQ(first->body, R"({"received":true,"seq":2,"duplicate":false})");
  // Telnyx redelivers with meta.attempt increased: a different body, the same data.id.
  std::string again = body;
  again.replace(again.find("\"attempt\": 1"), 12, "\"attempt\": 2");
  env.clock.Advance(30s);
  auto second = env.PostWebhook(again);
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(second->body, R"({"received":true,"seq":2,"duplicate":true})");
  EXPECT_EQ(env.store->LastSeq(), 2u);
  EXPECT_EQ(env.store->Read(2)->payload, body) << "the first copy is what stays";
  EXPECT_EQ(CounterValue(env.metrics, "callrec_webhook_duplicates_total"), 1u);
}

TEST(WebhookRoute, UnknownEventTypesAreStoredAndAcknowledged) {
  IngestEnv env;
  env.Start();
  auto res = env.PostWebhook(WebhookBody("ev-x", "call.something_new"));
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(env.store->LastSeq(), 1u);
  for (const char* sample : {"webhook.call.hangup.json", "webhook.call.recording.saved.json",
                             "webhook.call.initiated.json", "webhook.call.recording.error.json"}) {
    EXPECT_EQ(env.PostWebhook(testing::ReadSample(sample))->status, 200) << sample;
  }
  EXPECT_EQ(env.store->LastSeq(), 5u);
}

TEST(WebhookRoute, SignatureFailuresAre401AndStoreNothing) {
  IngestEnv env;
  env.Start();
  auto client = env.Client();
  std::string body = WebhookBody("ev-sig");
  std::string now = env.NowSeconds();
  testing::WebhookSigner attacker;
  struct Case {
    const char* name;
    httplib::Headers headers;
    std::string body;
    const char* reason;
  };
  std::string old_ts = std::to_string(env.clock.WallMillis() / 1000 - 301);
  std::string future_ts = std::to_string(env.clock.WallMillis() / 1000 + 301);
  std::string tampered = body;
  tampered.replace(tampered.find("+15550123456"), 12, "+15550999999");
  std::vector<Case> cases = {
      {"tampered body", env.Signed(body, now), tampered, "mismatch"},
      {"wrong key", {{"telnyx-timestamp", now}, {"telnyx-signature-ed25519", attacker.Sign(now, body)}},
       body, "mismatch"},
      {"stale timestamp", env.Signed(body, old_ts), body, "timestamp_too_old"},
      {"future timestamp", env.Signed(body, future_ts), body, "timestamp_in_future"},
      {"no signature", {{"telnyx-timestamp", now}}, body, "missing_header"},
      {"no timestamp", {{"telnyx-signature-ed25519", env.signer.Sign(now, body)}}, body, "missing_header"},
      {"no headers", {}, body, "missing_header"},
      {"garbage signature", {{"telnyx-timestamp", now}, {"telnyx-signature-ed25519", "%%%"}}, body,
       "malformed_signature"},
  };
  for (const Case& c : cases) {
    auto res = client.Post(kPath, c.headers, c.body, "application/json");
    ASSERT_TRUE(res) << c.name;
    EXPECT_EQ(res->status, 401) << c.name;
    EXPECT_FALSE(ErrorOf(res->body).empty()) << c.name << ": " << res->body;
  }
  EXPECT_EQ(env.store->LastSeq(), 0u) << "a rejected delivery must not be stored";
  std::string metrics = env.metrics.Render();
  EXPECT_NE(metrics.find(R"(callrec_webhook_signature_failures_total{reason="mismatch"} 2)"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(R"(callrec_webhook_signature_failures_total{reason="missing_header"} 3)"), std::string::npos);
  EXPECT_NE(metrics.find(R"(callrec_webhook_signature_failures_total{reason="timestamp_too_old"} 1)"), std::string::npos);
  EXPECT_NE(metrics.find(R"(callrec_http_requests_total{route="/api/webhooks/telnyx/call-events",status="401"} 8)"), std::string::npos);
}

TEST(WebhookRoute, BodiesWithoutIdOrTypeAre400) {
  IngestEnv env;
  env.Start();
  auto client = env.Client();
  for (std::string body : {std::string("not json at all"), std::string(R"({"data":{"event_type":"call.answered"}})"),
                           std::string(R"({"data":{"id":"x"}})"), std::string(R"({"data":{"id":"","event_type":"x"}})"),
                           std::string(R"({"data":{"id":7,"event_type":"x"}})"), std::string("[]"), std::string(""),
                           R"({"data":{"id":")" + std::string(300, 'a') + R"(","event_type":"x"}})"}) {
    auto res = client.Post(kPath, env.Signed(body, env.NowSeconds()), body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << body;
    EXPECT_NE(ErrorOf(res->body).find(' '), std::string::npos) << res->body;
  }
  EXPECT_EQ(env.store->LastSeq(), 0u);
}

TEST(WebhookRoute, OversizedBodyIsRefusedByContentLengthBeforeItIsSent) {
  IngestEnv env;
  env.config.max_body_bytes = 4096;
  env.Start();
  // Announce 5 MB and send none of it: the answer must come anyway, so the body was never awaited.
  RawConnection raw(env.port());
  ASSERT_TRUE(raw.Send("POST /api/webhooks/telnyx/call-events HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n"));
  std::string answer = raw.ReadUntil("}", 3000);
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  EXPECT_NE(answer.find(R"({"error":"body exceeds 4096 bytes"})"), std::string::npos) << answer;
  raw.ReadUntilClosed(3000);
  EXPECT_TRUE(raw.closed()) << "the unread body must not be parsed as the next request";

  // An ordinary client that sends the whole oversized body still reads the 413.
  std::string big(8192, ' ');
  big.replace(0, 2, "{}");
  auto res = env.Client().Post(kPath, env.Signed(big, env.NowSeconds()), big, "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(ErrorOf(res->body), "body exceeds 4096 bytes");
  // The exact limit is accepted (the signature is checked next, and holds).
  std::string exact = WebhookBody("ev-exact");
  exact.append(4096 - exact.size(), ' ');
  EXPECT_EQ(env.PostWebhook(exact)->status, 200);
  EXPECT_EQ(env.store->LastSeq(), 1u);
}

TEST(WebhookRoute, OversizedChunkedBodyIsCutOffAt413) {
  IngestEnv env;
  env.config.max_body_bytes = 4096;
  env.Start();
  RawConnection raw(env.port());
  std::string chunk(3000, 'a');
  char size_line[16];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  ASSERT_TRUE(raw.Send("POST /api/webhooks/telnyx/call-events HTTP/1.1\r\nHost: x\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n"));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(raw.Send(size_line + chunk + "\r\n"));
  std::string answer = raw.ReadUntil("}", 3000);
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
  EXPECT_EQ(env.store->LastSeq(), 0u);
}

TEST(WebhookRoute, FailingStoreAnswers503SoTelnyxRetries) {
  IngestEnv env;
  env.Start();
  env.faulty->set_fail_appends(true);
  std::string body = WebhookBody("ev-503");
  auto res = env.PostWebhook(body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(ErrorOf(res->body), "event store unavailable; retry later");
  EXPECT_EQ(env.store->LastSeq(), 0u);
  // Telnyx's retry after the disk recovers is stored as the first copy.
  env.faulty->set_fail_appends(false);
  auto retry = env.PostWebhook(body);
  EXPECT_EQ(retry->body, R"({"received":true,"seq":1,"duplicate":false})");
}

TEST(WebhookRoute, EightSimultaneousDeliveriesOfOneEventStoreItOnce) {
  IngestEnv env;
  env.Start();
  std::string body = WebhookBody("ev-race");
  std::string ts = env.NowSeconds();
  httplib::Headers headers = env.Signed(body, ts);
  std::vector<std::string> answers(8);
  std::vector<int> statuses(8);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto client = env.Client();
      ready.fetch_add(1);
      while (ready.load() < 8) std::this_thread::yield();
      auto res = client.Post(kPath, headers, body, "application/json");
      statuses[t] = res ? res->status : -1;
      answers[t] = res ? res->body : httplib::to_string(res.error());
    });
  }
  for (auto& t : threads) t.join();
  int fresh = 0;
  for (int t = 0; t < 8; ++t) {
    EXPECT_EQ(statuses[t], 200) << answers[t];
    EXPECT_NE(answers[t].find(R"("seq":1,)"), std::string::npos) << answers[t];
    if (answers[t].find(R"("duplicate":false)") != std::string::npos) ++fresh;
  }
  EXPECT_EQ(fresh, 1) << "exactly one delivery is the first copy";
  EXPECT_EQ(env.store->LastSeq(), 1u);
}

TEST(WebhookRoute, InsecureModeAcceptsUnsignedAndSaysSoInMetrics) {
  IngestEnv env;
  env.config.telnyx_public_key.clear();
  env.config.insecure_skip_signature = true;
  env.Start();
  std::string body = WebhookBody("ev-unsigned");
  auto res = env.Client().Post(kPath, body, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  std::string metrics = env.metrics.Render();
  EXPECT_NE(metrics.find("callrec_signature_verification_disabled 1"), std::string::npos);
  EXPECT_NE(metrics.find("callrec_webhook_unverified_total 1"), std::string::npos);
  EXPECT_NE(testing::LogCapture::All().find("webhook.signature_verification_disabled"), std::string::npos);
}

TEST(WebhookRoute, PemPublicKeyWorksLikeTheBase64One) {
  IngestEnv env;
  env.config.telnyx_public_key = env.signer.PublicKeyPem();
  env.Start();
  EXPECT_EQ(env.PostWebhook(WebhookBody("ev-pem"))->status, 200);
  EXPECT_NE(env.metrics.Render().find("callrec_signature_verification_disabled 0"), std::string::npos);
}

TEST(WebhookRoute, RejectionsAreLoggedWithReasonsAndAcceptancesWithSeq) {
  IngestEnv env;
  env.Start();
  ASSERT_EQ(env.PostWebhook(WebhookBody("ev-log"))->status, 200);
  auto bad = env.Client().Post(kPath, WebhookBody("ev-log2"), "application/json");
  ASSERT_EQ(bad->status, 401);
  std::string logs = testing::LogCapture::All();
  EXPECT_NE(logs.find(R"("msg":"webhook.stored","seq":1,"event_type":"call.answered","event_id":"ev-log")"),
            std::string::npos) << logs;
  EXPECT_NE(logs.find(R"("msg":"webhook.rejected","status":401,"reason":"missing_header")"), std::string::npos)
      << logs;
}

}  // namespace
}  // namespace callrec::ingest
