// event_builders.h — events as the other modules append them, for projector tests.
//
// Shapes follow docs/ARCHITECTURE.md (event catalogue, API envelope) and the Telnyx webhook
// samples in data/webhooks/. Builders leave seq at 0: the test assigns seqs in the order it
// applies events, as the store would.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/event.h"
#include "core/event_types.h"
#include "core/json.h"
#include "core/time_format.h"

namespace callrec::testing {

inline constexpr int64_t kT0 = 1795186800000;  // 2026-11-20T15:00:00.000Z
inline constexpr int64_t kSec = 1000;
inline constexpr int64_t kMin = 60 * kSec;

inline core::Event MakeEvent(std::string_view type, std::string_view source, std::string intake_id,
                             int64_t at, std::string payload) {
  core::Event e;
  e.type = std::string(type);
  e.source = std::string(source);
  e.intake_id = std::move(intake_id);
  e.recorded_at_ms = at;
  e.payload = std::move(payload);
  return e;
}

inline core::Event ServiceStarted(int64_t at, std::string_view mode = "manual",
                                  int64_t match_window_ms = 10 * kMin) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("version").String("test");
  w.Key("record_mode").String(mode);
  w.Key("match_window_ms").Int(match_window_ms);
  w.Key("fetch_delay_ms").Int(2 * kMin);
  w.Key("fetch_interval_ms").Int(kMin);
  w.Key("fetch_max_attempts").Int(10);
  w.Key("storage").String("none");
  w.Key("delete_after_upload").Bool(false);
  w.EndObject();
  return MakeEvent(core::event_type::kServiceStarted, core::source::kOperator, "", at, w.Take());
}

// `metadata_json` is embedded raw (a JSON object, or "" for none).
inline core::Event IntakeCreated(int64_t at, const std::string& id, std::string_view phone,
                                 std::optional<std::string> patient_id = std::nullopt,
                                 std::string_view metadata_json = "") {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("id").String(id);
  w.Key("patient_phone").String(phone);
  w.Key("patient_id").OptString(patient_id);
  if (!metadata_json.empty()) w.Key("metadata").Raw(metadata_json);
  w.EndObject();
  core::Event e = MakeEvent(core::event_type::kIntakeCreated, core::source::kApi, id, at, w.Take());
  e.idempotency_key = "intake.created:" + id;
  return e;
}

struct Call {
  std::string ccid = "v3:ccid-1";
  std::string leg = "leg-1";
  std::string session = "session-1";
  std::string from = "+15550100200";  // the clinic
  std::string to = "+15550123456";    // the patient
  std::string direction = "outgoing";
};

// Optional payload members of one webhook beyond the call ids.
struct WebhookExtras {
  std::optional<std::string> client_state;
  std::string hangup_cause = "normal_clearing";
  std::string recording_id = "rec-1";
  std::string recording_url;  // full URL; empty: none
  std::optional<int64_t> recording_started_at;
  std::optional<int64_t> recording_ended_at;
  std::string reason = "Internal server error";
  // custom_headers [{name, value}] (call.initiated / call.answered of SIP calls)
  std::vector<std::pair<std::string, std::string>> custom_headers;
  // call.answered as older callrec versions and simulators wrote it, with a `direction` (real
  // ones have none): stores holding such bodies must replay as before.
  bool legacy_answered_direction = false;
};

// A Telnyx v2 envelope {"data":{event_type,id,occurred_at,payload,record_type},"meta":{...}}.
inline core::Event Webhook(int64_t at, std::string_view type, const std::string& data_id,
                           const Call& call, std::optional<int64_t> occurred_at = std::nullopt,
                           const WebhookExtras& x = {}) {
  core::JsonWriter w;
  w.BeginObject().Key("data").BeginObject();
  w.Key("event_type").String(type);
  w.Key("id").String(data_id);
  w.Key("occurred_at").String(core::FormatRfc3339Millis(occurred_at.value_or(at)));
  w.Key("payload").BeginObject();
  w.Key("call_control_id").String(call.ccid);
  w.Key("call_leg_id").String(call.leg);
  w.Key("call_session_id").String(call.session);
  w.Key("client_state").OptString(x.client_state);
  w.Key("connection_id").String("1684641123236054244");
  if (type == "call.initiated" || (type == "call.answered" && x.legacy_answered_direction))
    w.Key("direction").String(call.direction);
  if (type != "call.recording.saved" && type != "call.recording.error") {
    w.Key("from").String(call.from);
    w.Key("to").String(call.to);
  }
  if (type == "call.hangup") {
    w.Key("hangup_cause").String(x.hangup_cause);
    w.Key("hangup_source").String("callee");
  }
  if (type == "call.recording.saved") {
    w.Key("channels").String("dual");
    w.Key("recording_id").String(x.recording_id);
    if (x.recording_started_at)
      w.Key("recording_started_at").String(core::FormatRfc3339Millis(*x.recording_started_at));
    if (x.recording_ended_at)
      w.Key("recording_ended_at").String(core::FormatRfc3339Millis(*x.recording_ended_at));
    w.Key("recording_urls").BeginObject();
    if (!x.recording_url.empty()) w.Key("wav").String(x.recording_url);
    w.EndObject();
    w.Key("public_recording_urls").BeginObject().EndObject();
  }
  if (type == "call.recording.error") w.Key("reason").String(x.reason);
  if (!x.custom_headers.empty()) {
    w.Key("custom_headers").BeginArray();
    for (const auto& [name, value] : x.custom_headers)
      w.BeginObject().Key("name").String(name).Key("value").String(value).EndObject();
    w.EndArray();
  }
  w.EndObject();  // payload
  w.Key("record_type").String("event");
  w.EndObject();  // data
  w.Key("meta").BeginObject().Key("attempt").Int(1).EndObject();
  w.EndObject();
  core::Event e = MakeEvent(core::event_type::kTelnyxWebhook, core::source::kTelnyxWebhook, "", at, w.Take());
  e.idempotency_key = "telnyx:" + data_id;
  return e;
}

