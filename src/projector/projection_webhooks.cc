// projection_webhooks.cc — folding `telnyx.webhook` events: binding calls to intakes, buffering
// webhooks that arrive before their call.answered, and the call facts (hangup, recording saved or
// failed). The matching rules are in projection.h, the state changes in intake_state.h.
#include <climits>

#include "core/phone.h"
#include "projector/projection.h"
#include "projector/projection_keys.h"

namespace callrec::projector {
namespace {

// a + b clamped to int64 (settings and times come from events and may be hostile).
int64_t SatAdd(int64_t a, int64_t b) {
  if (b > 0 && a > LLONG_MAX - b) return LLONG_MAX;
  if (b < 0 && a < LLONG_MIN - b) return LLONG_MIN;
  return a + b;
}

std::optional<std::string> NonEmpty(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional<std::string>(s);
}

// The webhook is about this intake's call leg itself, not only another leg of its session.
bool SameCall(const IntakeState& s, const WebhookFacts& f) {
  if (!f.call_control_id.empty()) return f.call_control_id == s.call_control_id;
  return !f.call_leg_id.empty() && f.call_leg_id == s.call_leg_id;
}

bool Conflicts(const std::string& webhook_id, const std::optional<std::string>& intake_id) {
  return !webhook_id.empty() && intake_id && webhook_id != *intake_id;
}

// Is this recording the intake's? Manual mode: our own call leg, and the file name record_start
// asked for (`custom_file_name` = intake id; Telnyx appends "-<unix time>"). Auto mode: Telnyx
// records by itself, so the session is what ties it to the call. Returns why not, or nullopt.
std::optional<std::string> RecordingMismatch(const IntakeState& s, const WebhookFacts& f,
                                             RecordMode mode) {
  if (f.recording_id.empty()) return "no recording_id";
  if (mode == RecordMode::kAuto) {
    if (f.call_session_id.empty() || f.call_session_id != s.call_session_id)
      return "call_session_id does not match the intake's call";
    return std::nullopt;
  }
  if (!SameCall(s, f) || Conflicts(f.call_leg_id, s.call_leg_id) ||
      Conflicts(f.call_session_id, s.call_session_id))
    return "call ids do not match the intake's call";
  std::string_view name = RecordingFileName(f.recording_url);
  std::string expected = s.id + "-";
  if (name.substr(0, expected.size()) != expected)
    return "file name \"" + std::string(name) + "\" is not " + expected + "<time>";
  return std::nullopt;
}

void FoldHangup(IntakeState& s, const WebhookFacts& f, RecordMode mode, bool before_answer) {
  if (!SameCall(s, f) || s.hangup_seen()) return;  // another leg, or a duplicate
  s.hangup_at_ms = f.event_time_ms();
  s.hangup_cause = NonEmpty(f.hangup_cause);
  if (s.state != State::kAnswered && s.state != State::kRecording) return;
  if (before_answer && mode == RecordMode::kManual && s.state == State::kAnswered) {
    // We learn of the answer only after the call is over: record_start can no longer work.
    FailIntake(s, FailureReason::kRecordStartFailed,
               "the call ended before recording could start (call.hangup was delivered before "
               "call.answered)");
    return;
  }
  s.state = State::kEnded;
}

void FoldRecordingSaved(IntakeState& s, const WebhookFacts& f, RecordMode mode) {
  if (auto why = RecordingMismatch(s, f, mode)) {
    s.last_error = "ignored call.recording.saved " + f.recording_id + ": " + *why;
    return;
  }
  // Known already: a duplicate, or polling found it first. Stored intakes keep their copy.
  if (s.recording_known() || s.state == State::kCreated || s.state == State::kStored) return;
  s.recording_id = f.recording_id;
  s.recording_url_telnyx = NonEmpty(f.recording_url);
  if (f.recording_started_at_ms && f.recording_ended_at_ms)
    s.recording_duration_s = double(*f.recording_ended_at_ms - *f.recording_started_at_ms) / 1000;
  if (!s.recording_started_at_ms) s.recording_started_at_ms = f.recording_started_at_ms;
  MarkFetched(s, f.recorded_at_ms);
}

}  // namespace

void Projection::ApplyWebhook(const core::Event& e) {
  auto facts = ParseWebhookFacts(e, parser_);
  if (!facts.ok()) {
    WebhookFacts unreadable;
    unreadable.seq = e.seq;
    RecordUnmatched(unreadable, "unreadable webhook: " + facts.status().message());
    return;
  }
  ExpireOrphans(e.recorded_at_ms);
  const std::string& type = facts->event_type;
  if (type == "call.answered") return ApplyAnswered(*facts);
  if (type == "call.hangup" || type == "call.recording.saved" ||
      type == "call.recording.error" || type == "call.initiated") {
    return ApplyCallFact(*facts);
  }
  // Any other type is stored and changes no state; it still shows on a bound call's timeline.
  auto hit = LookupCall(*facts);
  if (hit && !hit->intake_id.empty()) AddLink(hit->intake_id, facts->seq);
}

std::optional<Projection::CallHit> Projection::LookupCall(const WebhookFacts& f) const {
  auto find = [this](char kind, const std::string& id) -> std::optional<std::string> {
    if (id.empty()) return std::nullopt;
    return ReadKey(std::string(keys::kCall) + kind + "/" + id);
  };
  if (auto id = find('c', f.call_control_id)) return CallHit{*id, true};
  if (auto id = find('l', f.call_leg_id)) return CallHit{*id, true};
  if (auto id = find('s', f.call_session_id)) return CallHit{*id, false};
  return std::nullopt;
}

void Projection::ApplyAnswered(const WebhookFacts& f) {
  if (auto hit = LookupCall(f)) {
    // A redelivery under a new data.id, or another leg of a bound session: never rebinds.
    if (hit->intake_id.empty()) {
      RecordUnmatched(f, "its call matched no intake");
    } else {
      AddLink(hit->intake_id, f.seq);
    }
    return;
  }
  Match match = MatchIntake(f);
  if (!match.intake_id.empty()) return Bind(match.intake_id, f);
  RecordUnmatched(f, match.why_not);
  if (!f.call_control_id.empty()) {
    IndexCall('c', f.call_control_id, "");  // its later webhooks are unmatched, not orphans
    DropOrphansOfCall(f.call_control_id, "its call.answered matched no intake");
  }
}

Projection::Match Projection::MatchIntake(const WebhookFacts& f) {
  if (f.call_control_id.empty()) return {"", "call.answered without call_control_id"};
  if (auto named = IntakeIdFromClientState(f.client_state)) {
    if (const Entry* e = EntryFor(*named)) {
      if (!e->intake.call_bound()) return {*named, ""};
      return {"", "client_state names intake " + *named + ", already bound to another call"};
    }
  }
  auto phone = core::NormalizeE164(f.direction == "incoming" ? f.from : f.to);
  if (!phone.ok()) return {"", "no E.164 patient number in the webhook"};
  const int64_t t = f.event_time_ms();
  auto best = MatchByPhone(*phone, SatAdd(t, -settings_.match_window_ms), SatAdd(t, kMatchClockSkewMs));
  if (best) return {*best, ""};
  // Only the reason differs: any intake ever created for the number? (phone keys stay forever)
  std::string prefix = std::string(keys::kPhone) + *phone + "/";
  bool any = false;
  ScanKeys(prefix, prefix, prefix + "\xff", [&](std::string_view) { return !(any = true); });
  if (!any) return {"", "no intake for the number"};
  return {"", "no unbound intake for the number within the match window"};
}

// The unbound index holds exactly the intakes rule 3 may pick (in `created`, not on a call), keyed
// by (creation time, creation seq): the last key in the time range is the one.
std::optional<std::string> Projection::MatchByPhone(const std::string& e164, int64_t earliest,
                                                    int64_t latest) const {
  if (earliest > latest) return std::nullopt;
  std::string prefix = keys::UnboundPrefix(e164);
  std::string to = prefix + keys::TimeBe64(latest) + "\xff";  // every key of the last millisecond
  std::string last;
  ScanKeys(prefix, prefix + keys::TimeBe64(earliest), to, [&](std::string_view k) {
    last = std::string(k);
    return true;
  });
  if (last.size() <= prefix.size() + keys::kUnboundIdOffset) return std::nullopt;
  return last.substr(prefix.size() + keys::kUnboundIdOffset);
}

void Projection::Bind(const std::string& id, const WebhookFacts& f) {
  IndexCall('c', f.call_control_id, id);
  IndexCall('l', f.call_leg_id, id);
  IndexCall('s', f.call_session_id, id);
  AddLink(id, f.seq);
  std::vector<WebhookFacts> early;  // delivered before this answer, in seq order
  if (auto it = orphans_by_call_.find(f.call_control_id); it != orphans_by_call_.end()) {
    for (uint64_t seq : std::set<uint64_t>(it->second)) {
      if (auto o = orphans_.find(seq); o != orphans_.end()) early.push_back(o->second);
      EraseOrphan(seq);
      AddLink(id, seq);
    }
  }
  Mutate(id, f.recorded_at_ms, [&](IntakeState& s) {
    s.call_control_id = f.call_control_id;
    s.call_leg_id = NonEmpty(f.call_leg_id);
    s.call_session_id = NonEmpty(f.call_session_id);
    s.answered_at_ms = f.event_time_ms();
    if (s.state == State::kCreated) s.state = State::kAnswered;
    for (const WebhookFacts& o : early) FoldFact(s, o, /*before_answer=*/true);
  });
}

void Projection::FoldFact(IntakeState& s, const WebhookFacts& f, bool before_answer) const {
  if (f.event_type == "call.hangup") {
    FoldHangup(s, f, settings_.record_mode, before_answer);
  } else if (f.event_type == "call.recording.saved") {
    FoldRecordingSaved(s, f, settings_.record_mode);
  } else if (f.event_type == "call.recording.error") {
    if (!SameCall(s, f) && settings_.record_mode == RecordMode::kManual) return;
    // Telnyx may still save a recording; polling goes on and decides.
    s.last_error = "call.recording.error: " + (f.reason.empty() ? "no reason given" : f.reason);
  }
  // call.initiated: on the timeline only.
}

void Projection::ApplyCallFact(const WebhookFacts& f) {
  auto hit = LookupCall(f);
  if (!hit) {
    if (f.call_control_id.empty()) return RecordUnmatched(f, "webhook without call_control_id");
    return BufferOrphan(f);  // its call.answered may still come
  }
  if (hit->intake_id.empty()) return RecordUnmatched(f, "its call matched no intake");
  AddLink(hit->intake_id, f.seq);
  Mutate(hit->intake_id, f.recorded_at_ms,
         [&](IntakeState& s) { FoldFact(s, f, /*before_answer=*/false); });
}

// ---- orphans --------------------------------------------------------------------------------

void Projection::BufferOrphan(const WebhookFacts& f) {
  orphans_[f.seq] = f;
  orphans_by_call_[f.call_control_id].insert(f.seq);
  Put(SeqKey(keys::kOrphan, f.seq), FactsToJson(f));
}

void Projection::EraseOrphan(uint64_t seq) {
  auto it = orphans_.find(seq);
  if (it == orphans_.end()) return;
  auto by_call = orphans_by_call_.find(it->second.call_control_id);
  if (by_call != orphans_by_call_.end()) {
    by_call->second.erase(seq);
    if (by_call->second.empty()) orphans_by_call_.erase(by_call);
  }
  orphans_.erase(it);
  Delete(SeqKey(keys::kOrphan, seq));
}

void Projection::DropOrphansOfCall(const std::string& call_control_id, std::string_view reason) {
  auto it = orphans_by_call_.find(call_control_id);
  if (it == orphans_by_call_.end()) return;
  for (uint64_t seq : std::set<uint64_t>(it->second)) {
    if (auto o = orphans_.find(seq); o != orphans_.end()) RecordUnmatched(o->second, reason);
    EraseOrphan(seq);
  }
}

void Projection::ExpireOrphans(int64_t now_ms) {
  const int64_t cutoff = SatAdd(now_ms, -kOrphanTtlMs);
  // Seq order is (nearly) age order; stopping at the first young one keeps this O(expired).
  while (!orphans_.empty() && orphans_.begin()->second.recorded_at_ms < cutoff) {
    RecordUnmatched(orphans_.begin()->second, "no call.answered for its call within 24 h");
    EraseOrphan(orphans_.begin()->first);
  }
}

}  // namespace callrec::projector
