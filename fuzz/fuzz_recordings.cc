// What Telnyx answers to GET /v2/recordings (the list, page by page) and GET /v2/recordings/{id}:
// any status, any body. Properties: no crash; an ok answer's recordings all have ids.
//
// Input: byte 0 picks the status (200, 200, 404, 422, 429, 500, 503, 401); the rest is the body,
// split on "\n--page--\n" into the answers to successive requests (the listing walks pages).
#include <cstdint>
#include <string>
#include <string_view>

#include "core/log.h"
#include "fuzz_support.h"
#include "projector/clients/telnyx_client.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  callrec::core::SetLogLevel(callrec::core::LogLevel::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace callrec;
  if (size == 0) return 0;
  static constexpr int kStatus[] = {200, 200, 404, 422, 429, 500, 503, 401};
  int status = kStatus[data[0] % 8];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  fuzz::ScriptTransport transport;
  size_t start = 0;
  for (int pages = 0; pages < 4; ++pages) {
    size_t cut = rest.find("\n--page--\n", start);
    transport.Add(status, std::string(rest.substr(start, cut == std::string_view::npos ? cut : cut - start)));
    if (cut == std::string_view::npos) break;
    start = cut + 10;
  }
  fuzz::FixedClock clock;
  projector::TelnyxClient client(transport, clock, "http://127.0.0.1:1", "KEY");
  projector::RecordingsListing listing = client.ListAllRecordings({.call_leg_id = "leg"}, 250, 4);
  if (listing.outcome == projector::ApiOutcome::kOk)
    for (const auto& r : listing.recordings)
      if (r.id.empty()) fuzz::PropertyFailed("listed recording has an id", "");
  projector::RecordingLookup one = client.GetRecording("rec-1");
  if (one.api.ok() && !one.recording) fuzz::PropertyFailed("ok lookup has a recording", "");
  return 0;
}
