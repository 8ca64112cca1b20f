// telnyx-sim's call webhooks: documented bodies, Ed25519 signatures, redelivery, duplicates
// and reordering, checked by a real HTTP receiver.
#include "telnyx_sim/webhooks.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "telnyx_sim/test_support.h"
#include "matchers/status_matchers.h"

namespace callrec::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Strings = std::vector<std::string>;

const std::string kDemoKey = std::string(CALLREC_SOURCE_DIR) + "/data/demo-keys/telnyx-sim-private.pem";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The raw "data" member of an envelope: everything between {"data": and ,"meta":.
std::string RawData(const std::string& body) {
  size_t start = body.find("{\"data\":");
  size_t end = body.rfind(",\"meta\":");
  if (start != 0 || end == std::string::npos) return "<bad envelope>";
  return body.substr(8, end - 8);
}

Strings Types(const std::vector<WebhookReceiver::Delivery>& got) {
  Strings types;
  for (const auto& d : got) types.push_back(Json(d.body).Str("/data/event_type"));
  return types;
}

class SimWebhookTest : public ::testing::Test {
 protected:
  void Start(SimConfig config = {}) {
    config.webhook_retry_delay = milliseconds(1000);
    sim_ = StartSim(clock_, std::move(config));
    ASSERT_NE(sim_, nullptr);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", sim_->port());
    auto pk = core::Base64Decode(sim_->public_key_base64());
    ASSERT_OK(pk);
    public_key_ = *pk;
  }
  CallSpec Spec() {
    CallSpec spec = ManualCall();
    spec.webhook_url = receiver_.url();
    return spec;
  }
  void ExpectSigned(const WebhookReceiver::Delivery& d) {
    auto sig = core::Base64Decode(d.signature);
    ASSERT_OK(sig) << d.signature;
    EXPECT_EQ(sig->size(), 64u);
    EXPECT_TRUE(VerifyEd25519(public_key_, d.timestamp + "|" + d.body, *sig)) << d.body;
    EXPECT_EQ(d.content_type, "application/json");
  }

  ManualClock clock_;
  WebhookReceiver receiver_;
  std::unique_ptr<TelnyxSim> sim_;
  std::unique_ptr<httplib::Client> client_;
  std::string public_key_;
};

TEST_F(SimWebhookTest, AFullCallDeliversSignedWebhooksInTheDocumentedShapes) {
  SimConfig config;
  config.signing_key_pem_path = kDemoKey;
  Start(config);
  CallSpec spec = Spec();
  spec.answer_after_ms = 0;
  spec.hangup_after_ms = 5000;
  spec.client_state = "aGVsbG8=";
  auto ids = sim_->PlaceCall(spec);
  ASSERT_OK(ids);
  ASSERT_EQ(receiver_.WaitFor(2).size(), 2u);
  auto rs = client_->Post(RecordStartPath(ids->call_control_id).c_str(),
                          R"({"format":"wav","channels":"dual","custom_file_name":"intake_7"})",
                          "application/json");
  ASSERT_EQ(rs->status, 200) << rs->body;
  clock_.Advance(milliseconds(5000));
  ASSERT_EQ(receiver_.WaitFor(3).size(), 3u);
  clock_.Advance(milliseconds(1000));
  auto got = receiver_.WaitFor(4);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(Types(got), (Strings{"call.initiated", "call.answered", "call.hangup",
                                 "call.recording.saved"}));
  // The real shapes (data/webhooks/): call.answered has no direction and no state, call.hangup
  // no state but an end_time, call.recording.saved also format, start_time and end_time.
  const std::vector<Strings> payload_keys = {
      {"call_control_id", "call_leg_id", "call_session_id", "client_state", "connection_id",
       "direction", "from", "to", "state"},
      {"call_control_id", "call_leg_id", "call_session_id", "client_state", "connection_id",
       "from", "to", "start_time", "calling_party_type"},
      {"call_control_id", "call_leg_id", "call_session_id", "client_state", "connection_id",
       "from", "to", "hangup_cause", "hangup_source", "sip_hangup_cause", "start_time", "end_time"},
      {"call_control_id", "call_leg_id", "call_session_id", "channels", "client_state",
       "connection_id", "recording_id", "recording_started_at", "recording_ended_at",
       "recording_urls", "public_recording_urls", "format", "start_time", "end_time"}};
  std::set<std::string> event_ids;
  for (size_t i = 0; i < got.size(); ++i) {
    ExpectSigned(got[i]);
    Json j(got[i].body);
    EXPECT_EQ(j.Keys(""), (Strings{"data", "meta"}));
    EXPECT_EQ(j.Keys("/data"), (Strings{"event_type", "id", "occurred_at", "payload", "record_type"}));
    EXPECT_EQ(j.Keys("/data/payload"), payload_keys[i]) << j.Str("/data/event_type");
    EXPECT_EQ(j.Str("/data/record_type"), "event");
    EXPECT_EQ(j.Int("/meta/attempt"), 1);
    EXPECT_EQ(j.Str("/meta/delivered_to"), receiver_.url());
    EXPECT_EQ(j.Str("/data/payload/call_control_id"), ids->call_control_id);
    EXPECT_EQ(j.Str("/data/payload/call_leg_id"), ids->call_leg_id);
    EXPECT_EQ(j.Str("/data/payload/call_session_id"), ids->call_session_id);
    EXPECT_EQ(j.Str("/data/payload/client_state"), "aGVsbG8=");
    event_ids.insert(j.Str("/data/id"));
  }
  EXPECT_EQ(event_ids.size(), 4u);
  EXPECT_EQ(got[0].timestamp, std::to_string(ManualClock::kStartMillis / 1000));
  EXPECT_EQ(got[2].timestamp, std::to_string(ManualClock::kStartMillis / 1000 + 5));
  Json initiated(got[0].body), answered(got[1].body), hangup(got[2].body), saved(got[3].body);
  EXPECT_EQ(initiated.Str("/data/payload/state"), "bridging");
  EXPECT_EQ(initiated.Str("/data/payload/direction"), "outgoing");
  EXPECT_EQ(initiated.Str("/data/payload/to"), "+15550123456");
  EXPECT_EQ(initiated.Str("/data/occurred_at"), "2026-11-20T15:00:00.000000Z");
  EXPECT_EQ(answered.Str("/data/payload/start_time"), initiated.Str("/data/occurred_at"));
  EXPECT_EQ(hangup.Str("/data/payload/hangup_cause"), "normal_clearing");
  EXPECT_EQ(hangup.Str("/data/payload/hangup_source"), "callee");
  EXPECT_EQ(hangup.Str("/data/payload/sip_hangup_cause"), "200");
  EXPECT_EQ(hangup.Str("/data/occurred_at"), "2026-11-20T15:00:05.000000Z");
  EXPECT_EQ(hangup.Str("/data/payload/end_time"), hangup.Str("/data/occurred_at"));
  EXPECT_EQ(saved.Str("/data/payload/format"), "wav");
  EXPECT_EQ(saved.Str("/data/payload/channels"), "dual");
  EXPECT_EQ(saved.Keys("/data/payload/public_recording_urls"), Strings{});
  std::string url = saved.Str("/data/payload/recording_urls/wav");
  EXPECT_NE(url.find("/intake_7-"), std::string::npos) << url;
  auto media = client_->Get(url.substr(sim_->base_url().size()).c_str());
  EXPECT_EQ(media->status, 200);
  EXPECT_EQ(media->body.substr(0, 4), "RIFF");
  Json list(client_->Get("/v2/recordings")->body);
  EXPECT_EQ(list.Str("/data/0/id"), saved.Str("/data/payload/recording_id"));
  // The signature really covers the body: one changed byte fails verification.
  std::string tampered = got[1].body;
  tampered[tampered.find("answered")] = 'A';
  EXPECT_FALSE(VerifyEd25519(public_key_, got[1].timestamp + "|" + tampered,
                             *core::Base64Decode(got[1].signature)));
}

TEST_F(SimWebhookTest, DemoKeyMatchesItsPublishedPublicKey) {
  SimConfig config;
  config.signing_key_pem_path = kDemoKey;
  Start(config);
  std::string b64 = ReadFile(std::string(CALLREC_SOURCE_DIR) + "/data/demo-keys/telnyx-sim-public.b64");
  while (!b64.empty() && (b64.back() == '\n' || b64.back() == '\r')) b64.pop_back();
  EXPECT_EQ(sim_->public_key_base64(), b64);
  EXPECT_EQ(Json(client_->Get("/sim/public-key")->body).Str("/public_key"), b64);
  EXPECT_EQ(core::Base64Decode(b64)->size(), 32u);
}

TEST_F(SimWebhookTest, EphemeralKeysDifferPerSim) {
  Start();
  std::string first = sim_->public_key_base64();
  auto other = StartSim(clock_);
  EXPECT_NE(other->public_key_base64(), first);
  SimConfig bad;
  bad.signing_key_pem_path = std::string(CALLREC_SOURCE_DIR) + "/data/demo-keys/README.md";
  EXPECT_EQ(TelnyxSim::Start(bad, clock_).status().code(), core::StatusCode::kInvalidArgument);
}

TEST_F(SimWebhookTest, DuplicateWebhooksArriveTwiceWithTheSameId) {
  Start();
  CallSpec spec = Spec();
  spec.duplicate_webhooks = true;
  auto ids = sim_->PlaceCall(spec);
  ASSERT_OK(sim_->AnswerCall(ids->call_control_id));
  auto got = receiver_.WaitFor(4);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(Types(got), (Strings{"call.initiated", "call.initiated", "call.answered", "call.answered"}));
  for (size_t i = 0; i < 4; i += 2) {
    Json a(got[i].body), b(got[i + 1].body);
    EXPECT_EQ(a.Str("/data/id"), b.Str("/data/id"));
    EXPECT_EQ(RawData(got[i].body), RawData(got[i + 1].body));
    EXPECT_EQ(a.Int("/meta/attempt"), 1);
    EXPECT_EQ(b.Int("/meta/attempt"), 2);
    ExpectSigned(got[i + 1]);
  }
  EXPECT_NE(Json(got[0].body).Str("/data/id"), Json(got[2].body).Str("/data/id"));
}

TEST_F(SimWebhookTest, HangupBeforeAnsweredDeliversAnsweredLast) {
  Start();
  CallSpec spec = Spec();
  spec.hangup_before_answered = true;
  auto ids = sim_->PlaceCall(spec);
  ASSERT_OK(sim_->AnswerCall(ids->call_control_id));
  ASSERT_TRUE(sim_->WaitWebhooksIdle(seconds(5)));
  EXPECT_EQ(Types(receiver_.Got()), Strings{"call.initiated"});  // answered is held back
  // The call is answered all the same: record_start works.
  auto rs = client_->Post(RecordStartPath(ids->call_control_id).c_str(),
                          R"({"format":"wav","channels":"dual"})", "application/json");
  EXPECT_EQ(rs->status, 200) << rs->body;
  ASSERT_OK(sim_->HangupCall(ids->call_control_id));
  auto got = receiver_.WaitFor(3);
  EXPECT_EQ(Types(got), (Strings{"call.initiated", "call.hangup", "call.answered"}));
}

TEST_F(SimWebhookTest, Non2xxAnswersAreRedeliveredWithTheSameIdAndNextAttempt) {
  Start();
  receiver_.AnswerNext({500, 503});
  ASSERT_OK(sim_->PlaceCall(Spec()));
  ASSERT_TRUE(sim_->WaitWebhookAttempts(1, seconds(5)));
  clock_.Advance(milliseconds(999));
  ASSERT_TRUE(sim_->WaitWebhookAttempts(1, seconds(5)));
  clock_.Advance(milliseconds(1));
  ASSERT_TRUE(sim_->WaitWebhookAttempts(2, seconds(5)));
  clock_.Advance(milliseconds(1000));
  ASSERT_TRUE(sim_->WaitWebhookAttempts(3, seconds(5)));
  auto got = receiver_.WaitFor(3);
  ASSERT_EQ(got.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    Json j(got[i].body);
    EXPECT_EQ(j.Int("/meta/attempt"), i + 1);
    EXPECT_EQ(j.Str("/data/id"), Json(got[0].body).Str("/data/id"));
    ExpectSigned(got[i]);
  }
  auto records = sim_->WebhookDeliveries();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].status, 500);
  EXPECT_EQ(records[1].status, 503);
  EXPECT_EQ(records[2].status, 200);
  EXPECT_TRUE(sim_->WaitWebhooksIdle(seconds(5)));
}