// The download URL Telnyx gives a recording made with custom_file_name = <file_stem>.
inline std::string RecordingUrl(std::string_view file_stem, int64_t unix_seconds = 1795187352) {
  return "https://s3.amazonaws.com/telephony-recorder-prod/acct/2026-11-20/" +
         std::string(file_stem) + "-" + std::to_string(unix_seconds) +
         ".wav?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=600&X-Amz-Signature=abc";
}

inline std::string ClientStateFor(std::string_view intake_id) {
  return core::Base64Encode("intake:" + std::string(intake_id));
}

// The API envelope: {"request","status","duration_ms","outcome","error","retry_at","body"}.
inline std::string Envelope(std::string_view method, std::string_view path,
                            std::string_view outcome, int status, std::string_view body_json,
                            std::optional<std::string> error = std::nullopt,
                            std::optional<int64_t> retry_at = std::nullopt) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("request").BeginObject().Key("method").String(method).Key("path").String(path).EndObject();
  w.Key("status").Int(status);
  w.Key("duration_ms").Int(12);
  w.Key("outcome").String(outcome);
  w.Key("error").OptString(error);
  w.Key("retry_at");
  if (retry_at) {
    w.String(core::FormatRfc3339Millis(*retry_at));
  } else {
    w.Null();
  }
  w.Key("body");
  if (body_json.empty()) {
    w.Null();
  } else {
    w.Payload(body_json);
  }
  w.EndObject();
  return w.Take();
}

inline core::Event RecordStart(int64_t at, const std::string& id, std::string_view outcome,
                               int status = 200, std::string_view body = R"({"data":{"result":"ok"}})",
                               std::optional<std::string> error = std::nullopt) {
  return MakeEvent(core::event_type::kTelnyxRecordStart, core::source::kTelnyxApi, id, at,
                   Envelope("POST", "/v2/calls/v3%3Accid-1/actions/record_start", outcome, status,
                            body, std::move(error)));
}

inline core::Event FetchScheduled(int64_t at, const std::string& id, int query, int attempts,
                                  int64_t due_at, std::string_view reason = "hangup") {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("query").Int(query);
  w.Key("fetch_attempts").Int(attempts);
  w.Key("due_at").String(core::FormatRfc3339Millis(due_at));
  w.Key("reason").String(reason);
  w.EndObject();
  return MakeEvent(core::event_type::kRecordingFetchScheduled, core::source::kScheduler, id, at, w.Take());
}

inline core::Event RecordingsList(int64_t at, const std::string& id, std::string_view outcome,
                                  int status = 200,
                                  std::string_view body = R"({"data":[],"meta":{"total_results":0}})",
                                  std::optional<std::string> error = std::nullopt) {
  std::string env = Envelope("GET", "/v2/recordings?filter[call_leg_id]=leg-1", outcome, status,
                             body, std::move(error));
  env.pop_back();  // the list result adds what the matcher saw
  env += R"(,"candidates":0,"verified":0,"verified_ids":[]})";
  return MakeEvent(core::event_type::kTelnyxRecordingsList, core::source::kTelnyxApi, id, at, env);
}

inline core::Event Matched(int64_t at, const std::string& id, std::string_view recording_id,
                           std::string_view url, double duration_s) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("recording_id").String(recording_id);
  w.Key("recording_url_telnyx").String(url);
  w.Key("recording_duration").Double(duration_s);
  w.Key("recording_created_at").String(core::FormatRfc3339Millis(at - 5 * kSec));
  w.Key("channels").String("dual");
  w.Key("verified_ids").BeginArray().String(recording_id).EndArray();
  w.Key("via").String("poll");
  w.EndObject();
  return MakeEvent(core::event_type::kRecordingMatched, core::source::kScheduler, id, at, w.Take());
}

