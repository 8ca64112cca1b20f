#include "projector/actor/step_runner.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/event_types.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time_format.h"
#include "projector/actor/recording_match.h"
#include "projector/clients/media.h"

namespace callrec::projector {

using core::Event;
using core::JsonWriter;

Event MakeEvent(std::string_view type, std::string_view source, const std::string& intake_id,
                std::string payload) {
  Event e;
  e.type = std::string(type);
  e.source = std::string(source);
  e.intake_id = intake_id;
  e.payload = std::move(payload);
  return e;
}

Event FetchScheduledEvent(const std::string& intake_id, int64_t query, int64_t fetch_attempts,
                          int64_t due_at_ms, std::string_view reason) {
  JsonWriter w;
  w.BeginObject();
  w.Key("query").Int(query);
  w.Key("fetch_attempts").Int(fetch_attempts);
  w.Key("due_at").String(core::FormatRfc3339Millis(due_at_ms));
  w.Key("reason").String(reason);
  w.EndObject();
  return MakeEvent(core::event_type::kRecordingFetchScheduled, core::source::kScheduler, intake_id, w.Take());
}

Event IntakeFailedEvent(const std::string& intake_id, std::string_view reason,
                        std::string_view error, std::optional<int64_t> fetch_attempts) {
  JsonWriter w;
  w.BeginObject();
  w.Key("reason").String(reason);
  w.Key("error").String(error);
  if (fetch_attempts) w.Key("fetch_attempts").Int(*fetch_attempts);
  w.EndObject();
  return MakeEvent(core::event_type::kIntakeFailed, core::source::kScheduler, intake_id, w.Take());
}

Event PresumedEndedEvent(const std::string& intake_id, std::string_view reason,
                         std::string_view detail, int64_t ended_at_ms,
                         std::optional<int64_t> call_duration_s, int64_t checks) {
  JsonWriter w;
  w.BeginObject();
  w.Key("reason").String(reason);
  w.Key("detail").String(detail);
  w.Key("ended_at").String(core::FormatRfc3339Millis(ended_at_ms));
  w.Key("call_duration");
  if (call_duration_s) w.Int(*call_duration_s);
  else w.Null();
  w.Key("checks").Int(checks);
  w.EndObject();
  return MakeEvent(core::event_type::kCallPresumedEnded, core::source::kScheduler, intake_id, w.Take());
}

namespace {

Event ApiEvent(std::string_view type, const std::string& intake_id, const ApiResult& r,
               std::optional<int64_t> retry_at_ms) {
  return MakeEvent(type, core::source::kTelnyxApi, intake_id, r.EnvelopeJson(retry_at_ms));
}

CallIdentity IdentityOf(const IntakeState& s, bool manual) {
  return CallIdentity{s.id, s.call_control_id.value_or(""), s.call_leg_id.value_or(""),
                      s.call_session_id.value_or(""), manual};
}

}  // namespace

StepRunner::StepRunner(const PipelineConfig& config, core::Clock& clock, TelnyxClient& telnyx,
                       HttpTransport& media, RecordingStorage* storage, RandomSource& random)
    : config_(config), clock_(clock), telnyx_(telnyx), media_(media), storage_(storage),
      random_(random) {}

std::vector<Event> StepRunner::Run(const IntakeState& s, const Step& step) {
  switch (step.kind) {
    case StepKind::kRecordStart: return RecordStart(s);
    case StepKind::kScheduleFetch: return ScheduleFirstFetch(s);
    case StepKind::kQuery: return Query(s);
    case StepKind::kStore: return Store(s);
    case StepKind::kDelete: return Delete(s);
    case StepKind::kFail: return {IntakeFailedEvent(s.id, step.fail_reason, step.fail_error)};
    case StepKind::kCallStatus: return CallStatus(s);
    case StepKind::kNone: break;
  }
  return {};
}

std::vector<Event> StepRunner::RecordStart(const IntakeState& s) {
  RecordStartOptions o;
  o.format = config_.record_format;
  o.channels = config_.record_channels;
  o.trim = config_.record_trim;
  o.custom_file_name = s.id;
  // Telnyx's retry guidance: after a 5xx, a timeout or a lost connection the command may have
  // run, so the identical command goes again with the same command_id (Telnyx ignores a repeat
  // for 60 s: no second recording); so does a crash-and-repeat. Only a deliberate new attempt
  // after 90020 ("retry shortly": it did not run) takes a new id, which Telnyx would otherwise
  // ignore and never start the recording.
  o.command_id = "callrec-" + s.id + "-record-start-" + std::to_string(s.record_start_retries + 1);
  ApiResult r = telnyx_.RecordStart(s.call_control_id.value_or(""), o);
  std::optional<int64_t> retry_at;
  if (r.outcome == ApiOutcome::kRetry || r.outcome == ApiOutcome::kTransient) {
    int64_t delay = config_.record_start_retry.count() << std::min<int64_t>(s.record_start_attempts, 5);
    retry_at = Now() + std::min<int64_t>(delay, 30'000);
  }
  core::LogInfo("record_start", {{"intake", s.id}, {"status", r.status},
                                 {"outcome", ApiOutcomeName(r.outcome)},
                                 {"duration_ms", int64_t(r.duration.count())}});
  return {ApiEvent(core::event_type::kTelnyxRecordStart, s.id, r, retry_at)};
}

std::vector<Event> StepRunner::ScheduleFirstFetch(const IntakeState& s) {
  int64_t due = Now() + config_.fetch_delay.count();
  const char* reason = s.fetch_queries == 0 ? "after hangup" : "re-armed by operator";
  core::LogInfo("fetch.scheduled", {{"intake", s.id}, {"query", s.fetch_queries + 1},
                                    {"due_at", core::FormatRfc3339Millis(due)}, {"reason", reason}});
  return {FetchScheduledEvent(s.id, s.fetch_queries + 1, s.fetch_attempts, due, reason)};
}

std::vector<Event> StepRunner::Query(const IntakeState& s) {
  RecordingFilter filter;
  // The narrowest documented filter we know: the leg, else the session.
  if (s.call_leg_id) filter.call_leg_id = *s.call_leg_id;
  else filter.call_session_id = s.call_session_id.value_or("");
  std::vector<Event> out;
  if (filter.call_leg_id.empty() && filter.call_session_id.empty()) {
    out.push_back(IntakeFailedEvent(s.id, "recording_not_found",
                                    "the call has no call_leg_id or call_session_id to query by"));
    return out;
  }
  RecordingsListing listing = telnyx_.ListAllRecordings(filter);
  const ApiResult& last = listing.requests.back();
  bool answered = listing.outcome == ApiOutcome::kOk || listing.outcome == ApiOutcome::kNotFound;
  if (!answered) {
    for (const ApiResult& r : listing.requests) out.push_back(ApiEvent(core::event_type::kTelnyxRecordingsList, s.id, r, {}));
    out.push_back(TransientDecision(s, last));
    return out;
  }
  Selection sel = SelectRecording(listing.recordings, IdentityOf(s, config_.manual_record));
  // The verification summary rides on the last page's event: it covers every page.
  for (size_t i = 0; i < listing.requests.size(); ++i) {
    ApiResult r = listing.requests[i];
    if (i + 1 < listing.requests.size()) {
      out.push_back(ApiEvent(core::event_type::kTelnyxRecordingsList, s.id, r, {}));
      continue;
    }
    // Recordings came back but none is this call's: for us that answer is "not found".
    if (!sel.chosen) r.outcome = ApiOutcome::kNotFound;
    JsonWriter w;
    w.BeginObject();
    r.WriteEnvelopeFields(w, std::nullopt);
    w.Key("candidates").Uint(sel.candidates);
    w.Key("verified").Uint(sel.verified_ids.size());
    w.Key("verified_ids").BeginArray();
    for (const auto& id : sel.verified_ids) w.String(id);
    w.EndArray();
    w.Key("rejected").BeginArray();
    for (const auto& [id, why] : sel.rejected) {
      w.BeginObject();
      w.Key("id").String(id);
      w.Key("reason").String(why);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    out.push_back(MakeEvent(core::event_type::kTelnyxRecordingsList, core::source::kTelnyxApi, s.id, w.Take()));
  }
  if (!sel.chosen) {
    out.push_back(NotFoundDecision(s, sel.candidates, sel.verified_ids.size()));
    return out;
  }
  const Recording& rec = *sel.chosen;
  JsonWriter w;
  w.BeginObject();
  w.Key("recording_id").String(rec.id);
  w.Key("recording_url_telnyx")
      .String(config_.record_format == "mp3" && !rec.download_url_mp3.empty() ? rec.download_url_mp3
              : !rec.download_url_wav.empty()                               ? rec.download_url_wav
                                                                            : rec.download_url_mp3);
  // duration_millis is what metadata.recording_duration holds (README "HTTP", the intake); the seconds stay
  // for readers of the event catalogue from before it.
  w.Key("duration_millis").Int(rec.duration_millis);
  w.Key("recording_duration").Double(double(rec.duration_millis) / 1000.0);
  w.Key("recording_created_at").String(rec.created_at);
  w.Key("channels").String(rec.channels);
  w.Key("verified_ids").BeginArray();
  for (const auto& id : sel.verified_ids) w.String(id);
  w.EndArray();
  w.Key("via").String("poll");
  w.EndObject();
  core::LogInfo("recording.matched", {{"intake", s.id}, {"recording_id", rec.id},
                                      {"candidates", uint64_t(sel.candidates)},
                                      {"verified", uint64_t(sel.verified_ids.size())}});
  out.push_back(MakeEvent(core::event_type::kRecordingMatched, core::source::kScheduler, s.id, w.Take()));
  return out;
}

Event StepRunner::NotFoundDecision(const IntakeState& s, size_t candidates, size_t verified) {
  int64_t attempts = s.fetch_attempts + 1;
  std::string seen = std::to_string(candidates) + " candidates, " + std::to_string(verified) + " verified";
  if (attempts >= config_.fetch_max_attempts) {
    core::LogWarn("intake.failed", {{"intake", s.id}, {"reason", "recording_not_found"},
                                    {"queries", s.fetch_queries}});
    return IntakeFailedEvent(s.id, "recording_not_found",
                             "no recording of this call after " + std::to_string(attempts) +
                                 " queries (last: " + seen + ")",
                             attempts);
  }
  int64_t due = Now() + config_.fetch_interval.count();
  core::LogInfo("fetch.scheduled", {{"intake", s.id}, {"query", s.fetch_queries + 1},
                                    {"reason", "not found yet"}, {"seen", seen}});
  return FetchScheduledEvent(s.id, s.fetch_queries + 1, attempts, due, "not found yet (" + seen + ")");
}

Event StepRunner::TransientDecision(const IntakeState& s, const ApiResult& last) {
  int64_t now = Now();
  int64_t first = s.first_query_at_ms.value_or(now);
  if (now - first >= config_.give_up_after.count()) {
    core::LogWarn("intake.failed", {{"intake", s.id}, {"reason", "gave_up"}, {"error", last.error}});
    return IntakeFailedEvent(s.id, "gave_up",
                             "Telnyx gave no usable answer for " +
                                 core::FormatDuration(std::chrono::milliseconds(now - first)) +
                                 "; last: " + last.error);
  }
  // Queries that were not "not found" so far, this one included: the backoff exponent.
  uint32_t transient = uint32_t(std::max<int64_t>(1, s.fetch_queries - s.fetch_attempts));
  auto delay = FullJitterDelay(transient, config_.backoff, random_());
  if (last.retry_after && *last.retry_after > delay) delay = *last.retry_after;
  std::string reason = last.status == 429   ? "rate limited (429)"
                       : last.status >= 500 ? "Telnyx error " + std::to_string(last.status)
                       : last.status == 0   ? "no answer from Telnyx"
                                            : "unexpected answer " + std::to_string(last.status);
  core::LogWarn("fetch.scheduled", {{"intake", s.id}, {"query", s.fetch_queries + 1},
                                    {"reason", reason}, {"delay_ms", int64_t(delay.count())}});
  return FetchScheduledEvent(s.id, s.fetch_queries + 1, s.fetch_attempts, now + delay.count(), reason);
}

// The call has lasted --max-call-duration and no call.hangup came: ask Telnyx whether it is
// still up. Over (not alive, 404, 422) -> call.presumed_ended, which the projection folds in as
// the hangup; alive -> asked again after max_call_duration / 4; no usable answer -> backoff.
std::vector<Event> StepRunner::CallStatus(const IntakeState& s) {
  CallStatusLookup r = telnyx_.GetCallStatus(s.call_control_id.value_or(""));
  const int64_t now = Now();
  const int64_t checks = s.call_status_checks + 1;
  std::string reason, detail;
  if (r.api.ok() && r.is_alive == false) {
    reason = "not_alive";
    detail = "GET /v2/calls answered is_alive false";
  } else if (r.api.status == 404 || r.api.status == 422) {
    reason = r.api.status == 404 ? "not_found" : "call_invalid";
    detail = "GET /v2/calls answered " + std::to_string(r.api.status) + ": " + r.api.error;
  }
  if (!reason.empty()) {
    int64_t ended_at = now;
    if (r.end_time) {
      if (auto t = core::ParseRfc3339Millis(*r.end_time); t.ok()) ended_at = *t;
    }
    core::LogWarn("call.presumed_ended", {{"intake", s.id}, {"reason", reason}, {"checks", checks}});
    return {ApiEvent(core::event_type::kTelnyxCallStatus, s.id, r.api, {}),
            PresumedEndedEvent(s.id, reason, detail, ended_at, r.call_duration_s, checks)};
  }
  std::chrono::milliseconds delay;
  if (r.api.ok()) {
    delay = std::max<std::chrono::milliseconds>(config_.max_call_duration / 4, std::chrono::seconds(1));
  } else {
    // 429, 5xx, no answer, other 4xx: the call may well be up; ask again, backing off.
    delay = FullJitterDelay(uint32_t(std::min<int64_t>(checks, 30)), config_.backoff, random_());
    if (r.api.retry_after && *r.api.retry_after > delay) delay = *r.api.retry_after;
  }
  core::LogInfo("call.status", {{"intake", s.id}, {"status", r.api.status},
                                {"outcome", ApiOutcomeName(r.api.outcome)},
                                {"alive", r.is_alive.value_or(false)},
                                {"delay_ms", int64_t(delay.count())}});
  return {ApiEvent(core::event_type::kTelnyxCallStatus, s.id, r.api, now + delay.count())};
}

std::vector<Event> StepRunner::Delete(const IntakeState& s) {
  ApiResult r = telnyx_.DeleteRecording(s.recording_id.value_or(""));
  std::optional<int64_t> retry_at;
  if (!r.ok() && r.status != 404)
    retry_at = Now() + FullJitterDelay(uint32_t(s.delete_attempts + 1), config_.backoff, random_()).count();
  core::LogInfo("recording.delete", {{"intake", s.id}, {"status", r.status},
                                     {"outcome", ApiOutcomeName(r.outcome)}});
  return {ApiEvent(core::event_type::kTelnyxRecordingDelete, s.id, r, retry_at)};
}

}  // namespace callrec::projector
