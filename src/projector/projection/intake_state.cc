#include "projector/projection/intake_state.h"

#include <array>
#include <charconv>
#include <cmath>

#include <simdjson.h>

#include "core/json.h"
#include "core/time_format.h"

namespace callrec::projector {
namespace {

using core::JsonWriter;
using core::Result;
using core::Status;

constexpr std::array<std::string_view, 7> kStateNames = {
    "created", "answered", "recording", "ended", "fetched", "stored", "failed"};
constexpr std::array<std::string_view, 5> kReasonNames = {
    "record_start_failed", "recording_not_found", "download_failed", "upload_failed", "gave_up"};

// Every metadata key the projector writes, in the order it writes them: the seed's first (§4).
constexpr std::array<std::string_view, 29> kReservedKeys = {
    "call_control_id",      "call_session_id",       "call_leg_id",
    "recording_started_at", "recording_id",          "recording_url_telnyx",
    "recording_duration",   "recording_fetched_at",  "recording_url_supabase",
    "recording_migrated_at", "recording_url_storage", "answered_at",
    "hangup_at",            "hangup_cause",          "record_start_attempts",
    "record_start_last_at", "fetch_queries",         "first_query_at",
    "storage_attempts",     "recording_sha256",      "recording_deleted_at",
    "delete_attempts",      "verified_ids",          "match",
    "match_candidates",     "call_direction",        "call_direction_source",
    "record_start_retries", "call_status_checks"};

// `"key":"2026-...Z"` or `"key":null`.
void TimeField(JsonWriter& w, std::string_view key, const std::optional<int64_t>& ms) {
  w.Key(key);
  if (ms) {
    w.String(core::FormatRfc3339Millis(*ms));
  } else {
    w.Null();
  }
}

void WriteMetadata(JsonWriter& w, const IntakeState& s) {
  w.BeginObject();
  w.Key("call_control_id").OptString(s.call_control_id);
  w.Key("call_session_id").OptString(s.call_session_id);
  w.Key("call_leg_id").OptString(s.call_leg_id);
  TimeField(w, "recording_started_at", s.recording_started_at_ms);
  w.Key("recording_id").OptString(s.recording_id);
  w.Key("recording_url_telnyx").OptString(s.recording_url_telnyx);
  w.Key("recording_duration");
  if (s.recording_duration_ms) {
    w.Int(*s.recording_duration_ms);
  } else {
    w.Null();
  }
  TimeField(w, "recording_fetched_at", s.recording_fetched_at_ms);
  w.Key("recording_url_supabase").OptString(s.recording_url_supabase);
  TimeField(w, "recording_migrated_at", s.recording_migrated_at_ms);
  w.Key("recording_url_storage").OptString(s.recording_url_storage);
  TimeField(w, "answered_at", s.answered_at_ms);
  TimeField(w, "hangup_at", s.hangup_at_ms);
  w.Key("hangup_cause").OptString(s.hangup_cause);
  w.Key("record_start_attempts").Int(s.record_start_attempts);
  TimeField(w, "record_start_last_at", s.record_start_last_at_ms);
  w.Key("fetch_queries").Int(s.fetch_queries);
  TimeField(w, "first_query_at", s.first_query_at_ms);
  w.Key("storage_attempts").Int(s.storage_attempts);
  w.Key("recording_sha256").OptString(s.recording_sha256);
  TimeField(w, "recording_deleted_at", s.recording_deleted_at_ms);
  w.Key("delete_attempts").Int(s.delete_attempts);
  w.Key("verified_ids").BeginArray();
  for (const auto& id : s.verified_ids) w.String(id);
  w.EndArray();
  w.Key("match").OptString(s.match);
  w.Key("match_candidates").BeginArray();
  for (const auto& id : s.match_candidates) w.String(id);
  w.EndArray();
  w.Key("call_direction").OptString(s.call_direction);
  w.Key("call_direction_source").OptString(s.call_direction_source);
  w.Key("record_start_retries").Int(s.record_start_retries);
  // Written only once a check happened, so records of stores older than the check keep their
  // bytes (replay --verify compares them).
  if (s.call_status_checks > 0) w.Key("call_status_checks").Int(s.call_status_checks);
  for (const auto& [key, raw] : s.user_metadata) w.Key(key).Raw(raw);
  w.EndObject();
}

// ---- parsing helpers: each returns false when the value has the wrong type ----

bool ReadOptString(simdjson::dom::element v, std::optional<std::string>& out) {
  if (v.is_null()) {
    out.reset();
    return true;
  }
  std::string_view s;
  if (v.get_string().get(s)) return false;
  out = std::string(s);
  return true;
}

bool ReadString(simdjson::dom::element v, std::string& out) {
  std::string_view s;
  if (v.get_string().get(s)) return false;
  out = std::string(s);
  return true;
}

bool ReadOptTime(simdjson::dom::element v, std::optional<int64_t>& out) {
  if (v.is_null()) {
    out.reset();
    return true;
  }
  std::string_view s;
  if (v.get_string().get(s)) return false;
  auto ms = core::ParseRfc3339Millis(s);
  if (!ms.ok()) return false;
  out = *ms;
  return true;
}

bool ReadTime(simdjson::dom::element v, int64_t& out) {
  std::optional<int64_t> t;
  if (!ReadOptTime(v, t) || !t) return false;
  out = *t;
  return true;
}

bool ReadInt(simdjson::dom::element v, int64_t& out) { return !v.get_int64().get(out); }

bool ReadOptInt(simdjson::dom::element v, std::optional<int64_t>& out) {
  if (v.is_null()) {
    out.reset();
    return true;
  }
  int64_t n;
  if (v.get_int64().get(n)) return false;
  out = n;
  return true;
}

bool ReadStringArray(simdjson::dom::element v, std::vector<std::string>& out) {
  simdjson::dom::array arr;
  if (v.get_array().get(arr)) return false;
  out.clear();
  for (auto item : arr) {
    std::string_view s;
    if (item.get_string().get(s)) return false;
    out.emplace_back(s);
  }
  return true;
}

bool ReadMetadataField(std::string_view k, simdjson::dom::element v, IntakeState& s) {
  if (k == "call_control_id") return ReadOptString(v, s.call_control_id);
  if (k == "call_session_id") return ReadOptString(v, s.call_session_id);
  if (k == "call_leg_id") return ReadOptString(v, s.call_leg_id);
  if (k == "recording_started_at") return ReadOptTime(v, s.recording_started_at_ms);
  if (k == "recording_id") return ReadOptString(v, s.recording_id);
  if (k == "recording_url_telnyx") return ReadOptString(v, s.recording_url_telnyx);
  if (k == "recording_duration") return ReadOptInt(v, s.recording_duration_ms);
  if (k == "recording_fetched_at") return ReadOptTime(v, s.recording_fetched_at_ms);
  if (k == "recording_url_supabase") return ReadOptString(v, s.recording_url_supabase);
  if (k == "recording_migrated_at") return ReadOptTime(v, s.recording_migrated_at_ms);
  if (k == "recording_url_storage") return ReadOptString(v, s.recording_url_storage);
  if (k == "answered_at") return ReadOptTime(v, s.answered_at_ms);
  if (k == "hangup_at") return ReadOptTime(v, s.hangup_at_ms);
  if (k == "hangup_cause") return ReadOptString(v, s.hangup_cause);
  if (k == "record_start_attempts") return ReadInt(v, s.record_start_attempts);
  if (k == "record_start_last_at") return ReadOptTime(v, s.record_start_last_at_ms);
  if (k == "fetch_queries") return ReadInt(v, s.fetch_queries);
  if (k == "first_query_at") return ReadOptTime(v, s.first_query_at_ms);
  if (k == "storage_attempts") return ReadInt(v, s.storage_attempts);
  if (k == "recording_sha256") return ReadOptString(v, s.recording_sha256);
  if (k == "recording_deleted_at") return ReadOptTime(v, s.recording_deleted_at_ms);
  if (k == "delete_attempts") return ReadInt(v, s.delete_attempts);
  if (k == "verified_ids") return ReadStringArray(v, s.verified_ids);
  if (k == "match") return ReadOptString(v, s.match);
  if (k == "match_candidates") return ReadStringArray(v, s.match_candidates);
  if (k == "call_direction") return ReadOptString(v, s.call_direction);
  if (k == "call_direction_source") return ReadOptString(v, s.call_direction_source);
  if (k == "record_start_retries") return ReadInt(v, s.record_start_retries);
  if (k == "call_status_checks") return ReadInt(v, s.call_status_checks);
  s.user_metadata.emplace_back(std::string(k), simdjson::minify(v));
  return true;
}

bool ReadTopField(std::string_view k, simdjson::dom::element v, IntakeState& s) {
  if (k == "id") return ReadString(v, s.id);
  if (k == "patient_phone") return ReadString(v, s.patient_phone);
  if (k == "patient_id") return ReadOptString(v, s.patient_id);
  if (k == "created_at") return ReadTime(v, s.created_at_ms);
  if (k == "updated_at") return ReadTime(v, s.updated_at_ms);
  if (k == "fetch_attempts") return ReadInt(v, s.fetch_attempts);
  if (k == "next_attempt_at") return ReadOptTime(v, s.next_attempt_at_ms);
  if (k == "last_error") return ReadOptString(v, s.last_error);
  if (k == "state") {
    std::string name;
    auto state = ReadString(v, name) ? ParseState(name) : std::nullopt;
    if (state) s.state = *state;
    return state.has_value();
  }
  if (k == "failure_reason") {
    if (v.is_null()) {
      s.failure_reason.reset();
      return true;
    }
    std::string name;
    auto reason = ReadString(v, name) ? ParseFailureReason(name) : std::nullopt;
    s.failure_reason = reason;
    return reason.has_value();
  }
  if (k == "metadata") {
    simdjson::dom::object md;
    if (v.get_object().get(md)) return false;
    for (auto field : md) {
      if (!ReadMetadataField(field.key, field.value, s)) return false;
    }
    return true;
  }
  return false;  // unknown top-level key: not written by IntakeToJson
}

}  // namespace

std::string_view StateName(State state) { return kStateNames[static_cast<size_t>(state)]; }

std::optional<State> ParseState(std::string_view name) {
  for (size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == name) return static_cast<State>(i);
  }
  return std::nullopt;
}

