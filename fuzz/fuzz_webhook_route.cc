// POST /api/webhooks/telnyx/call-events, the hostile-input front door: body reading, signature
// check, JSON parse and validation, the append; then what the projector makes of the stored
// webhook (facts, their stored JSON form, the projection). Properties: no crash; 200 only for
// a stored event; stored facts read back as written.
//
// Input: byte 0 chooses how the delivery is signed. Even: correctly, over the rest as body (so
// the fuzzer explores parsing past the signature). Odd: the rest is
// "<telnyx-timestamp>\n<telnyx-signature-ed25519>\n<body>" taken as is.
#include <httplib.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/log.h"
#include "core/metrics.h"
#include "fakes/webhook_signer.h"
#include "fuzz_support.h"
#include "ingest/webhook_route.h"
#include "projector/projection/projection.h"
#include "projector/projection/webhook_facts.h"

namespace {

using namespace callrec;

struct World {
  testing::WebhookSigner signer;
  fuzz::FixedClock clock;
  core::Metrics metrics;
  fuzz::MemoryStore store;
  ingest::WebhookRoute route;
  World()
      : route(ingest::WebhookVerifier::FromPublicKey(signer.PublicKeyBase64(), std::chrono::seconds(300)).value(),
              64 << 10, store, clock, metrics) {}
};

World& TheWorld() {
  static World* world = new World();  // never destroyed: libFuzzer may exit from any point
  return *world;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  callrec::core::SetLogLevel(callrec::core::LogLevel::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  World& w = TheWorld();
  if (w.store.LastSeq() > 10000) w.store.Clear();
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string ts = std::to_string(w.clock.WallMillis() / 1000), sig, body;
  if (data[0] % 2 == 0) {
    body = std::string(rest);
    sig = w.signer.Sign(ts, body);
  } else {
    size_t a = rest.find('\n');
    size_t b = a == std::string_view::npos ? a : rest.find('\n', a + 1);
    if (b == std::string_view::npos) return 0;
    ts = std::string(rest.substr(0, a));
    sig = std::string(rest.substr(a + 1, b - a - 1));
    body = std::string(rest.substr(b + 1));
  }
  httplib::Request req;
  req.method = "POST";
  req.path = ingest::kWebhookRoute;
  req.set_header("Content-Length", std::to_string(body.size()));
  req.set_header("telnyx-timestamp", ts);
  req.set_header("telnyx-signature-ed25519", sig);
  httplib::Response res;
  httplib::ContentReader reader(
      [&](httplib::ContentReceiver receive) { return body.empty() || receive(body.data(), body.size()); },
      [](httplib::MultipartContentHeader, httplib::ContentReceiver) { return false; });
  uint64_t before = w.store.LastSeq();
  w.route.Handle(req, res, reader);
  bool stored = w.store.LastSeq() > before;
  if (res.status == 200 && !stored && res.body.find("\"duplicate\":true") == std::string::npos)
    fuzz::PropertyFailed("200 means stored", res.body);
  if (res.status != 200 && stored) fuzz::PropertyFailed("stored means 200", std::to_string(res.status));
  if (!stored) return 0;

  // The projector's side of the same bytes.
  core::Event event = w.store.Read(w.store.LastSeq()).value();
  simdjson::dom::parser parser;
  auto facts = projector::ParseWebhookFacts(event, parser);
  if (facts.ok()) {
    std::string json = projector::FactsToJson(*facts);
    auto back = projector::FactsFromJson(json, parser);
    if (!back.ok() || projector::FactsToJson(*back) != json) fuzz::PropertyFailed("facts round trip", json);
  }
  projector::Projection projection;
  projection.Apply(event);
  projection.Flush();
  return 0;
}
