// Projection::Apply over event sequences the fuzzer chooses: well-formed events of every kind
// about a few intakes and calls (built like the tests build them), mixed with events whose
// payload is arbitrary bytes. Properties: no crash, and replay == live: the derived data of one
// replay from empty equals what a live projector leaves behind when it flushes at arbitrary
// points and "crashes" (loses unflushed work, reloads from what it flushed) in between.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/log.h"
#include "fuzz_support.h"
#include "projector/event_builders.h"
#include "projector/projection/projection.h"

namespace {

using namespace callrec;
using namespace callrec::testing;  // NOLINT: the builders

const char* const kIds[] = {"intake-a", "intake-b", "intake-c"};
const char* const kPhones[] = {"+15550123456", "+15550123457"};
const char* const kWebhookTypes[] = {"call.initiated", "call.answered", "call.hangup",
                                     "call.recording.saved", "call.recording.error", "call.bridged"};
const char* const kOutcomes[] = {"ok", "not_found", "retry", "transient", "failed"};
const char* const kRawTypes[] = {"intake.created", "telnyx.webhook", "telnyx.record_start",
                                 "recording.fetch_scheduled", "telnyx.recordings_list", "recording.matched",
                                 "telnyx.recording_get", "storage.upload", "telnyx.recording_delete",
                                 "intake.failed", "intake.retry_requested", "service.started", "unknown.type"};

template <size_t N>
const char* Pick(FuzzedDataProvider& in, const char* const (&from)[N]) {
  return from[in.ConsumeIntegralInRange<size_t>(0, N - 1)];
}

Call CallNo(int n, const std::string& to) {
  Call c;
  c.ccid = "v3:ccid-" + std::to_string(n);
  c.leg = "leg-" + std::to_string(n);
  c.session = "session-" + std::to_string(n);
  c.to = to;
  return c;
}

core::Event NextEvent(FuzzedDataProvider& in, int64_t at) {
  std::string id = Pick(in, kIds);
  std::string outcome = Pick(in, kOutcomes);
  switch (in.ConsumeIntegralInRange<int>(0, 12)) {
    case 0: return ServiceStarted(at, in.ConsumeBool() ? "manual" : "auto", in.ConsumeIntegralInRange<int64_t>(0, 20) * kMin);
    case 1: return IntakeCreated(at, id, Pick(in, kPhones));
    case 2:
    case 3:
    case 4: {
      WebhookExtras x;
      if (in.ConsumeBool()) x.client_state = ClientStateFor(id);
      x.recording_id = "rec-" + std::to_string(in.ConsumeIntegralInRange<int>(1, 3));
      if (in.ConsumeBool()) x.recording_url = RecordingUrl(id);
      if (in.ConsumeBool()) x.recording_started_at = at - in.ConsumeIntegral<uint16_t>() * kSec;
      std::optional<int64_t> occurred;
      if (in.ConsumeBool()) occurred = at + in.ConsumeIntegral<int32_t>() * int64_t(1000);
      int call = in.ConsumeIntegralInRange<int>(1, 3);
      return Webhook(at, Pick(in, kWebhookTypes), "wh-" + std::to_string(in.ConsumeIntegral<uint8_t>()),
                     CallNo(call, Pick(in, kPhones)), occurred, x);
    }
    case 5: return RecordStart(at, id, outcome, outcome == "ok" ? 200 : 422);
    case 6: return FetchScheduled(at, id, in.ConsumeIntegralInRange<int>(1, 5), in.ConsumeIntegralInRange<int>(0, 5), at + kMin);
    case 7: return RecordingsList(at, id, outcome);
    case 8: return Matched(at, id, "rec-" + std::to_string(in.ConsumeIntegralInRange<int>(1, 3)), RecordingUrl(id), 12.5);
    case 9: return StorageUpload(at, id, in.ConsumeBool() ? UploadOk("file:///r/" + id + ".wav") : UploadTransient("503"));
    case 10: return RecordingDelete(at, id, outcome, outcome == "ok" ? 200 : 500);
    case 11: return in.ConsumeBool() ? IntakeFailed(at, id, "no_recording", "none") : RetryRequested(at, id);
    default: {
      core::Event e = MakeEvent(Pick(in, kRawTypes), core::source::kApi, in.ConsumeBool() ? id : "", at,
                                in.ConsumeRandomLengthString(512));
      if (e.type == "telnyx.webhook") e.source = std::string(core::source::kTelnyxWebhook);
      return e;
    }
  }
}

std::string Describe(const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b) {
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end()) return "only in replay: " + k + " = " + v;
    if (it->second != v) return k + ":\n replay: " + v + "\n live:   " + it->second;
  }
  for (const auto& [k, v] : b)
    if (!a.count(k)) return "only in live: " + k + " = " + v;
  return "?";
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  callrec::core::SetLogLevel(callrec::core::LogLevel::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<core::Event> events;
  int64_t at = kT0;
  while (in.remaining_bytes() > 0 && events.size() < 64) {
    at += in.ConsumeIntegralInRange<int64_t>(0, 600) * kSec;
    core::Event e = NextEvent(in, at);
    e.seq = events.size() + 1;
    events.push_back(std::move(e));
  }
  // Which steps flush, and which crash (lose what was not flushed) after flushing or not.
  std::vector<uint8_t> plan = in.ConsumeRemainingBytes<uint8_t>();

  projector::Projection replay;
  for (const auto& e : events) replay.Apply(e);
  std::map<std::string, std::string> replayed;
  fuzz::MemoryStore::Apply(replay.Flush(), replayed);

  fuzz::MemoryStore store;
  projector::Projection live;
  std::vector<bool> crashed(events.size(), false);
  for (size_t i = 0; i < events.size(); ++i) {
    live.Apply(events[i]);
    uint8_t step = i < plan.size() ? plan[i] : 0;
    if (step & 1) (void)store.WriteDerived(live.Flush());
    if ((step & 2) && !crashed[i]) {  // crash (once here) and restart from what was flushed
      crashed[i] = true;
      auto loaded = projector::Projection::Load(store);
      if (!loaded.ok()) fuzz::PropertyFailed("live derived data loads", loaded.status().ToString());
      live = std::move(*loaded);
      i = live.last_seq() == 0 ? size_t(-1) : size_t(live.last_seq() - 1);  // the loop's ++i resumes after it
    }
  }
  (void)store.WriteDerived(live.Flush());
  if (store.derived() != replayed) fuzz::PropertyFailed("replay == live", Describe(replayed, store.derived()));
  return 0;
}
