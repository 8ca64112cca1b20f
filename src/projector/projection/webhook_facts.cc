#include "projector/projection/webhook_facts.h"

#include "core/json.h"
#include "core/time_format.h"
#include "projector/projection/intake_state.h"

namespace callrec::projector {
namespace {

using core::Result;
using core::Status;

std::string Str(simdjson::dom::element root, std::string_view pointer) {
  auto v = core::JsonString(root, pointer);
  return v ? std::string(*v) : std::string();
}

std::optional<int64_t> Time(simdjson::dom::element root, std::string_view pointer) {
  auto text = core::JsonString(root, pointer);
  if (!text) return std::nullopt;
  auto ms = core::ParseRfc3339Millis(*text);
  if (!ms.ok()) return std::nullopt;
  return *ms;
}

// The download URL Telnyx gave: wav preferred (what we ask record_start for by default).
std::string RecordingUrl(simdjson::dom::element root) {
  for (std::string_view pointer :
       {"/data/payload/recording_urls/wav", "/data/payload/recording_urls/mp3",
        "/data/payload/public_recording_urls/wav", "/data/payload/public_recording_urls/mp3"}) {
    std::string url = Str(root, pointer);
    if (!url.empty()) return url;
  }
  return {};
}

void OptTimeField(core::JsonWriter& w, std::string_view key, const std::optional<int64_t>& ms) {
  w.Key(key);
  if (ms) {
    w.Int(*ms);
  } else {
    w.Null();
  }
}

std::optional<int64_t> OptInt(simdjson::dom::element root, std::string_view pointer) {
  return core::JsonInt(root, pointer);
}

// [{"name","value"}] at `pointer`; entries without a string name are skipped.
std::vector<std::pair<std::string, std::string>> Headers(simdjson::dom::element root,
                                                         std::string_view pointer) {
  std::vector<std::pair<std::string, std::string>> out;
  simdjson::dom::array arr;
  if (root.at_pointer(pointer).get_array().get(arr)) return out;
  for (simdjson::dom::element item : arr) {
    std::string_view name, value;
    if (item["name"].get_string().get(name) || name.empty()) continue;
    if (item["value"].get_string().get(value)) value = {};
    out.emplace_back(std::string(name), std::string(value));
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

void WriteHeaders(core::JsonWriter& w, const WebhookFacts& f) {
  w.Key("custom_headers").BeginArray();
  for (const auto& [name, value] : f.custom_headers) {
    w.BeginObject().Key("name").String(name).Key("value").String(value).EndObject();
  }
  w.EndArray();
}

}  // namespace

Result<WebhookFacts> ParseWebhookFacts(const core::Event& event, simdjson::dom::parser& parser) {
  auto root = core::ParseJson(parser, event.payload);
  if (!root.ok()) return root.status();
  if (!root->is_object()) return Status::InvalidArgument("webhook is not a JSON object");
  WebhookFacts f;
  f.seq = event.seq;
  f.recorded_at_ms = event.recorded_at_ms;
  f.event_type = Str(*root, "/data/event_type");
  if (f.event_type.empty()) return Status::InvalidArgument("webhook has no data.event_type");
  f.webhook_id = Str(*root, "/data/id");
  f.occurred_at_ms = Time(*root, "/data/occurred_at");
  f.call_control_id = Str(*root, "/data/payload/call_control_id");
  f.call_leg_id = Str(*root, "/data/payload/call_leg_id");
  f.call_session_id = Str(*root, "/data/payload/call_session_id");
  f.direction = Str(*root, "/data/payload/direction");
  f.from = Str(*root, "/data/payload/from");
  f.to = Str(*root, "/data/payload/to");
  f.client_state = Str(*root, "/data/payload/client_state");
  f.custom_headers = Headers(*root, "/data/payload/custom_headers");
  f.hangup_cause = Str(*root, "/data/payload/hangup_cause");
  f.recording_id = Str(*root, "/data/payload/recording_id");
  f.recording_url = RecordingUrl(*root);
  f.recording_started_at_ms = Time(*root, "/data/payload/recording_started_at");
  f.recording_ended_at_ms = Time(*root, "/data/payload/recording_ended_at");
  f.reason = Str(*root, "/data/payload/reason");
  return f;
}

std::string FactsToJson(const WebhookFacts& f) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("seq").Uint(f.seq);
  w.Key("recorded_at").Int(f.recorded_at_ms);
  w.Key("event_type").String(f.event_type);
  w.Key("webhook_id").String(f.webhook_id);
  OptTimeField(w, "occurred_at", f.occurred_at_ms);
  w.Key("call_control_id").String(f.call_control_id);
  w.Key("call_leg_id").String(f.call_leg_id);
  w.Key("call_session_id").String(f.call_session_id);
  w.Key("direction").String(f.direction);
  w.Key("from").String(f.from);
  w.Key("to").String(f.to);
  w.Key("client_state").String(f.client_state);
  WriteHeaders(w, f);
  w.Key("hangup_cause").String(f.hangup_cause);
  w.Key("recording_id").String(f.recording_id);
  w.Key("recording_url").String(f.recording_url);
  OptTimeField(w, "recording_started_at", f.recording_started_at_ms);
  OptTimeField(w, "recording_ended_at", f.recording_ended_at_ms);
  w.Key("reason").String(f.reason);
  w.EndObject();
  return w.Take();
}

Result<WebhookFacts> FactsFromJson(std::string_view json, simdjson::dom::parser& parser) {
  auto root = core::ParseJson(parser, json);
  if (!root.ok()) return Status::Corruption("orphan webhook: " + root.status().message());
  WebhookFacts f;
  auto seq = OptInt(*root, "/seq");
  auto recorded_at = OptInt(*root, "/recorded_at");
  if (!seq || *seq <= 0 || !recorded_at) return Status::Corruption("orphan webhook: no seq");
  f.seq = uint64_t(*seq);
  f.recorded_at_ms = *recorded_at;
  f.event_type = Str(*root, "/event_type");
  f.webhook_id = Str(*root, "/webhook_id");
  f.occurred_at_ms = OptInt(*root, "/occurred_at");
  f.call_control_id = Str(*root, "/call_control_id");
  f.call_leg_id = Str(*root, "/call_leg_id");
  f.call_session_id = Str(*root, "/call_session_id");
  f.direction = Str(*root, "/direction");
  f.from = Str(*root, "/from");
  f.to = Str(*root, "/to");
  f.client_state = Str(*root, "/client_state");
  f.custom_headers = Headers(*root, "/custom_headers");  // absent in orphans of older versions
  f.hangup_cause = Str(*root, "/hangup_cause");
  f.recording_id = Str(*root, "/recording_id");
  f.recording_url = Str(*root, "/recording_url");
  f.recording_started_at_ms = OptInt(*root, "/recording_started_at");
  f.recording_ended_at_ms = OptInt(*root, "/recording_ended_at");
  f.reason = Str(*root, "/reason");
  if (f.event_type.empty()) return Status::Corruption("orphan webhook: no event_type");
  return f;
}

std::string WebhookFacts::Header(std::string_view name) const {
  for (const auto& [n, v] : custom_headers) {
    if (EqualsIgnoreCase(n, name)) return v;
  }
  return {};
}

std::optional<std::string> IntakeIdFromClientState(std::string_view client_state) {
  constexpr std::string_view kPrefix = "intake:";
  if (client_state.empty() || client_state.size() > 512) return std::nullopt;
  auto decoded = core::Base64Decode(client_state);
  if (!decoded.ok()) return std::nullopt;
  std::string_view text = *decoded;
  if (text.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string id(text.substr(kPrefix.size()));
  if (!core::IsStoredIntakeId(id)) return std::nullopt;  // old stores: up to 64
  return id;
}

std::string_view RecordingFileName(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  size_t slash = url.rfind('/');
  return slash == std::string_view::npos ? url : url.substr(slash + 1);
}

}  // namespace callrec::projector
