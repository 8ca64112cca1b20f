// End to end, webhooks as Telnyx really delivers them: twice, out of order, and in a burst while
// the service is being stopped. Real `callrec serve` against the in-process telnyx-sim.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "e2e/e2e_env.h"
#include "fakes/webhook_signer.h"

namespace callrec::testing::e2e {
namespace {

constexpr const char* kRecordStartRoute = "POST /v2/calls/{call_control_id}/actions/record_start";

size_t CountSummaries(const std::vector<TimelineEvent>& events, const std::string& prefix) {
  size_t n = 0;
  for (const auto& e : events) n += e.summary.rfind(prefix, 0) == 0;
  return n;
}

// Every delivery the sim made was answered 200 (so Telnyx would never retry or give up).
void ExpectEveryDeliveryAnswered200(E2eEnv& env) {
  ASSERT_TRUE(env.sim().WaitWebhooksIdle(kDeadline));
  std::vector<telnyx_sim::DeliveryRecord> deliveries = env.sim().WebhookDeliveries();
  ASSERT_FALSE(deliveries.empty());
  for (const auto& d : deliveries) EXPECT_EQ(d.status, 200) << d.event_type << " attempt " << d.attempt;
}

TEST(E2eWebhooks, ManualModeHangupDeliveredBeforeAnsweredFailsWithoutRecordStart) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe()) << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100041");
  env.PlaceCall("+15550100041", [](CallSpec& s) {
    s.duplicate_webhooks = true;
    s.hangup_before_answered = true;
  });

  Json intake = env.WaitForState(id, {"failed", "stored", "fetched"});
  EXPECT_EQ(intake.Str("/state"), "failed") << intake.text();
  EXPECT_EQ(intake.Str("/failure_reason"), "record_start_failed");
  EXPECT_NE(intake.Str("/last_error"), "<absent>") << "the intake says why";
  ExpectEveryDeliveryAnswered200(env);
  // The call was over before it could be recorded: no pointless command.
  EXPECT_EQ(env.sim().RequestCount(kRecordStartRoute), 0u);

  // Each event is in the timeline once, although delivered twice.
  std::vector<TimelineEvent> timeline = env.Timeline(id);
  EXPECT_EQ(CountSummaries(timeline, "call.answered"), 1u);
  EXPECT_EQ(CountSummaries(timeline, "call.hangup"), 1u);
  ApiAnswer metrics = env.Api("GET", "/metrics");
  EXPECT_GE(MetricValue(metrics.body, "callrec_webhook_duplicates_total"), 3) << metrics.body;
  EXPECT_EQ(env.StopServe(), 0);
}

TEST(E2eWebhooks, AutoModeHangupDeliveredBeforeAnsweredStillFetchesTheRecording) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe({"--record-mode", "auto"})) << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100042");
  CallIds call = env.PlaceCall("+15550100042", [](CallSpec& s) {
    s.auto_record = true;
    s.duplicate_webhooks = true;
    s.hangup_before_answered = true;
  });

  Json intake = env.WaitForState(id, {"fetched", "failed"});
  ASSERT_EQ(intake.Str("/state"), "fetched") << intake.text();
  std::vector<std::string> own = env.SimCall(call.call_control_id).Strings("/recording_ids");
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(intake.Str("/metadata/recording_id"), own[0]);
  EXPECT_EQ(intake.Str("/metadata/call_session_id"), call.call_session_id);
  EXPECT_EQ(env.sim().RequestCount(kRecordStartRoute), 0u) << "Telnyx records by itself in auto mode";
  ExpectEveryDeliveryAnswered200(env);

  std::vector<TimelineEvent> timeline = env.Timeline(id);
  EXPECT_EQ(CountSummaries(timeline, "call.answered"), 1u);
  EXPECT_EQ(CountSummaries(timeline, "call.hangup"), 1u);
  ApiAnswer metrics = env.Api("GET", "/metrics");
  EXPECT_GE(MetricValue(metrics.body, "callrec_webhook_duplicates_total"), 3) << metrics.body;
  EXPECT_EQ(env.StopServe(), 0);
}

std::string BurstBody(const std::string& event_id) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("data").BeginObject();
  w.Key("event_type").String("call.initiated");
  w.Key("id").String(event_id);
  w.Key("occurred_at").String("2026-11-20T15:04:12.411000Z");
  w.Key("payload").BeginObject();
  w.Key("call_control_id").String("v3:" + event_id);
  w.Key("direction").String("outgoing");
  w.Key("from").String("+15550100200");
  w.Key("to").String("+15550100099");
  w.EndObject();
  w.Key("record_type").String("event");
  w.EndObject();
  w.Key("meta").BeginObject();
  w.Key("attempt").Int(1);
  w.EndObject();
  w.EndObject();
  return w.Take();
}