TEST_F(SimWebhookTest, GivesUpAfterMaxAttempts) {
  SimConfig config;
  config.webhook_max_attempts = 2;
  Start(config);
  receiver_.AlwaysFail();
  ASSERT_OK(sim_->PlaceCall(Spec()));
  ASSERT_TRUE(sim_->WaitWebhookAttempts(1, seconds(5)));
  clock_.Advance(seconds(1));
  ASSERT_TRUE(sim_->WaitWebhookAttempts(2, seconds(5)));
  EXPECT_TRUE(sim_->WaitWebhooksIdle(seconds(5)));
  clock_.Advance(seconds(60));
  EXPECT_TRUE(sim_->WaitWebhooksIdle(seconds(5)));
  EXPECT_EQ(sim_->WebhookDeliveries().size(), 2u);
  EXPECT_EQ(receiver_.Got().size(), 2u);
}

TEST_F(SimWebhookTest, UnreachableReceiverIsRecordedAndRetried) {
  Start();
  CallSpec spec = ManualCall();
  spec.webhook_url = "http://127.0.0.1:1/hook";  // nothing listens on port 1
  ASSERT_OK(sim_->PlaceCall(spec));
  ASSERT_TRUE(sim_->WaitWebhookAttempts(1, seconds(10)));
  auto records = sim_->WebhookDeliveries();
  EXPECT_EQ(records[0].status, 0);
  EXPECT_FALSE(records[0].error.empty());
  clock_.Advance(seconds(1));
  ASSERT_TRUE(sim_->WaitWebhookAttempts(2, seconds(10)));
  EXPECT_EQ(sim_->WebhookDeliveries()[1].attempt, 2);
}

