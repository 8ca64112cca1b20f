#include "telnyx_sim/world.h"

#include <algorithm>

#include "core/json.h"
#include "core/log.h"
#include "telnyx_sim/crypto.h"

namespace callrec::telnyx_sim {
namespace {

using core::JsonWriter;
using core::Status;

constexpr int64_t kCommandIdWindowMs = 60'000;  // Telnyx ignores a repeated command_id this long

ApiError CallError(const char* code, const char* title, const char* detail) {
  return ApiError{422, code, title, detail, "", ""};
}

// "2026-11-20" of a Unix ms time (UTC).
std::string DatePart(int64_t ms) { return FormatTelnyxTime(ms).substr(0, 10); }

std::string RandomPhone() {
  std::string digits = "+1555";
  for (unsigned char c : RandomBytes(7)) digits.push_back(char('0' + c % 10));
  return digits;
}

std::string RandomHex(size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : RandomBytes(bytes)) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace

struct SimWorld::Call {
  CallIds ids;
  CallSpec spec;
  std::string webhook_url;
  std::string connection_id;
  std::optional<std::string> client_state;
  enum class State { kInitiated, kAnswered, kHangup } state = State::kInitiated;
  int64_t start_ms = 0;
  int64_t answered_ms = -1;
  int64_t hangup_ms = -1;
  std::optional<std::string> held_answered;  // call.answered held back until after hangup
  std::map<std::string, int64_t> command_ids;  // command_id -> when accepted
  std::vector<std::string> recording_ids;      // this call's own recordings
  std::vector<std::string> foreign_ids;        // other calls' recordings injected with them
  // Snapshot of the fault settings when each recording was registered, by recording id.
  std::map<std::string, std::pair<int64_t, bool>> delivery;  // id -> (delay ms, missing)
};

std::string SimWorld::ReportedControlId(const SimRecording& rec) const {
  return faults_.Get().recording_ccid_is_leg_id ? rec.call_leg_id : rec.call_control_id;
}

std::string ApiErrorJson(const ApiError& error) {
  JsonWriter w;
  w.BeginObject().Key("errors").BeginArray().BeginObject();
  w.Key("code").String(error.code);
  w.Key("title").String(error.title);
  w.Key("detail").String(error.detail);
  if (!error.pointer.empty() || !error.parameter.empty()) {
    w.Key("source").BeginObject();
    if (!error.pointer.empty()) w.Key("pointer").String(error.pointer);
    if (!error.parameter.empty()) w.Key("parameter").String(error.parameter);
    w.EndObject();
  }
  w.EndObject().EndArray().EndObject();
  return w.Take();
}

SimWorld::SimWorld(const SimConfig& config, core::Clock& clock, FaultBox& faults,
                   WebhookSink& sink, const MediaUrlSigner& signer, std::string base_url)
    : config_(config),
      clock_(clock),
      faults_(faults),
      sink_(sink),
      signer_(signer),
      base_url_(std::move(base_url)) {}

SimWorld::~SimWorld() = default;

// ---- calls ----------------------------------------------------------------------------------

CallIds SimWorld::PlaceCall(const CallSpec& spec) {
  auto call = std::make_unique<Call>();
  call->ids = {NewCallControlId(), NewUuid(), NewUuid()};
  call->spec = spec;
  call->webhook_url = spec.webhook_url.empty() ? config_.default_webhook_url : spec.webhook_url;
  call->connection_id = spec.connection_id.empty() ? config_.connection_id : spec.connection_id;
  call->client_state = spec.client_state;
  core::MutexLock lock(mu_);
  int64_t now = clock_.WallMillis();
  call->start_ms = now;
  CallIds ids = call->ids;
  Emit(*call, CallInitiatedData(ToWebhookCall(*call), now));
  if (spec.answer_after_ms >= 0) {
    timeline_.emplace(now + spec.answer_after_ms, Due{Step::kAnswer, ids.call_control_id});
  } else if (spec.hangup_after_ms >= 0) {
    timeline_.emplace(now + spec.hangup_after_ms, Due{Step::kHangup, ids.call_control_id});
  }
  core::LogInfo("sim.call.placed", {{"call_control_id", ids.call_control_id},
                                    {"to", core::MaskPhone(spec.to)},
                                    {"direction", spec.direction}});
  calls_.emplace(ids.call_control_id, std::move(call));
  return ids;
}

Status SimWorld::AnswerCall(std::string_view call_control_id) {
  core::MutexLock lock(mu_);
  Call* call = FindCall(call_control_id);
  if (call == nullptr) return Status::NotFound("no such call");
  if (call->state != Call::State::kInitiated)
    return Status::FailedPrecondition("the call is not ringing");
  Answer(*call);
  return Status::Ok();
}

Status SimWorld::HangupCall(std::string_view call_control_id) {
  core::MutexLock lock(mu_);
  Call* call = FindCall(call_control_id);
  if (call == nullptr) return Status::NotFound("no such call");
  if (call->state == Call::State::kHangup) return Status::FailedPrecondition("the call has ended");
  Hangup(*call);
  return Status::Ok();
}

bool SimWorld::RunDue() {
  core::MutexLock lock(mu_);
  int64_t now = clock_.WallMillis();
  while (!timeline_.empty() && timeline_.begin()->first <= now) {
    Due due = timeline_.begin()->second;
    timeline_.erase(timeline_.begin());
    if (due.step == Step::kRecordingReady) {
      RecordingReady(due.id);
      continue;
    }
    Call* call = FindCall(due.id);
    if (call == nullptr) continue;
    // A manual AnswerCall/HangupCall may have got there first: then the step is moot.
    if (due.step == Step::kAnswer && call->state == Call::State::kInitiated) Answer(*call);
    if (due.step == Step::kHangup && call->state != Call::State::kHangup) Hangup(*call);
  }
  return !timeline_.empty();
}

SimWorld::Call* SimWorld::FindCall(std::string_view call_control_id) {
  auto it = calls_.find(call_control_id);
  return it == calls_.end() ? nullptr : it->second.get();
}

void SimWorld::Answer(Call& call) {
  int64_t now = clock_.WallMillis();
  call.state = Call::State::kAnswered;
  call.answered_ms = now;
  std::string data = CallAnsweredData(ToWebhookCall(call), now);
  if (call.spec.hangup_before_answered) call.held_answered = std::move(data);
  else Emit(call, std::move(data));
  if (call.spec.auto_record) AddRecording(call, "wav", "dual", call.ids.call_leg_id, 0);
  if (call.spec.answer_after_ms >= 0 && call.spec.hangup_after_ms >= 0)
    timeline_.emplace(now + call.spec.hangup_after_ms, Due{Step::kHangup, call.ids.call_control_id});
}

void SimWorld::Hangup(Call& call) {
  int64_t now = clock_.WallMillis();
  bool answered = call.state == Call::State::kAnswered;
  call.state = Call::State::kHangup;
  call.hangup_ms = now;
  const CallSpec& s = call.spec;
  // An unanswered call that ends by itself timed out unless the spec says otherwise.
  bool default_cause = s.hangup_cause == "normal_clearing";
  std::string cause = !answered && default_cause ? "timeout" : s.hangup_cause;
  std::string sip = !answered && default_cause ? "480" : s.sip_hangup_cause;
  if (s.drop_hangup_webhook) {
    core::LogInfo("sim.fault.hangup_dropped", {{"call_control_id", call.ids.call_control_id}});
  } else {
    Emit(call, CallHangupData(ToWebhookCall(call), now, cause, s.hangup_source, sip));
  }
  if (call.held_answered) Emit(call, std::move(*call.held_answered));
  call.held_answered.reset();

  // Recordings stop at hangup and are saved recording_delay later, or never when missing.
  auto finish = [&](const std::string& id, int64_t delay, bool missing) REQUIRES(mu_) {
    SimRecording& rec = recordings_.at(id);
    rec.ended_ms = now;
    if (rec.max_length_ms > 0) rec.ended_ms = std::min(now, rec.started_ms + rec.max_length_ms);
    rec.visible_ms = missing ? SimRecording::kNever : now + delay;
    rec.created_ms = std::max(rec.ended_ms, now + delay - 500);
  };
  for (const std::string& id : call.recording_ids) {
    auto [delay, missing] = call.delivery.at(id);
    finish(id, delay, missing);
    if (s.recording_error) {
      recordings_.at(id).visible_ms = SimRecording::kNever;
      timeline_.emplace(now + delay, Due{Step::kRecordingReady, id});
    } else if (!missing && s.send_recording_saved) {
      timeline_.emplace(now + delay, Due{Step::kRecordingReady, id});
    }
  }
  for (size_t k = 0; k < call.foreign_ids.size(); ++k) {
    auto [delay, missing] = call.delivery.at(call.foreign_ids[k]);
    finish(call.foreign_ids[k], delay, false);
    // Newer than the real recordings, so a newest-first listing shows them first.
    recordings_.at(call.foreign_ids[k]).created_ms += int64_t(10 * (k + 1));
    (void)missing;
  }
  core::LogInfo("sim.call.hangup", {{"call_control_id", call.ids.call_control_id},
                                    {"hangup_cause", cause},
                                    {"recordings", uint64_t(call.recording_ids.size())}});
}

void SimWorld::RecordingReady(const std::string& recording_id) {
  auto it = recordings_.find(recording_id);
  if (it == recordings_.end()) return;
  const SimRecording& rec = it->second;
  Call* call = FindCall(rec.call_control_id);
  if (call == nullptr) return;
  int64_t now = clock_.WallMillis();
  if (call->spec.recording_error) {
    Emit(*call, RecordingErrorData(ToWebhookCall(*call), now, "Internal server error"));
    return;
  }
  WebhookRecording wr{rec.id, rec.channels, rec.format, rec.started_ms, rec.ended_ms,
                      DownloadUrl(rec), ReportedControlId(rec)};
  Emit(*call, RecordingSavedData(ToWebhookCall(*call), wr, now));
}

void SimWorld::Emit(const Call& call, std::string data_json) {
  if (call.webhook_url.empty()) return;
  sink_.Emit(call.webhook_url, std::move(data_json), call.spec.duplicate_webhooks);
}

WebhookCall SimWorld::ToWebhookCall(const Call& call) const {
  return WebhookCall{call.ids,       call.client_state, call.connection_id,
                     call.spec.direction, call.spec.from, call.spec.to,
                     call.start_ms,  call.spec.custom_headers};
}

std::optional<std::string> SimWorld::CallStatusJson(std::string_view call_control_id) {
  core::MutexLock lock(mu_);
  Call* call = FindCall(call_control_id);
  int64_t now = clock_.WallMillis();
  if (call == nullptr) return std::nullopt;
  bool over = call->state == Call::State::kHangup;
  if (over && now - call->hangup_ms > kCallStatusRetentionMs) return std::nullopt;
  int64_t end = over ? call->hangup_ms : now;
  JsonWriter w;
  w.BeginObject().Key("data").BeginObject();
  w.Key("call_control_id").String(call->ids.call_control_id);
  w.Key("call_leg_id").String(call->ids.call_leg_id);
  w.Key("call_session_id").String(call->ids.call_session_id);
  w.Key("client_state").OptString(call->client_state);
  w.Key("is_alive").Bool(!over);
  w.Key("call_duration").Int(std::max<int64_t>(0, end - call->start_ms) / 1000);
  w.Key("start_time").String(FormatTelnyxTime(call->start_ms));
  if (over) w.Key("end_time").String(FormatTelnyxTime(call->hangup_ms));
  w.Key("record_type").String("call");
  w.EndObject().EndObject();
  return w.Take();
}

std::optional<std::string> SimWorld::CallJson(std::string_view call_control_id) {
  core::MutexLock lock(mu_);
  Call* call = FindCall(call_control_id);
  if (call == nullptr) return std::nullopt;
  static constexpr const char* kStates[] = {"initiated", "answered", "hangup"};
  JsonWriter w;
  w.BeginObject();
  w.Key("call_control_id").String(call->ids.call_control_id);
  w.Key("call_leg_id").String(call->ids.call_leg_id);
  w.Key("call_session_id").String(call->ids.call_session_id);
  w.Key("state").String(kStates[int(call->state)]);
  w.Key("recording_ids").BeginArray();
  for (const auto& id : call->recording_ids) w.String(id);
  w.EndArray();
  w.Key("foreign_recording_ids").BeginArray();
  for (const auto& id : call->foreign_ids) w.String(id);
  w.EndArray();
  w.EndObject();
  return w.Take();
}

// ---- record_start ---------------------------------------------------------------------------

std::optional<ApiError> SimWorld::RecordStart(std::string_view call_control_id,
                                              const RecordStartParams& params) {
  core::MutexLock lock(mu_);
  Call* call = FindCall(call_control_id);
  if (call == nullptr)
    return CallError("90015", "Invalid Call Control ID",
                     "The provided call_control_id was not valid.");
  int64_t now = clock_.WallMillis();
  if (!params.command_id.empty()) {
    auto seen = call->command_ids.find(params.command_id);
    if (seen != call->command_ids.end() && now - seen->second < kCommandIdWindowMs)
      return std::nullopt;  // the same command again: ignored, answered as before
  }
  if (call->state == Call::State::kHangup)
    return CallError("90018", "Call has already ended",
                     "This call is no longer active and can't receive commands.");
  if (call->state == Call::State::kInitiated)
    return CallError("90034", "Call not answered yet",
                     "This command can only be issued once the call has been answered.");
  if (faults_.TakeRecordStart90020())
    return CallError("90020", "Recording requested before audio started",
                     "Recording could not be started because audio has not started yet. "
                     "Retry shortly.");
  if (!params.command_id.empty()) call->command_ids[params.command_id] = now;
  if (params.client_state) call->client_state = params.client_state;
  std::string name = params.custom_file_name.empty() ? call->ids.call_leg_id
                                                     : params.custom_file_name;
  AddRecording(*call, params.format, params.channels, name, params.max_length_s);
  if (faults_.TakeRecordStartLoseAnswer()) {
    // The command ran; only its answer is lost. A retry with the same command_id is ignored.
    core::LogInfo("sim.fault.record_start_answer_lost", {{"call_control_id", call->ids.call_control_id}});
    return ApiError{503, "10007", "Unexpected error", "An unexpected error occured.", "", ""};
  }
  return std::nullopt;
}

SimRecording& SimWorld::AddRecording(Call& call, const std::string& format,
                                     const std::string& channels, const std::string& file_name,
                                     int64_t max_length_s) {
  SimFaults f = faults_.Get();
  int64_t now = clock_.WallMillis();
  SimRecording rec;
  rec.id = NewUuid();
  rec.call_control_id = call.ids.call_control_id;
  rec.call_leg_id = call.ids.call_leg_id;
  rec.call_session_id = call.ids.call_session_id;
  rec.connection_id = call.connection_id;
  rec.from = call.spec.from;
  rec.to = call.spec.to;
  rec.channels = channels;
  rec.format = format;
  rec.started_ms = now;
  rec.max_length_ms = max_length_s * 1000;
  rec.media_path = "/media/" + config_.account + "/" + DatePart(now) + "/" + file_name + "-" +
                   std::to_string(now / 1000) + "." + format;
  int64_t delay = call.spec.recording_delay_ms.value_or(f.recording_delay_ms);
  bool missing = call.spec.recording_missing || f.recordings_missing;
  call.delivery[rec.id] = {delay, missing};
  call.recording_ids.push_back(rec.id);
  media_index_[rec.media_path] = rec.id;
  SimRecording& stored = recordings_[rec.id] = rec;
  if (f.foreign_recordings > 0) AddForeignRecordings(call, stored, f.foreign_recordings);
  return stored;
}

void SimWorld::AddForeignRecordings(Call& call, const SimRecording& real, int count) {
  auto [delay, missing] = call.delivery.at(real.id);
  (void)missing;
  for (int k = 0; k < count; ++k) {
    SimRecording rec = real;
    rec.id = NewUuid();
    rec.foreign = true;
    rec.call_control_id = NewCallControlId();
    rec.call_leg_id = NewUuid();
    // The first shares this call's session (another leg of it, recorded under its own leg id);
    // the rest are other callers' calls, named like other intakes.
    std::string name = rec.call_leg_id;
    if (k > 0) {
      rec.call_session_id = NewUuid();
      rec.from = RandomPhone();
      rec.to = RandomPhone();
      name = "intake_" + RandomHex(4);
    }
    rec.media_path = "/media/" + config_.account + "/" + DatePart(real.started_ms) + "/" + name +
                     "-" + std::to_string(real.started_ms / 1000) + "." + real.format;
    call.delivery[rec.id] = {delay, false};
    call.foreign_ids.push_back(rec.id);
    media_index_[rec.media_path] = rec.id;
    recordings_[rec.id] = std::move(rec);
  }
}

}  // namespace callrec::telnyx_sim
