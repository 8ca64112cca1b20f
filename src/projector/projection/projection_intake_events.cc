// projection_intake_events.cc — folding the events other modules append: service.started,
// intake.created, and everything appended with an intake_id (API results of Telnyx and storage,
// scheduler decisions, operator actions). Payload shapes: docs/ARCHITECTURE.md.
#include <algorithm>
#include <cmath>

#include "core/event_types.h"
#include "core/json.h"
#include "core/phone.h"
#include "core/time_format.h"
#include "projector/projection/projection.h"
#include "projector/projection/projection_keys.h"

namespace callrec::projector {
namespace {

using simdjson::dom::element;

std::optional<std::string> OptStr(element root, std::string_view pointer) {
  auto v = core::JsonString(root, pointer);
  return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
}

std::optional<int64_t> OptTime(element root, std::string_view pointer) {
  auto text = core::JsonString(root, pointer);
  if (!text) return std::nullopt;
  auto ms = core::ParseRfc3339Millis(*text);
  return ms.ok() ? std::optional<int64_t>(*ms) : std::nullopt;
}

// The reason an API call did not succeed, as a person should read it: Telnyx's own words from
// the body ({"errors":[{"code","title","detail"}]}) when there are some, else the envelope's error.
std::string ApiErrorText(element env) {
  auto title = core::JsonString(env, "/body/errors/0/title");
  auto detail = core::JsonString(env, "/body/errors/0/detail");
  auto code = core::JsonString(env, "/body/errors/0/code");
  auto code_num = core::JsonInt(env, "/body/errors/0/code");
  std::string code_text = code ? std::string(*code) : code_num ? std::to_string(*code_num) : "";
  std::string text = title ? std::string(*title) : "";
  if (detail) text += (text.empty() ? "" : ": ") + std::string(*detail);
  if (!code_text.empty()) text += text.empty() ? "code " + code_text : " (code " + code_text + ")";
  if (!text.empty()) return text;
  if (auto error = core::JsonString(env, "/error")) return std::string(*error);
  auto status = core::JsonInt(env, "/status");
  if (status && *status > 0) return "HTTP " + std::to_string(*status);
  return "no answer";
}

std::string_view Outcome(element env) { return core::JsonString(env, "/outcome").value_or(""); }

bool Waiting(const IntakeState& s) {
  return s.state == State::kAnswered || s.state == State::kRecording || s.state == State::kEnded;
}

void RecordStart(IntakeState& s, element env, int64_t now) {
  if (!s.call_bound()) return;
  ++s.record_start_attempts;  // every result counts, so the actor can bound its retries
  s.record_start_last_at_ms = now;
  std::string_view outcome = Outcome(env);
  if (outcome == "ok") {
    if (!s.recording_started_at_ms) s.recording_started_at_ms = now;
    if (s.state == State::kAnswered) {
      s.state = State::kRecording;
      s.last_error.reset();
    }
  } else if (outcome == "failed" || outcome == "not_found") {
    std::string error = "record_start failed: " + ApiErrorText(env);
    bool nothing_recorded = !s.recording_started_at_ms && !s.recording_known();
    if (s.state == State::kAnswered || (s.state == State::kEnded && nothing_recorded)) {
      FailIntake(s, FailureReason::kRecordStartFailed, std::move(error));
    } else if (!s.is_final()) {
      s.last_error = std::move(error);
    }
  } else {  // retry, transient: the actor tries again
    // Only "retry shortly" (90020) makes the next try a new command; after a 5xx or no answer
    // the command may have run, so it is repeated with the same command_id (step_runner.cc).
    if (outcome == "retry") ++s.record_start_retries;
    s.last_error = "record_start: " + ApiErrorText(env);
  }
}

void FetchScheduled(IntakeState& s, element p) {
  auto due = OptTime(p, "/due_at");
  if (!Waiting(s) || !due) return;  // a stale schedule for an intake already past polling
  s.next_attempt_at_ms = *due;
  if (auto k = core::JsonInt(p, "/fetch_attempts"); k && *k >= 0) s.fetch_attempts = *k;
  if (auto n = core::JsonInt(p, "/query"); n && *n >= 0) s.fetch_queries = *n;
}

void RecordingsList(IntakeState& s, element env, int64_t now) {
  if (!s.first_query_at_ms) s.first_query_at_ms = now;
  std::string_view outcome = Outcome(env);
  if (outcome != "ok" && outcome != "not_found" && !s.is_final())
    s.last_error = "recordings list: " + ApiErrorText(env);
}

// Telnyx's duration_millis. Events since 2026-11 carry it as "duration_millis"; older ones only
// "recording_duration" in seconds, which was duration_millis / 1000.0, so rounding its thousandfold
// gives the integer back exactly.
std::optional<int64_t> DurationMillis(element p) {
  int64_t millis;
  if (!p.at_pointer("/duration_millis").get_int64().get(millis)) return millis;
  double seconds;
  if (!p.at_pointer("/recording_duration").get_double().get(seconds) && std::isfinite(seconds) &&
      std::abs(seconds) < 1e12) {
    return std::llround(seconds * 1000.0);
  }
  return std::nullopt;
}

// The object's public URL (README "HTTP", the intake: what the seed's getPublicUrl gives). Events since
// 2026-11 carry it as "public_url"; older ones only the upload URL
// (<base>/storage/v1/object/<bucket>/<path>), from which it follows.
std::string SupabasePublicUrl(element p, const std::string& location) {
  if (auto url = OptStr(p, "/public_url"); url && !url->empty()) return *url;
  constexpr std::string_view kObject = "/storage/v1/object/";
  size_t at = location.find(kObject);
  if (at == std::string::npos) return location;
  std::string_view rest = std::string_view(location).substr(at + kObject.size());
  if (rest.starts_with("public/") || rest.starts_with("sign/") || rest.starts_with("authenticated/"))
    return location;
  return location.substr(0, at + kObject.size()) + "public/" + std::string(rest);
}

void Matched(IntakeState& s, element p, int64_t now) {
  auto id = OptStr(p, "/recording_id");
  if (!id || id->empty() || s.recording_known()) return;
  if (s.state == State::kCreated || s.state == State::kStored) return;
  s.recording_id = std::move(id);
  s.recording_url_telnyx = OptStr(p, "/recording_url_telnyx");
  s.recording_duration_ms = DurationMillis(p);
  simdjson::dom::array ids;
  if (!p.at_pointer("/verified_ids").get_array().get(ids)) {
    s.verified_ids.clear();
    for (auto v : ids) {
      std::string_view text;
      if (!v.get_string().get(text)) s.verified_ids.emplace_back(text);
    }
  }
  MarkFetched(s, now);
}

void RecordingGet(IntakeState& s, element env) {
  if (!s.recording_known() || s.state == State::kStored) return;
  if (Outcome(env) != "ok") {
    s.last_error = "recording get: " + ApiErrorText(env);
    return;
  }
  auto body_id = core::JsonString(env, "/body/data/id");
  if (body_id && *body_id != *s.recording_id) return;  // not our recording: keep what we have
  for (std::string_view pointer : {"/body/data/download_urls/wav", "/body/data/download_urls/mp3"}) {
    if (auto url = core::JsonString(env, pointer); url && !url->empty()) {
      s.recording_url_telnyx = std::string(*url);
      return;
    }
  }
}

void StorageUpload(IntakeState& s, element p, int64_t now) {
  std::string_view outcome = Outcome(p);
  // A verified copy outranks a failure appended before it (intake_state.h [17]).
  bool recovers = s.state == State::kFailed && s.recording_known() && outcome == "ok";
  if (s.state != State::kFetched && !recovers) return;
  if (recovers) s.failure_reason.reset();
  if (outcome == "ok") {
    std::string location = OptStr(p, "/location").value_or("");
    if (location.rfind("file://", 0) == 0) {
      s.recording_url_storage = location;
    } else {
      s.recording_url_supabase = SupabasePublicUrl(p, location);
    }
    s.recording_migrated_at_ms = now;
    s.recording_sha256 = OptStr(p, "/sha256");
    s.state = State::kStored;
    s.next_attempt_at_ms.reset();
    s.last_error.reset();
    return;
  }
  std::string stage = OptStr(p, "/stage").value_or("upload");
  s.last_error = "storage " + stage + ": " + OptStr(p, "/error").value_or(std::string(outcome));
  if (outcome == "transient") {
    ++s.storage_attempts;
    s.next_attempt_at_ms = OptTime(p, "/retry_at");
  }
  // failed: the actor follows with intake.failed (download_failed / upload_failed).
}

void RecordingDelete(IntakeState& s, element env, int64_t now) {
  std::string_view outcome = Outcome(env);
  ++s.delete_attempts;
  // 404: already gone (a repeated delete after a crash), which is the goal.
  if (outcome == "ok" || outcome == "not_found" || core::JsonInt(env, "/status") == 404) {
    if (!s.recording_deleted_at_ms) s.recording_deleted_at_ms = now;
    s.next_attempt_at_ms.reset();
  } else {
    s.last_error = "recording delete: " + ApiErrorText(env);
    s.next_attempt_at_ms = OptTime(env, "/retry_at");
  }
}

// Monotonic outcomes (intake_state.h [14]): is this failure about a stage the intake has already
// passed? Then it was decided on facts older than the success it would overwrite.
bool StaleFailure(const IntakeState& s, std::optional<FailureReason> reason) {
  if (s.state == State::kStored) return true;
  if (s.state != State::kFetched) return false;
  return reason != FailureReason::kDownloadFailed && reason != FailureReason::kUploadFailed;
}

void Failed(IntakeState& s, element p) {
  auto reason = ParseFailureReason(core::JsonString(p, "/reason").value_or(""));
  if (s.state == State::kFailed || StaleFailure(s, reason)) return;
  auto error = OptStr(p, "/error");
  // The final "not found" answer is counted here: no fetch_scheduled follows it.
  if (auto k = core::JsonInt(p, "/fetch_attempts"); k && *k >= 0) s.fetch_attempts = *k;
  FailIntake(s, reason.value_or(FailureReason::kGaveUp),
             error.value_or("failed: " + std::string(core::JsonString(p, "/reason").value_or("?"))));
}

// GET /v2/calls/{id} answered (or not): the next check, while the call is still awaited.
void CallStatus(IntakeState& s, element env) {
  ++s.call_status_checks;
  bool awaited = (s.state == State::kAnswered || s.state == State::kRecording) && !s.hangup_seen();
  if (!awaited) return;
  if (auto retry_at = OptTime(env, "/retry_at")) s.next_attempt_at_ms = *retry_at;
  std::string_view outcome = Outcome(env);
  if (outcome != "ok") s.last_error = "call status: " + ApiErrorText(env);
}

// The actor concluded the call is over though no call.hangup came (intake_state.h [16]).
void PresumedEnded(IntakeState& s, element p, int64_t now) {
  bool awaited = (s.state == State::kAnswered || s.state == State::kRecording) && !s.hangup_seen();
  if (!awaited) return;
  s.hangup_at_ms = OptTime(p, "/ended_at").value_or(now);
  s.hangup_cause = "presumed_ended:" + std::string(core::JsonString(p, "/reason").value_or("?"));
  s.next_attempt_at_ms.reset();
  s.state = State::kEnded;
}

// Re-arms a failed intake from where it stopped; the actor then sees work to do.
void RetryRequested(IntakeState& s) {
  if (s.state != State::kFailed) return;
  s.failure_reason.reset();
  s.next_attempt_at_ms.reset();
  if (s.recording_known()) {
    s.state = State::kFetched;
    s.storage_attempts = 0;
  } else if (s.hangup_seen()) {
    s.state = State::kEnded;
    s.fetch_attempts = 0;
    s.first_query_at_ms.reset();  // a new 24 h polling budget
  } else if (s.call_bound()) {
    s.state = State::kAnswered;
    s.record_start_attempts = 0;
  } else {
    s.state = State::kCreated;
  }
}

}  // namespace

void Projection::ApplyServiceStarted(const core::Event& e) {
  auto root = core::ParseJson(parser_, e.payload);
  if (!root.ok()) return;
  auto mode = core::JsonString(*root, "/record_mode");
  if (mode == "manual") settings_.record_mode = RecordMode::kManual;
  if (mode == "auto") settings_.record_mode = RecordMode::kAuto;
  if (auto window = core::JsonInt(*root, "/match_window_ms"); window && *window >= 0)
    settings_.match_window_ms = *window;
  // Stores from before --match-header: the default, which their webhooks never carried.
  auto header = core::JsonString(*root, "/match_header");
  settings_.match_header = header && !header->empty() ? std::string(*header)
                                                      : std::string(kDefaultMatchHeader);
  Put(std::string(keys::kSettings), SettingsToJson(settings_));
}

void Projection::ApplyIntakeCreated(const core::Event& e) {
  auto root = core::ParseJson(parser_, e.payload);
  if (!root.ok()) return;
  auto id = core::JsonString(*root, "/id");
  auto phone = core::JsonString(*root, "/patient_phone");
  if (!id || !core::IsStoredIntakeId(*id) || !phone || phone->empty()) return;
  if (!e.intake_id.empty() && e.intake_id != *id) return;
  if (EntryFor(*id) || !status_.ok()) return;  // the first creation stands
  IntakeState s;
  s.id = std::string(*id);
  auto e164 = core::NormalizeE164(*phone);
  s.patient_phone = e164.ok() ? *e164 : std::string(*phone);
  s.patient_id = OptStr(*root, "/patient_id");
  s.created_at_ms = s.updated_at_ms = e.recorded_at_ms;
  simdjson::dom::object metadata;
  if (!root->at_pointer("/metadata").get_object().get(metadata)) {
    for (auto field : metadata) {
      if (IsReservedMetadataKey(field.key)) continue;  // ours; the seed's keys are projector-owned
      std::string key(field.key);
      std::string value = simdjson::minify(field.value);
      auto same = std::find_if(s.user_metadata.begin(), s.user_metadata.end(),
                               [&](const auto& kv) { return kv.first == key; });
      if (same != s.user_metadata.end()) {
        same->second = std::move(value);  // duplicate member: the last one wins, as in JSON.parse
      } else {
        s.user_metadata.emplace_back(std::move(key), std::move(value));
      }
    }
  }
  // newest/<~seq:be64>/<id>: a forward scan lists intakes newest first (the console's listing).
  Put(SeqKey(keys::kNewest, ~e.seq) + "/" + s.id, "");
  std::string key = s.id;
  Entry& entry = SetResident(key, Entry{std::move(s), e.seq, e.seq, std::nullopt, 0, std::nullopt, e164.ok()});
  if (e164.ok()) {
    Put(keys::PhoneKey(*e164, key), std::to_string(e.seq));
    IndexUnbound(entry, /*add=*/true);
  }
  dirty_intakes_.insert(key);
  changed_.push_back(key);
  BindLate(key, e.recorded_at_ms);  // its call may have been answered already
}

void Projection::ApplyIntakeEvent(const core::Event& e) {
  if (!EntryFor(e.intake_id)) return;
  auto parsed = core::ParseJson(parser_, e.payload);
  if (!parsed.ok()) return;
  element p = *parsed;
  const int64_t now = e.recorded_at_ms;
  const std::string& t = e.type;
  Mutate(e.intake_id, now, [&](IntakeState& s) {
    if (t == core::event_type::kTelnyxRecordStart) RecordStart(s, p, now);
    else if (t == core::event_type::kRecordingFetchScheduled) FetchScheduled(s, p);
    else if (t == core::event_type::kTelnyxRecordingsList) RecordingsList(s, p, now);
    else if (t == core::event_type::kRecordingMatched) Matched(s, p, now);
    else if (t == core::event_type::kTelnyxRecordingGet) RecordingGet(s, p);
    else if (t == core::event_type::kStorageUpload) StorageUpload(s, p, now);
    else if (t == core::event_type::kTelnyxRecordingDelete) RecordingDelete(s, p, now);
    else if (t == core::event_type::kIntakeFailed) Failed(s, p);
    else if (t == core::event_type::kIntakeRetryRequested) RetryRequested(s);
    else if (t == core::event_type::kTelnyxCallStatus) CallStatus(s, p);
    else if (t == core::event_type::kCallPresumedEnded) PresumedEnded(s, p, now);
  });
}

}  // namespace callrec::projector