TEST_F(SimWebhookTest, ClientStateFromRecordStartReachesLaterWebhooks) {
  Start();
  CallSpec spec = Spec();
  spec.client_state = "Zmlyc3Q=";
  auto ids = sim_->PlaceCall(spec);
  ASSERT_OK(sim_->AnswerCall(ids->call_control_id));
  client_->Post(RecordStartPath(ids->call_control_id).c_str(),
                R"({"format":"wav","channels":"dual","client_state":"c2Vjb25k"})", "application/json");
  ASSERT_OK(sim_->HangupCall(ids->call_control_id));
  auto got = receiver_.WaitFor(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(Json(got[1].body).Str("/data/payload/client_state"), "Zmlyc3Q=");
  EXPECT_EQ(Json(got[2].body).Str("/data/payload/client_state"), "c2Vjb25k");
}

TEST_F(SimWebhookTest, IncomingUnansweredCallTimesOut) {
  Start();
  CallSpec spec = Spec();
  spec.direction = "incoming";
  spec.hangup_after_ms = 3000;  // answer_after_ms stays -1: nobody answers
  ASSERT_OK(sim_->PlaceCall(spec));
  clock_.Advance(milliseconds(3000));
  auto got = receiver_.WaitFor(2);
  ASSERT_EQ(Types(got), (Strings{"call.initiated", "call.hangup"}));
  EXPECT_EQ(Json(got[0].body).Str("/data/payload/state"), "parked");
  EXPECT_EQ(Json(got[0].body).Str("/data/payload/direction"), "incoming");
  EXPECT_EQ(Json(got[1].body).Str("/data/payload/hangup_cause"), "timeout");
}

// A SIP call's X- headers (e.g. LiveKit's SIP participant `headers`) come as custom_headers on
// call.initiated and call.answered, which carries no direction (only call.initiated does).
TEST_F(SimWebhookTest, CustomHeadersRideOnInitiatedAndAnswered) {
  Start();
  CallSpec spec = Spec();
  spec.custom_headers = {{"X-Intake-Id", "intake_9"}};
  spec.answer_after_ms = 100;
  spec.hangup_after_ms = -1;
  ASSERT_OK(sim_->PlaceCall(spec));
  clock_.Advance(milliseconds(100));
  auto got = receiver_.WaitFor(2);
  ASSERT_EQ(Types(got), (Strings{"call.initiated", "call.answered"}));
  for (const auto& d : got) {
    Json j(d.body);
    EXPECT_EQ(j.Str("/data/payload/custom_headers/0/name"), "X-Intake-Id");
    EXPECT_EQ(j.Str("/data/payload/custom_headers/0/value"), "intake_9");
  }
  EXPECT_EQ(Json(got[1].body).Str("/data/payload/direction"), "<absent>");
  EXPECT_EQ(Json(got[1].body).Str("/data/payload/state"), "<absent>");
}

TEST_F(SimWebhookTest, AutoRecordRecordsWithoutRecordStart) {
  Start();
  CallSpec spec = Spec();
  spec.auto_record = true;
  auto ids = sim_->PlaceCall(spec);
  ASSERT_OK(sim_->AnswerCall(ids->call_control_id));
  clock_.Advance(seconds(4));
  ASSERT_OK(sim_->HangupCall(ids->call_control_id));
  clock_.Advance(seconds(1));
  auto got = receiver_.WaitFor(4);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(Json(got[3].body).Str("/data/event_type"), "call.recording.saved");
  Json list(client_->Get(("/v2/recordings?filter[call_session_id]=" + ids->call_session_id).c_str())->body);
  ASSERT_EQ(list.Int("/meta/total_results"), 1);
  EXPECT_EQ(list.Int("/data/0/duration_millis"), 4000);
  EXPECT_NE(list.Str("/data/0/download_urls/wav").find("/" + ids->call_leg_id + "-"), std::string::npos);
  EXPECT_EQ(sim_->ApiRequestCount(), 1u);  // only our list: the sim made no record_start call
}

TEST_F(SimWebhookTest, RecordingErrorSendsTheErrorWebhookAndNoRecording) {
  Start();
  CallSpec spec = Spec();
  spec.recording_error = true;
  auto ids = sim_->PlaceCall(spec);
  ASSERT_OK(sim_->AnswerCall(ids->call_control_id));
  client_->Post(RecordStartPath(ids->call_control_id).c_str(),
                R"({"format":"wav","channels":"dual"})", "application/json");
  ASSERT_OK(sim_->HangupCall(ids->call_control_id));
  clock_.Advance(seconds(1));
  auto got = receiver_.WaitFor(4);
  ASSERT_EQ(got.size(), 4u);
  Json error(got[3].body);
  EXPECT_EQ(error.Str("/data/event_type"), "call.recording.error");
  EXPECT_EQ(error.Keys("/data/payload"),
            (Strings{"call_control_id", "call_leg_id", "call_session_id", "client_state",
                     "connection_id", "reason"}));
  EXPECT_EQ(error.Str("/data/payload/reason"), "Internal server error");
  EXPECT_EQ(Json(client_->Get("/v2/recordings")->body).Int("/meta/total_results"), 0);
}

TEST_F(SimWebhookTest, CallsArePlacedOverHttpAndDrivenByHand) {
  Start();
  auto bad = client_->Post("/sim/calls", R"({"to":"5550123"})", "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(Json(bad->body).Str("/error").find("to"), std::string::npos);
  EXPECT_EQ(client_->Post("/sim/calls", R"({"to":"+15550123456","surprise":1})", "application/json")->status, 400);
  EXPECT_EQ(client_->Post("/sim/calls", R"({"to":"+15550123456","webhook_url":"ftp://x"})", "application/json")->status, 400);
  auto res = client_->Post("/sim/calls",
                           R"({"to":"+15550123456","webhook_url":")" + receiver_.url() +
                               R"(","answer_after_ms":-1,"hangup_after_ms":-1})",
                           "application/json");
  ASSERT_EQ(res->status, 201) << res->body;
  Json ids(res->body);
  EXPECT_EQ(ids.Keys(""), (Strings{"call_control_id", "call_leg_id", "call_session_id"}));
  std::string id = EncodeId(ids.Str("/call_control_id"));
  EXPECT_EQ(Json(client_->Get(("/sim/calls/" + id).c_str())->body).Str("/state"), "initiated");
  EXPECT_EQ(client_->Post(("/sim/calls/" + id + "/hangup").c_str(), "", "text/plain")->status, 200);
  EXPECT_EQ(client_->Post(("/sim/calls/" + id + "/answer").c_str(), "", "text/plain")->status, 409);
  EXPECT_EQ(client_->Post("/sim/calls/v3:nope/answer", "", "text/plain")->status, 404);
  EXPECT_EQ(Types(receiver_.WaitFor(2)), (Strings{"call.initiated", "call.hangup"}));
  EXPECT_EQ(sim_->RequestCount("POST /sim/calls"), 4u);
}

}  // namespace
}  // namespace callrec::testing