// Signed webhooks from `threads` keep-alive connections until the service stops answering
// after stopping() turns true. Keeps what was answered 200: data.id -> the seq in the answer.
class WebhookBurst {
 public:
  WebhookBurst(const WebhookSigner& signer, int port, int threads) : signer_(signer) {
    for (int t = 0; t < threads; ++t) threads_.emplace_back([this, port, t] { Send(port, t); });
  }
  ~WebhookBurst() { Join(); }
  void Join() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  void set_stopping() { stopping_ = true; }
  std::map<std::string, uint64_t> acked() {
    std::lock_guard lock(mu_);
    return acked_;
  }
  int errors_before_stop() const { return errors_before_stop_; }

 private:
  void Send(int port, int thread) {
    httplib::Client client("127.0.0.1", port);
    client.set_keep_alive(true);
    client.set_connection_timeout(2);
    client.set_read_timeout(10);
    for (int n = 0; n < 100000; ++n) {
      std::string event_id = "burst-" + std::to_string(thread) + "-" + std::to_string(n);
      std::string body = BurstBody(event_id);
      std::string ts = std::to_string(std::time(nullptr));
      httplib::Headers headers = {{"telnyx-timestamp", ts}, {"telnyx-signature-ed25519", signer_.Sign(ts, body)}};
      auto res = client.Post("/api/webhooks/telnyx/call-events", headers, body, "application/json");
      bool ok = res && res->status == 200;
      if (ok) {
        Json answer(res->body);
        EXPECT_EQ(answer.Bool("/duplicate"), std::optional<bool>(false)) << res->body;
        std::lock_guard lock(mu_);
        acked_[event_id] = uint64_t(answer.Int("/seq"));
      } else if (!stopping_) {
        ++errors_before_stop_;
      } else {
        return;  // refused or 503: the service is going away
      }
    }
  }

  const WebhookSigner& signer_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> errors_before_stop_{0};
  std::mutex mu_;
  std::map<std::string, uint64_t> acked_;  // guarded by mu_
};

// data.id -> seq of every telnyx.webhook event in the store, read by `callrec events`.
std::map<std::string, uint64_t> StoredWebhooks(E2eEnv& env) {
  CommandResult events = env.Callrec({"events"});
  EXPECT_EQ(events.exit_code, 0) << events.err;
  std::map<std::string, uint64_t> stored;
  size_t start = 0;
  while (start < events.out.size()) {
    size_t nl = events.out.find('\n', start);
    if (nl == std::string::npos) nl = events.out.size();
    Json e(events.out.substr(start, nl - start));
    start = nl + 1;
    if (e.Str("/type") == "telnyx.webhook") stored[Json(e.Raw("/payload")).Str("/data/id")] = uint64_t(e.Int("/seq"));
  }
  return stored;
}

// SIGTERM while webhooks pour in: whatever was answered 200 is in the log, with the seq the
// answer gave; the service exits 0 and says so.
TEST(E2eWebhooks, SigtermDuringABurstKeepsEveryAcknowledgedWebhook) {
  E2eEnv env;
  WebhookSigner signer;
  env.set_public_key(signer.PublicKeyBase64());
  ASSERT_TRUE(env.StartServe()) << env.serve().Stderr();

  WebhookBurst burst(signer, env.serve().port(), 4);
  bool enough = Eventually([&] { return burst.acked().size() >= 150; });
  burst.set_stopping();
  env.serve().Signal(SIGTERM);
  int exit_code = env.serve().WaitExit(kDeadline);
  burst.Join();
  ASSERT_TRUE(enough);
  EXPECT_EQ(exit_code, 0);
  EXPECT_EQ(burst.errors_before_stop(), 0);
  std::string log = env.serve().Stderr();
  EXPECT_NE(log.find("serve.stopping"), std::string::npos) << log;
  EXPECT_NE(log.find("serve.stopped"), std::string::npos) << log;

  // Read the stopped store: every acknowledged webhook is there, at the seq it was given.
  std::map<std::string, uint64_t> acked = burst.acked();
  std::map<std::string, uint64_t> stored = StoredWebhooks(env);
  size_t missing = 0;
  for (const auto& [event_id, seq] : acked) {
    auto it = stored.find(event_id);
    if (it == stored.end()) {
      ++missing;
    } else {
      EXPECT_EQ(it->second, seq) << event_id;
    }
  }
  EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acknowledged webhooks";
  EXPECT_GE(stored.size(), acked.size());
  CommandResult check = env.Callrec({"check"});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  std::cout << "[ burst ] " << acked.size() << " webhooks acknowledged, " << stored.size() << " stored\n";
}

}  // namespace
}  // namespace callrec::testing::e2e