inline core::Event RecordingGet(int64_t at, const std::string& id, std::string_view outcome,
                                std::string_view body, int status = 200) {
  return MakeEvent(core::event_type::kTelnyxRecordingGet, core::source::kTelnyxApi, id, at,
                   Envelope("GET", "/v2/recordings/rec-1", outcome, status, body));
}

struct Upload {
  std::string outcome = "ok";
  std::string stage = "upload";
  std::string location;
  std::optional<std::string> sha256;
  std::optional<std::string> error;
  std::optional<int64_t> retry_at;
  int attempt = 1;
};

inline Upload UploadOk(std::string location, std::optional<std::string> sha256 = std::nullopt) {
  Upload u;
  u.location = std::move(location);
  u.sha256 = std::move(sha256);
  return u;
}
inline Upload UploadTransient(std::string error, std::optional<int64_t> retry_at = std::nullopt) {
  Upload u;
  u.outcome = "transient";
  u.error = std::move(error);
  u.retry_at = retry_at;
  return u;
}
inline Upload UploadFailed(std::string stage, std::string error) {
  Upload u;
  u.outcome = "failed";
  u.stage = std::move(stage);
  u.error = std::move(error);
  return u;
}

inline core::Event StorageUpload(int64_t at, const std::string& id, const Upload& u) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("outcome").String(u.outcome);
  w.Key("stage").String(u.stage);
  w.Key("bytes").Int(5357100);
  w.Key("sha256").OptString(u.sha256);
  w.Key("format").String("wav");
  w.Key("location").String(u.location);
  w.Key("status").Int(u.outcome == "ok" ? 200 : 503);
  w.Key("duration_ms").Int(80);
  w.Key("error").OptString(u.error);
  w.Key("retry_at");
  if (u.retry_at) {
    w.String(core::FormatRfc3339Millis(*u.retry_at));
  } else {
    w.Null();
  }
  w.Key("attempt").Int(u.attempt);
  w.EndObject();
  return MakeEvent(core::event_type::kStorageUpload, core::source::kStorage, id, at, w.Take());
}

inline core::Event RecordingDelete(int64_t at, const std::string& id, std::string_view outcome,
                                   int status = 200) {
  return MakeEvent(core::event_type::kTelnyxRecordingDelete, core::source::kTelnyxApi, id, at,
                   Envelope("DELETE", "/v2/recordings/rec-1", outcome, status, R"({"data":{}})"));
}

inline core::Event IntakeFailed(int64_t at, const std::string& id, std::string_view reason,
                                std::string_view error) {
  core::JsonWriter w;
  w.BeginObject().Key("reason").String(reason).Key("error").String(error).EndObject();
  return MakeEvent(core::event_type::kIntakeFailed, core::source::kScheduler, id, at, w.Take());
}

// GET /v2/calls/{id}: `alive` nullopt for a non-2xx answer; `retry_at` is the next check.
inline core::Event CallStatus(int64_t at, const std::string& id, std::optional<bool> alive,
                              int status = 200, std::optional<int64_t> retry_at = std::nullopt) {
  std::string body = alive ? std::string(R"({"data":{"call_control_id":"v3:ccid-1","call_leg_id":"leg-1",)"
                                         R"("call_session_id":"session-1","client_state":null,"is_alive":)") +
                                 (*alive ? "true" : "false") + R"(,"call_duration":50,"record_type":"call"}})"
                           : R"({"errors":[{"code":"10005","title":"Resource not found"}]})";
  std::string outcome = alive ? "ok" : status >= 500 ? "transient" : "failed";
  return MakeEvent(core::event_type::kTelnyxCallStatus, core::source::kTelnyxApi, id, at,
                   Envelope("GET", "/v2/calls/v3%3Accid-1", outcome, status, body, std::nullopt,
                            retry_at));
}

inline core::Event PresumedEnded(int64_t at, const std::string& id, std::string_view reason,
                                 int64_t ended_at) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("reason").String(reason).Key("detail").String("test");
  w.Key("ended_at").String(core::FormatRfc3339Millis(ended_at));
  w.Key("call_duration").Int(50).Key("checks").Int(1);
  w.EndObject();
  return MakeEvent(core::event_type::kCallPresumedEnded, core::source::kScheduler, id, at, w.Take());
}

inline core::Event RetryRequested(int64_t at, const std::string& id) {
  return MakeEvent(core::event_type::kIntakeRetryRequested, core::source::kOperator, id, at, R"({"via":"api"})");
}

}  // namespace callrec::testing
