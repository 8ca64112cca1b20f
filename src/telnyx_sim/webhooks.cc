#include "telnyx_sim/webhooks.h"

#include <httplib.h>

#include "core/json.h"
#include "core/log.h"
#include "core/time_format.h"

namespace callrec::telnyx_sim {
namespace {

using core::JsonWriter;

// Writes the ids, client_state and connection_id every call payload starts with.
void CallHead(JsonWriter& w, const WebhookCall& call) {
  w.Key("call_control_id").String(call.ids.call_control_id);
  w.Key("call_leg_id").String(call.ids.call_leg_id);
  w.Key("call_session_id").String(call.ids.call_session_id);
}

void ClientStateAndConnection(JsonWriter& w, const WebhookCall& call) {
  w.Key("client_state").OptString(call.client_state);
  w.Key("connection_id").String(call.connection_id);
}

// SIP-originated calls carry the INVITE's X- headers; others have none (the key is absent).
void CustomHeaders(JsonWriter& w, const WebhookCall& call) {
  if (call.custom_headers.empty()) return;
  w.Key("custom_headers").BeginArray();
  for (const auto& [name, value] : call.custom_headers)
    w.BeginObject().Key("name").String(name).Key("value").String(value).EndObject();
  w.EndArray();
}

void BeginEvent(JsonWriter& w, std::string_view type, int64_t occurred_ms) {
  w.BeginObject();
  w.Key("event_type").String(type);
  w.Key("id").String(NewUuid());
  w.Key("occurred_at").String(FormatTelnyxTime(occurred_ms));
  w.Key("payload").BeginObject();
}

std::string EndEvent(JsonWriter& w) {
  w.EndObject();  // payload
  w.Key("record_type").String("event");
  w.EndObject();
  return w.Take();
}

// "http://host:port/path?q" -> {"http://host:port", "/path?q"}.
std::pair<std::string, std::string> SplitUrl(const std::string& url) {
  size_t scheme_end = url.find("://");
  size_t path_start = scheme_end == std::string::npos ? 0 : url.find('/', scheme_end + 3);
  if (path_start == std::string::npos) return {url, "/"};
  return {url.substr(0, path_start), url.substr(path_start)};
}

}  // namespace

std::string FormatTelnyxTime(int64_t unix_ms) {
  std::string s = core::FormatRfc3339Millis(unix_ms);  // ...:12.411Z
  s.insert(s.size() - 1, "000");
  return s;
}

std::string CallInitiatedData(const WebhookCall& call, int64_t occurred_ms) {
  JsonWriter w;
  BeginEvent(w, "call.initiated", occurred_ms);
  CallHead(w, call);
  ClientStateAndConnection(w, call);
  w.Key("direction").String(call.direction);
  w.Key("from").String(call.from).Key("to").String(call.to);
  // Telnyx reports an outbound leg as "bridging" and an inbound one as "parked" at this point.
  w.Key("state").String(call.direction == "incoming" ? "parked" : "bridging");
  CustomHeaders(w, call);
  return EndEvent(w);
}

// As Telnyx delivers it: no `direction` and no `state` (absent from the spec and from captured
// deliveries); the direction is only in call.initiated.
std::string CallAnsweredData(const WebhookCall& call, int64_t occurred_ms) {
  JsonWriter w;
  BeginEvent(w, "call.answered", occurred_ms);
  CallHead(w, call);
  ClientStateAndConnection(w, call);
  w.Key("from").String(call.from).Key("to").String(call.to);
  w.Key("start_time").String(FormatTelnyxTime(call.start_ms));
  w.Key("calling_party_type").String("sip");
  CustomHeaders(w, call);
  return EndEvent(w);
}

std::string CallHangupData(const WebhookCall& call, int64_t occurred_ms, std::string_view cause,
                           std::string_view source, std::string_view sip_cause) {
  JsonWriter w;
  BeginEvent(w, "call.hangup", occurred_ms);
  CallHead(w, call);
  ClientStateAndConnection(w, call);
  w.Key("from").String(call.from).Key("to").String(call.to);
  w.Key("hangup_cause").String(cause);
  w.Key("hangup_source").String(source);
  w.Key("sip_hangup_cause").String(sip_cause);
  w.Key("start_time").String(FormatTelnyxTime(call.start_ms));
  w.Key("end_time").String(FormatTelnyxTime(occurred_ms));  // no `state`: real ones have none
  return EndEvent(w);
}

std::string RecordingSavedData(const WebhookCall& call, const WebhookRecording& rec,
                               int64_t occurred_ms) {
  JsonWriter w;
  BeginEvent(w, "call.recording.saved", occurred_ms);
  WebhookCall as_reported = call;
  if (!rec.call_control_id.empty()) as_reported.ids.call_control_id = rec.call_control_id;
  CallHead(w, as_reported);
  w.Key("channels").String(rec.channels);
  ClientStateAndConnection(w, call);
  w.Key("recording_id").String(rec.recording_id);
  w.Key("recording_started_at").String(FormatTelnyxTime(rec.started_ms));
  w.Key("recording_ended_at").String(FormatTelnyxTime(rec.ended_ms));
  w.Key("recording_urls").BeginObject().Key(rec.format).String(rec.url).EndObject();
  w.Key("public_recording_urls").BeginObject().EndObject();
  w.Key("format").String(rec.format);
  w.Key("start_time").String(FormatTelnyxTime(rec.started_ms));
  w.Key("end_time").String(FormatTelnyxTime(rec.ended_ms));
  return EndEvent(w);
}

std::string RecordingErrorData(const WebhookCall& call, int64_t occurred_ms,
                               std::string_view reason) {
  JsonWriter w;
  BeginEvent(w, "call.recording.error", occurred_ms);
  CallHead(w, call);
  ClientStateAndConnection(w, call);
  w.Key("reason").String(reason);
  return EndEvent(w);
}

std::string WebhookEnvelope(std::string_view data_json, int attempt, std::string_view url) {
  JsonWriter w;
  w.BeginObject();
  w.Key("data").Raw(data_json);
  w.Key("meta").BeginObject().Key("attempt").Int(attempt).Key("delivered_to").String(url).EndObject();
  w.EndObject();
  return w.Take();
}

// ---- WebhookDispatcher ----------------------------------------------------------------------

WebhookDispatcher::WebhookDispatcher(core::Clock& clock, const Ed25519Signer& signer,
                                     Options options)
    : clock_(clock), signer_(signer), options_(options) {}

WebhookDispatcher::~WebhookDispatcher() { Stop(); }

void WebhookDispatcher::Start() { thread_ = std::thread([this] { Run(); }); }

void WebhookDispatcher::Stop() {
  {
    core::MutexLock lock(mu_);
    stop_ = true;
    ready_.clear();
    delayed_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WebhookDispatcher::Emit(const std::string& url, std::string data_json, bool duplicate) {
  thread_local simdjson::dom::parser parser;
  Pending p;
  p.url = url;
  if (auto root = core::ParseJson(parser, data_json); root.ok()) {
    p.event_id = std::string(core::JsonString(*root, "/id").value_or(""));
    p.event_type = std::string(core::JsonString(*root, "/event_type").value_or(""));
  }
  p.data_json = std::move(data_json);
  {
    core::MutexLock lock(mu_);
    if (stop_) return;
    ready_.push_back(p);
    if (duplicate) {
      p.attempt = 2;
      ready_.push_back(std::move(p));
    }
  }
  cv_.notify_all();
}

std::vector<DeliveryRecord> WebhookDispatcher::Records() const {
  core::MutexLock lock(mu_);
  return records_;
}

bool WebhookDispatcher::WaitIdle(std::chrono::milliseconds timeout) {
  core::MutexLock lock(mu_);
  return cv_.wait_for(lock, timeout, [&]() REQUIRES(mu_) {
    return ready_.empty() && delayed_.empty() && !in_flight_;
  });
}

bool WebhookDispatcher::WaitForAttempts(size_t n, std::chrono::milliseconds timeout) {
  core::MutexLock lock(mu_);
  return cv_.wait_for(lock, timeout, [&]() REQUIRES(mu_) { return records_.size() >= n; });
}

void WebhookDispatcher::PromoteDue() {
  int64_t now = clock_.WallMillis();
  for (auto it = delayed_.begin(); it != delayed_.end();) {
    if (it->due_ms <= now) {
      ready_.push_back(std::move(*it));
      it = delayed_.erase(it);
    } else {
      ++it;
    }
  }
}

void WebhookDispatcher::Run() {
  core::MutexLock lock(mu_);
  while (!stop_) {
    PromoteDue();
    if (ready_.empty()) {
      // Retries wait on the injected clock, which a test may move at any time: look again soon.
      if (delayed_.empty()) cv_.wait(lock);
      else cv_.wait_for(lock, std::chrono::milliseconds(10));
      continue;
    }
    Pending p = std::move(ready_.front());
    ready_.pop_front();
    in_flight_ = true;
    mu_.Unlock();
    DeliveryRecord rec = Deliver(p);
    mu_.Lock();
    in_flight_ = false;
    bool delivered = rec.status >= 200 && rec.status < 300;
    records_.push_back(std::move(rec));
    if (!delivered && p.attempt < options_.max_attempts && !stop_) {
      p.attempt += 1;
      p.due_ms = clock_.WallMillis() + options_.retry_delay.count();
      delayed_.push_back(std::move(p));
    }
    cv_.notify_all();
  }
}

DeliveryRecord WebhookDispatcher::Deliver(const Pending& p) {
  DeliveryRecord rec{p.event_id, p.event_type, p.attempt, p.url, 0, "", clock_.WallMillis()};
  std::string body = WebhookEnvelope(p.data_json, p.attempt, p.url);
  std::string timestamp = std::to_string(rec.at_ms / 1000);
  auto signature = signer_.Sign(timestamp + "|" + body);
  if (!signature.ok()) {
    rec.error = signature.status().ToString();
    return rec;
  }
  auto [origin, path] = SplitUrl(p.url);
  httplib::Client client(origin);
  auto secs = [](std::chrono::milliseconds ms) { return time_t(ms.count() / 1000); };
  auto usecs = [](std::chrono::milliseconds ms) { return time_t(ms.count() % 1000 * 1000); };
  client.set_connection_timeout(secs(options_.timeout), usecs(options_.timeout));
  client.set_read_timeout(secs(options_.timeout), usecs(options_.timeout));
  client.set_write_timeout(secs(options_.timeout), usecs(options_.timeout));
  httplib::Headers headers = {{"telnyx-signature-ed25519", core::Base64Encode(*signature)},
                              {"telnyx-timestamp", timestamp},
                              {"User-Agent", "telnyx-sim/1"}};
  auto res = client.Post(path.c_str(), headers, body, "application/json");
  if (res) rec.status = res->status;
  else rec.error = httplib::to_string(res.error());
  core::LogInfo("sim.webhook.delivery", {{"event_type", rec.event_type},
                                         {"event_id", rec.event_id},
                                         {"attempt", rec.attempt},
                                         {"status", rec.status},
                                         {"error", rec.error}});
  return rec;
}

}  // namespace callrec::telnyx_sim
