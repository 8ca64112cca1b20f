#include "telnyx_sim/config.h"

#include <limits>
#include <random>

#include "core/json.h"

namespace callrec::telnyx_sim {
namespace {

using core::JsonWriter;
using core::Result;
using core::Status;

// One integer or boolean field of SimFaults, named as in its JSON.
struct FaultField {
  const char* name;
  int SimFaults::*int_field = nullptr;
  int64_t SimFaults::*int64_field = nullptr;
  bool SimFaults::*bool_field = nullptr;
  int64_t min = 0;
  int64_t max = std::numeric_limits<int>::max();
};

const FaultField kFaultFields[] = {
    {"rate_limit_next", &SimFaults::rate_limit_next},
    {"rate_limit_limit", &SimFaults::rate_limit_limit},
    {"rate_limit_reset_s", &SimFaults::rate_limit_reset_s},
    {"retry_after_s", &SimFaults::retry_after_s, nullptr, nullptr, -1},
    {"server_error_next", &SimFaults::server_error_next},
    {"server_error_status", &SimFaults::server_error_status, nullptr, nullptr, 500, 599},
    {"latency_ms", &SimFaults::latency_ms, nullptr, nullptr, 0, 60'000},
    {"latency_max_ms", &SimFaults::latency_max_ms, nullptr, nullptr, 0, 60'000},
    {"media_latency_ms", &SimFaults::media_latency_ms, nullptr, nullptr, 0, 60'000},
    {"media_latency_max_ms", &SimFaults::media_latency_max_ms, nullptr, nullptr, 0, 60'000},
    {"recording_delay_ms", nullptr, &SimFaults::recording_delay_ms, nullptr, 0,
     int64_t{365} * 86'400'000},
    {"recordings_missing", nullptr, nullptr, &SimFaults::recordings_missing},
    {"foreign_recordings", &SimFaults::foreign_recordings, nullptr, nullptr, 0, 50},
    {"record_start_90020_next", &SimFaults::record_start_90020_next},
    {"record_start_lose_answer_next", &SimFaults::record_start_lose_answer_next},
    {"recording_ccid_is_leg_id", nullptr, nullptr, &SimFaults::recording_ccid_is_leg_id},
    {"recordings_list_404_when_empty", nullptr, nullptr, &SimFaults::recordings_list_404_when_empty},
    {"wav_streaming_header", nullptr, nullptr, &SimFaults::wav_streaming_header},
    {"storage_error_next", &SimFaults::storage_error_next},
    {"storage_error_status", &SimFaults::storage_error_status, nullptr, nullptr, 500, 599},
    {"storage_tus_break_next", &SimFaults::storage_tus_break_next},
    {"storage_tus_break_after", &SimFaults::storage_tus_break_after},
};

Status CheckRange(const FaultField& f, int64_t v) {
  if (v < f.min || v > f.max) {
    return Status::InvalidArgument(std::string(f.name) + " must be in [" + std::to_string(f.min) +
                                   ", " + std::to_string(f.max) + "], got " + std::to_string(v));
  }
  return Status::Ok();
}

Status SetField(const FaultField& f, simdjson::dom::element value, SimFaults& out) {
  if (f.bool_field != nullptr) {
    bool b;
    if (value.get_bool().get(b)) return Status::InvalidArgument(std::string(f.name) + " must be a boolean");
    out.*f.bool_field = b;
    return Status::Ok();
  }
  int64_t v;
  if (value.get_int64().get(v)) return Status::InvalidArgument(std::string(f.name) + " must be an integer");
  CALLREC_RETURN_IF_ERROR(CheckRange(f, v));
  if (f.int_field != nullptr) out.*f.int_field = int(v);
  else out.*f.int64_field = v;
  return Status::Ok();
}

// Reads an optional string member; kInvalidArgument when present but not a string.
Status ReadString(simdjson::dom::object obj, const char* key, std::string& out) {
  simdjson::dom::element e;
  if (obj[key].get(e)) return Status::Ok();
  std::string_view s;
  if (e.get_string().get(s)) return Status::InvalidArgument(std::string(key) + " must be a string");
  out = std::string(s);
  return Status::Ok();
}

Status ReadBool(simdjson::dom::object obj, const char* key, bool& out) {
  simdjson::dom::element e;
  if (obj[key].get(e)) return Status::Ok();
  if (e.get_bool().get(out)) return Status::InvalidArgument(std::string(key) + " must be a boolean");
  return Status::Ok();
}

Status ReadInt(simdjson::dom::object obj, const char* key, int64_t& out) {
  simdjson::dom::element e;
  if (obj[key].get(e)) return Status::Ok();
  if (e.get_int64().get(out)) return Status::InvalidArgument(std::string(key) + " must be an integer");
  if (out > int64_t{86'400'000}) return Status::InvalidArgument(std::string(key) + " is over a day");
  return Status::Ok();
}

// "custom_headers":[{"name":"X-Intake-Id","value":"..."}]
Status ReadHeaders(simdjson::dom::object obj, std::vector<std::pair<std::string, std::string>>& out) {
  simdjson::dom::element e;
  if (obj["custom_headers"].get(e)) return Status::Ok();
  simdjson::dom::array arr;
  if (e.get_array().get(arr)) return Status::InvalidArgument("custom_headers must be an array");
  for (simdjson::dom::element item : arr) {
    std::string_view name, value;
    if (item["name"].get_string().get(name) || name.empty() || item["value"].get_string().get(value))
      return Status::InvalidArgument("custom_headers entries must be {\"name\",\"value\"} strings");
    out.emplace_back(std::string(name), std::string(value));
  }
  return Status::Ok();
}

bool IsE164ish(std::string_view s) {
  if (s.size() < 2 || s.size() > 16 || s[0] != '+') return false;
  for (char c : s.substr(1))
    if (c < '0' || c > '9') return false;
  return true;
}

const char* const kCallKeys[] = {
    "to", "from", "direction", "webhook_url", "client_state", "connection_id", "answer_after_ms",
    "hangup_after_ms", "send_recording_saved", "duplicate_webhooks", "hangup_before_answered",
    "auto_record", "hangup_cause", "hangup_source", "sip_hangup_cause", "recording_delay_ms",
    "recording_missing", "recording_error", "custom_headers", "drop_hangup_webhook"};

Status CheckCallKeys(simdjson::dom::object obj) {
  for (auto [key, value] : obj) {
    bool known = false;
    for (const char* k : kCallKeys) known = known || key == k;
    if (!known) return Status::InvalidArgument("unknown field \"" + std::string(key) + "\"");
  }
  return Status::Ok();
}

Status ReadCallSpec(simdjson::dom::object obj, CallSpec& spec) {
  CALLREC_RETURN_IF_ERROR(CheckCallKeys(obj));
  CALLREC_RETURN_IF_ERROR(ReadString(obj, "to", spec.to));
  CALLREC_RETURN_IF_ERROR(ReadString(obj, "from", spec.from));
  CALLREC_RETURN_IF_ERROR(ReadString(obj, "direction", spec.direction));
  CALLREC_RETURN_IF_ERROR(ReadString(obj, "webhook_url", spec.webhook_url));
  CALLREC_RETURN_IF_ERROR(ReadString(obj, "connection_id", spec.connection_id));
  CALLREC_RETURN_IF_ERROR(ReadString(obj, "hangup_cause", spec.hangup_cause));
  CALLREC_RETURN_IF_ERROR(ReadString(obj, "hangup_source", spec.hangup_source));
  CALLREC_RETURN_IF_ERROR(ReadString(obj, "sip_hangup_cause", spec.sip_hangup_cause));
  simdjson::dom::element cs;
  if (!obj["client_state"].get(cs) && !cs.is_null()) {
    std::string state;
    CALLREC_RETURN_IF_ERROR(ReadString(obj, "client_state", state));
    spec.client_state = state;
  }
  CALLREC_RETURN_IF_ERROR(ReadInt(obj, "answer_after_ms", spec.answer_after_ms));
  CALLREC_RETURN_IF_ERROR(ReadInt(obj, "hangup_after_ms", spec.hangup_after_ms));
  simdjson::dom::element delay;
  if (!obj["recording_delay_ms"].get(delay)) {
    int64_t d = 0;
    CALLREC_RETURN_IF_ERROR(ReadInt(obj, "recording_delay_ms", d));
    if (d < 0) return Status::InvalidArgument("recording_delay_ms must be >= 0");
    spec.recording_delay_ms = d;
  }
  CALLREC_RETURN_IF_ERROR(ReadBool(obj, "send_recording_saved", spec.send_recording_saved));
  CALLREC_RETURN_IF_ERROR(ReadBool(obj, "duplicate_webhooks", spec.duplicate_webhooks));
  CALLREC_RETURN_IF_ERROR(ReadBool(obj, "hangup_before_answered", spec.hangup_before_answered));
  CALLREC_RETURN_IF_ERROR(ReadBool(obj, "auto_record", spec.auto_record));
  CALLREC_RETURN_IF_ERROR(ReadBool(obj, "recording_missing", spec.recording_missing));
  CALLREC_RETURN_IF_ERROR(ReadHeaders(obj, spec.custom_headers));
  CALLREC_RETURN_IF_ERROR(ReadBool(obj, "drop_hangup_webhook", spec.drop_hangup_webhook));
  return ReadBool(obj, "recording_error", spec.recording_error);
}

Status ValidateCallSpec(const CallSpec& spec) {
  if (spec.to.empty()) return Status::InvalidArgument("to is required");
  if (!IsE164ish(spec.to)) return Status::InvalidArgument("to must be +E.164 (e.g. +15550123456)");
  if (!IsE164ish(spec.from)) return Status::InvalidArgument("from must be +E.164");
  if (spec.direction != "outgoing" && spec.direction != "incoming")
    return Status::InvalidArgument("direction must be outgoing or incoming");
  if (!spec.webhook_url.empty() && spec.webhook_url.rfind("http://", 0) != 0 &&
      spec.webhook_url.rfind("https://", 0) != 0)
    return Status::InvalidArgument("webhook_url must start with http:// or https://");
  if (spec.hangup_cause.empty() || spec.hangup_source.empty())
    return Status::InvalidArgument("hangup_cause and hangup_source must not be empty");
  return Status::Ok();
}

}  // namespace

std::string FaultsToJson(const SimFaults& faults) {
  JsonWriter w;
  w.BeginObject();
  for (const FaultField& f : kFaultFields) {
    w.Key(f.name);
    if (f.bool_field != nullptr) w.Bool(faults.*f.bool_field);
    else if (f.int_field != nullptr) w.Int(faults.*f.int_field);
    else w.Int(faults.*f.int64_field);
  }
  w.EndObject();
  return w.Take();
}

std::chrono::milliseconds SimDelay(int lo, int hi) {
  if (hi <= lo) return std::chrono::milliseconds(lo);
  thread_local std::mt19937 rng(std::random_device{}());
  return std::chrono::milliseconds(std::uniform_int_distribution<int>(lo, hi)(rng));
}

Status ValidateFaults(const SimFaults& faults) {
  for (const FaultField& f : kFaultFields) {
    if (f.int_field != nullptr) CALLREC_RETURN_IF_ERROR(CheckRange(f, faults.*f.int_field));
    if (f.int64_field != nullptr) CALLREC_RETURN_IF_ERROR(CheckRange(f, faults.*f.int64_field));
  }
  return Status::Ok();
}

Status ApplyFaultsJson(std::string_view json, const SimFaults& defaults, SimFaults& faults) {
  simdjson::dom::parser parser;
  CALLREC_ASSIGN_OR_RETURN(simdjson::dom::element root, core::ParseJson(parser, json));
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return Status::InvalidArgument("faults must be a JSON object");
  SimFaults next = faults;
  simdjson::dom::element reset;
  if (!obj["reset"].get(reset)) {
    bool r;
    if (reset.get_bool().get(r)) return Status::InvalidArgument("reset must be a boolean");
    if (r) next = defaults;
  }
  for (auto [key, value] : obj) {
    if (key == "reset") continue;
    const FaultField* field = nullptr;
    for (const FaultField& f : kFaultFields)
      if (key == f.name) field = &f;
    if (field == nullptr) return Status::InvalidArgument("unknown fault \"" + std::string(key) + "\"");
    CALLREC_RETURN_IF_ERROR(SetField(*field, value, next));
  }
  faults = next;
  return Status::Ok();
}

Result<CallSpec> ParseCallSpecJson(std::string_view json) {
  simdjson::dom::parser parser;
  CALLREC_ASSIGN_OR_RETURN(simdjson::dom::element root, core::ParseJson(parser, json));
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return Status::InvalidArgument("the call must be a JSON object");
  CallSpec spec;
  CALLREC_RETURN_IF_ERROR(ReadCallSpec(obj, spec));
  CALLREC_RETURN_IF_ERROR(ValidateCallSpec(spec));
  return spec;
}

std::string CallSpecToJson(const CallSpec& spec) {
  JsonWriter w;
  w.BeginObject();
  w.Key("to").String(spec.to).Key("from").String(spec.from);
  w.Key("direction").String(spec.direction);
  if (!spec.webhook_url.empty()) w.Key("webhook_url").String(spec.webhook_url);
  if (spec.client_state) w.Key("client_state").String(*spec.client_state);
  if (!spec.custom_headers.empty()) {
    w.Key("custom_headers").BeginArray();
    for (const auto& [name, value] : spec.custom_headers)
      w.BeginObject().Key("name").String(name).Key("value").String(value).EndObject();
    w.EndArray();
  }
  if (!spec.connection_id.empty()) w.Key("connection_id").String(spec.connection_id);
  w.Key("answer_after_ms").Int(spec.answer_after_ms);
  w.Key("hangup_after_ms").Int(spec.hangup_after_ms);
  w.Key("send_recording_saved").Bool(spec.send_recording_saved);
  w.Key("duplicate_webhooks").Bool(spec.duplicate_webhooks);
  w.Key("hangup_before_answered").Bool(spec.hangup_before_answered);
  w.Key("auto_record").Bool(spec.auto_record);
  w.Key("hangup_cause").String(spec.hangup_cause);
  w.Key("hangup_source").String(spec.hangup_source);
  w.Key("sip_hangup_cause").String(spec.sip_hangup_cause);
  if (spec.recording_delay_ms) w.Key("recording_delay_ms").Int(*spec.recording_delay_ms);
  w.Key("recording_missing").Bool(spec.recording_missing);
  w.Key("recording_error").Bool(spec.recording_error);
  w.Key("drop_hangup_webhook").Bool(spec.drop_hangup_webhook);
  w.EndObject();
  return w.Take();
}

std::string CallIdsToJson(const CallIds& ids) {
  JsonWriter w;
  w.BeginObject();
  w.Key("call_control_id").String(ids.call_control_id);
  w.Key("call_leg_id").String(ids.call_leg_id);
  w.Key("call_session_id").String(ids.call_session_id);
  w.EndObject();
  return w.Take();
}

SimFaults FaultBox::Get() const {
  core::MutexLock lock(mu_);
  return faults_;
}

Result<std::string> FaultBox::Apply(std::string_view json) {
  core::MutexLock lock(mu_);
  CALLREC_RETURN_IF_ERROR(ApplyFaultsJson(json, defaults_, faults_));
  return FaultsToJson(faults_);
}

bool FaultBox::TakeRateLimit(SimFaults* snapshot) {
  core::MutexLock lock(mu_);
  if (faults_.rate_limit_next <= 0) return false;
  --faults_.rate_limit_next;
  *snapshot = faults_;
  return true;
}

int FaultBox::TakeServerError() {
  core::MutexLock lock(mu_);
  if (faults_.server_error_next <= 0) return 0;
  --faults_.server_error_next;
  return faults_.server_error_status;
}

int FaultBox::TakeStorageError() {
  core::MutexLock lock(mu_);
  if (faults_.storage_error_next <= 0) return 0;
  --faults_.storage_error_next;
  return faults_.storage_error_status;
}

int FaultBox::TakeTusBreak() {
  core::MutexLock lock(mu_);
  if (faults_.storage_tus_break_next <= 0) return -1;
  --faults_.storage_tus_break_next;
  return faults_.storage_tus_break_after;
}

bool FaultBox::TakeRecordStart90020() {
  core::MutexLock lock(mu_);
  if (faults_.record_start_90020_next <= 0) return false;
  --faults_.record_start_90020_next;
  return true;
}

bool FaultBox::TakeRecordStartLoseAnswer() {
  core::MutexLock lock(mu_);
  if (faults_.record_start_lose_answer_next <= 0) return false;
  --faults_.record_start_lose_answer_next;
  return true;
}

}  // namespace callrec::telnyx_sim