std::string_view FailureReasonName(FailureReason reason) {
  return kReasonNames[static_cast<size_t>(reason)];
}

std::optional<FailureReason> ParseFailureReason(std::string_view name) {
  for (size_t i = 0; i < kReasonNames.size(); ++i) {
    if (kReasonNames[i] == name) return static_cast<FailureReason>(i);
  }
  return std::nullopt;
}

void FailIntake(IntakeState& s, FailureReason reason, std::string error) {
  s.state = State::kFailed;
  s.failure_reason = reason;
  s.last_error = std::move(error);
  s.next_attempt_at_ms.reset();
}

void MarkFetched(IntakeState& s, int64_t at_ms) {
  s.state = State::kFetched;
  s.recording_fetched_at_ms = at_ms;
  s.failure_reason.reset();
  s.last_error.reset();
  s.next_attempt_at_ms.reset();
  s.storage_attempts = 0;
}

bool IsReservedMetadataKey(std::string_view key) {
  for (auto k : kReservedKeys) {
    if (k == key) return true;
  }
  return false;
}

std::string FormatNumber(double value) {
  if (!std::isfinite(value)) return "null";  // JSON has no NaN/Inf; never produced by Apply
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  if (ec != std::errc()) return "null";
  return std::string(buf, end);
}

std::string IntakeToJson(const IntakeState& s) {
  JsonWriter w;
  w.BeginObject();
  w.Key("id").String(s.id);
  w.Key("patient_phone").String(s.patient_phone);
  w.Key("patient_id").OptString(s.patient_id);
  w.Key("created_at").String(core::FormatRfc3339Millis(s.created_at_ms));
  w.Key("updated_at").String(core::FormatRfc3339Millis(s.updated_at_ms));
  w.Key("state").String(StateName(s.state));
  w.Key("failure_reason");
  if (s.failure_reason) {
    w.String(FailureReasonName(*s.failure_reason));
  } else {
    w.Null();
  }
  w.Key("fetch_attempts").Int(s.fetch_attempts);
  TimeField(w, "next_attempt_at", s.next_attempt_at_ms);
  w.Key("last_error").OptString(s.last_error);
  w.Key("metadata");
  WriteMetadata(w, s);
  w.EndObject();
  return w.Take();
}

Result<IntakeState> IntakeFromJson(std::string_view json) {
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, json);
  if (!root.ok()) return Status::Corruption("intake record: " + root.status().message());
  simdjson::dom::object obj;
  if (root->get_object().get(obj)) return Status::Corruption("intake record is not an object");
  IntakeState s;
  for (auto field : obj) {
    if (!ReadTopField(field.key, field.value, s)) {
      return Status::Corruption("intake record: bad or unknown field \"" +
                                std::string(field.key) + "\"");
    }
  }
  for (std::string_view key : {"id", "patient_phone", "patient_id", "created_at", "updated_at",
                               "state", "failure_reason", "fetch_attempts", "next_attempt_at",
                               "last_error", "metadata"}) {
    simdjson::dom::element unused;
    if (obj.at_key(key).get(unused)) {
      return Status::Corruption("intake record: no \"" + std::string(key) + "\"");
    }
  }
  if (!core::IsStoredIntakeId(s.id)) return Status::Corruption("intake record: bad id");
  return s;
}

}  // namespace callrec::projector
