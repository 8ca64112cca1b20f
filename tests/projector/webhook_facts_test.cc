#include "projector/projection/webhook_facts.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/time_format.h"
#include "matchers/status_matchers.h"
#include "projector/event_builders.h"

namespace callrec::projector {
namespace {

std::string ReadSample(const std::string& name) {
  std::ifstream in(std::string(CALLREC_SOURCE_DIR) + "/data/webhooks/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

core::Event SampleEvent(const std::string& name, uint64_t seq) {
  core::Event e = testing::MakeEvent("telnyx.webhook", core::source::kTelnyxWebhook, "",
                                     testing::kT0 + 20 * testing::kMin, ReadSample(name));
  e.seq = seq;
  return e;
}

int64_t Ms(std::string_view rfc3339) { return *core::ParseRfc3339Millis(rfc3339); }

TEST(WebhookFactsTest, ReadsTelnyxSamples) {
  simdjson::dom::parser parser;
  auto answered = ParseWebhookFacts(SampleEvent("webhook.call.answered.json", 7), parser);
  ASSERT_OK(answered);
  EXPECT_EQ(answered->seq, 7u);
  EXPECT_EQ(answered->event_type, "call.answered");
  EXPECT_EQ(answered->webhook_id, "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0");
  EXPECT_EQ(answered->occurred_at_ms, Ms("2026-11-20T15:04:12.411Z"));
  EXPECT_EQ(answered->event_time_ms(), Ms("2026-11-20T15:04:12.411Z"));
  EXPECT_EQ(answered->call_control_id, "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg");
  EXPECT_EQ(answered->call_leg_id, "2dc6fc34-f9e0-11ed-b4f8-02420a0daa69");
  EXPECT_EQ(answered->call_session_id, "2dc1b3c8-f9e0-11ed-bb2c-02420a0daa69");
  EXPECT_EQ(answered->direction, "") << "real call.answered bodies carry no direction";
  EXPECT_EQ(answered->Header("x-intake-id"), "a1b2c3d4-0000-4000-8000-00000000cafe")
      << "custom_headers, compared case-insensitively";
  EXPECT_EQ(answered->Header("X-Other"), "");
  EXPECT_EQ(answered->to, "+15550123456");
  EXPECT_EQ(answered->client_state, "");  // null in the sample

  auto initiated = ParseWebhookFacts(SampleEvent("webhook.call.initiated.json", 6), parser);
  ASSERT_OK(initiated);
  EXPECT_EQ(initiated->direction, "outgoing");

  auto hangup = ParseWebhookFacts(SampleEvent("webhook.call.hangup.json", 8), parser);
  ASSERT_OK(hangup);
  EXPECT_EQ(hangup->hangup_cause, "normal_clearing");

  auto saved = ParseWebhookFacts(SampleEvent("webhook.call.recording.saved.json", 9), parser);
  ASSERT_OK(saved);
  EXPECT_EQ(saved->recording_id, "7b2f9c52-1d7e-4f1e-9a55-0c3e7a9d4b11");
  EXPECT_EQ(saved->recording_started_at_ms, Ms("2026-11-20T15:04:12.902Z"));
  EXPECT_EQ(saved->recording_ended_at_ms, Ms("2026-11-20T15:09:47.700Z"));
  EXPECT_EQ(RecordingFileName(saved->recording_url), "intake_8f14e45f-1763651052.wav");

  auto error = ParseWebhookFacts(SampleEvent("webhook.call.recording.error.json", 10), parser);
  ASSERT_OK(error);
  EXPECT_EQ(error->reason, "Internal server error");
}

TEST(WebhookFactsTest, BuildersMatchTheSamplesShape) {
  // The test builders must produce what the parser reads from real samples.
  simdjson::dom::parser parser;
  testing::Call call;
  testing::WebhookExtras x;
  x.client_state = testing::ClientStateFor("abc");
  core::Event e = testing::Webhook(testing::kT0, "call.answered", "wh-1", call, testing::kT0 - 5, x);
  e.seq = 3;
  auto f = ParseWebhookFacts(e, parser);
  ASSERT_OK(f);
  EXPECT_EQ(f->call_control_id, call.ccid);
  EXPECT_EQ(f->to, call.to);
  EXPECT_EQ(f->occurred_at_ms, testing::kT0 - 5);
  EXPECT_EQ(IntakeIdFromClientState(f->client_state), "abc");
}

TEST(WebhookFactsTest, OrphanFormRoundTrips) {
  simdjson::dom::parser parser;
  for (const char* name : {"webhook.call.answered.json", "webhook.call.hangup.json",
                           "webhook.call.recording.saved.json", "webhook.call.recording.error.json",
                           "webhook.call.initiated.json"}) {
    auto f = ParseWebhookFacts(SampleEvent(name, 42), parser);
    ASSERT_OK(f) << name;
    std::string json = FactsToJson(*f);
    auto back = FactsFromJson(json, parser);
    ASSERT_OK(back) << name << ": " << back.status().ToString();
    EXPECT_EQ(*back, *f) << name;
    EXPECT_EQ(FactsToJson(*back), json);
  }
  EXPECT_EQ(FactsFromJson("{}", parser).status().code(), core::StatusCode::kCorruption);
  EXPECT_EQ(FactsFromJson("nope", parser).status().code(), core::StatusCode::kCorruption);
}

TEST(WebhookFactsTest, RejectsWhatIsNotAWebhook) {
  simdjson::dom::parser parser;
  for (std::string body : {"", "not json", "[1,2]", R"({"data":{}})", R"({"data":{"event_type":7}})",
                           "\"call.answered\""}) {
    core::Event e = testing::MakeEvent("telnyx.webhook", "telnyx.webhook", "", testing::kT0, body);
    EXPECT_FALSE(ParseWebhookFacts(e, parser).ok()) << body;
  }
}

TEST(WebhookFactsTest, UnparseableOccurredAtFallsBackToRecordedAt) {
  simdjson::dom::parser parser;
  core::Event e = testing::MakeEvent(
      "telnyx.webhook", "telnyx.webhook", "", testing::kT0,
      R"({"data":{"event_type":"call.hangup","id":"x","occurred_at":"soon","payload":{}}})");
  auto f = ParseWebhookFacts(e, parser);
  ASSERT_OK(f);
  EXPECT_FALSE(f->occurred_at_ms.has_value());
  EXPECT_EQ(f->event_time_ms(), testing::kT0);
  EXPECT_EQ(f->call_control_id, "");
}

TEST(WebhookFactsTest, ClientStateNamesAnIntakeOnlyWhenWellFormed) {
  EXPECT_EQ(IntakeIdFromClientState(core::Base64Encode("intake:i-1")), "i-1");
  EXPECT_FALSE(IntakeIdFromClientState("").has_value());
  EXPECT_FALSE(IntakeIdFromClientState("!!!").has_value());
  EXPECT_FALSE(IntakeIdFromClientState(core::Base64Encode("intake:")).has_value());
  EXPECT_FALSE(IntakeIdFromClientState(core::Base64Encode("intake:a/b")).has_value());
  EXPECT_FALSE(IntakeIdFromClientState(core::Base64Encode("patient:i-1")).has_value());
  EXPECT_FALSE(IntakeIdFromClientState(core::Base64Encode("intake:" + std::string(65, 'x'))));
  EXPECT_FALSE(IntakeIdFromClientState(std::string(10000, 'A')).has_value());
}

TEST(WebhookFactsTest, RecordingFileNameIgnoresQueryAndFragment) {
  EXPECT_EQ(RecordingFileName("https://h/a/b/i1-17.wav?x=/y"), "i1-17.wav");
  EXPECT_EQ(RecordingFileName("https://h/a/b/i1-17.mp3#frag"), "i1-17.mp3");
  EXPECT_EQ(RecordingFileName("i1-17.wav"), "i1-17.wav");
  EXPECT_EQ(RecordingFileName(""), "");
}

}  // namespace
}  // namespace callrec::projector
