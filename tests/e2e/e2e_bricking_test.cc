// End to end, the inputs of issue 11 that used to brick the service: accepted once, they must
// never stop `serve` from starting, `replay` from rebuilding, or a later intake from going on.
#include <gtest/gtest.h>
#include <httplib.h>

#include "e2e/e2e_env.h"
#include "fakes/webhook_signer.h"

namespace callrec::testing::e2e {
namespace {

// A signed webhook about call `ccid`, bound to intake `id` by client_state, at `occurred_at`.
std::string WebhookBody(const std::string& type, const std::string& data_id, const std::string& ccid,
                        const std::string& id, const std::string& occurred_at) {
  core::JsonWriter w;
  w.BeginObject().Key("data").BeginObject();
  w.Key("event_type").String(type);
  w.Key("id").String(data_id);
  w.Key("occurred_at").String(occurred_at);
  w.Key("payload").BeginObject();
  w.Key("call_control_id").String(ccid);
  w.Key("call_leg_id").String("leg-" + ccid);
  w.Key("call_session_id").String("session-" + ccid);
  w.Key("client_state").String(core::Base64Encode("intake:" + id));
  w.Key("direction").String("outgoing");
  w.Key("from").String("+15550100200");
  w.Key("to").String("+15550100061");
  if (type == "call.hangup") w.Key("hangup_cause").String("normal_clearing");
  w.EndObject();
  w.Key("record_type").String("event");
  w.EndObject();
  w.Key("meta").BeginObject().Key("attempt").Int(1).EndObject();
  w.EndObject();
  return w.Take();
}

int PostSigned(const WebhookSigner& signer, int port, const std::string& body) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(15);
  std::string ts = std::to_string(std::time(nullptr));
  httplib::Headers headers = {{"telnyx-timestamp", ts}, {"telnyx-signature-ed25519", signer.Sign(ts, body)}};
  auto res = client.Post("/api/webhooks/telnyx/call-events", headers, body, "application/json");
  return res ? res->status : -1;
}

// Year 0 at +01:00 is an instant in year -1: it used to be stored as "-001-12-31T23:30:00.000Z",
// which the parser refused, so serve could not load its state and replay wrote the same bytes.
// Now such a time counts as absent (the time callrec received the webhook stands in for it).
TEST(E2eBricking, YearZeroOccurredAtNeitherStopsServeNorReplay) {
  E2eEnv env;
  WebhookSigner signer;
  env.set_public_key(signer.PublicKeyBase64());
  ASSERT_TRUE(env.StartServe()) << env.serve().Stderr();
  std::string id = env.CreateIntake("+15550100061");
  const std::string odd = "0000-01-01T00:30:00+01:00";
  for (const char* type : {"call.initiated", "call.answered", "call.hangup"})
    EXPECT_EQ(PostSigned(signer, env.serve().port(), WebhookBody(type, std::string("y0-") + type, "v3:y0", id, odd)), 200);
  // Str() reads "<absent>" for a null member: wait until the hangup has been projected.
  ASSERT_TRUE(Eventually([&] {
    std::string hangup_at = env.GetIntake(id).Str("/metadata/hangup_at");
    return !hangup_at.empty() && hangup_at != "<absent>";
  }))
      << env.GetIntake(id).text();
  Json intake = env.GetIntake(id);
  EXPECT_EQ(intake.Str("/metadata/hangup_at").substr(0, 2), "20") << intake.text();
  EXPECT_EQ(intake.Str("/metadata/answered_at").substr(0, 2), "20") << intake.text();
  EXPECT_EQ(env.StopServe(), 0);

  ASSERT_TRUE(env.StartServe()) << "serve must start on a store holding the odd webhook\n" << env.serve().Stderr();
  EXPECT_EQ(env.GetIntake(id).Str("/metadata/hangup_at"), intake.Str("/metadata/hangup_at"));
  EXPECT_EQ(env.StopServe(), 0);
  CommandResult verify = env.Callrec({"replay", "--verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  CommandResult replay = env.Callrec({"replay"});
  EXPECT_EQ(replay.exit_code, 0) << replay.out << replay.err;
  EXPECT_EQ(env.Callrec({"check"}).exit_code, 0);
  ASSERT_TRUE(env.StartServe()) << env.serve().Stderr();
  EXPECT_EQ(env.GetIntake(id).Str("/metadata/hangup_at"), intake.Str("/metadata/hangup_at"));
  EXPECT_EQ(env.StopServe(), 0);
}

}  // namespace
}  // namespace callrec::testing::e2e
