// projection_webhooks.cc — folding `telnyx.webhook` events: binding calls to intakes, buffering
// webhooks that arrive before their call.answered, and the call facts (hangup, recording saved or
// failed). The matching rules are in projection.h, the state changes in intake_state.h.
#include <algorithm>
#include <climits>
#include <cstdlib>

#include "core/json.h"
#include "core/phone.h"
#include "projector/projection/projection.h"
#include "projector/projection/projection_keys.h"
#include "projector/projection/recording_file_name.h"

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

// Is a recording's call this intake's call? Telnyx does not promise that a recording's
// call_control_id is the webhooks' string (a documented example carries the leg UUID there), so
// the leg and session decide: a differing leg or session never is this call; matching leg and
// session always are. Only without a leg to compare does the control id have to be ours.
// The same rules as recording_match.cc Verify, for recordings named by call.recording.saved.
std::optional<std::string> RecordingCallMismatch(const IntakeState& s, const WebhookFacts& f) {
  if (Conflicts(f.call_leg_id, s.call_leg_id)) return "call_leg_id " + f.call_leg_id + " is another leg's";
  if (Conflicts(f.call_session_id, s.call_session_id))
    return "call_session_id " + f.call_session_id + " is another call's";
  if (!f.call_leg_id.empty() && s.call_leg_id) return std::nullopt;  // same leg (and session)
  if (!f.call_control_id.empty() && f.call_control_id == s.call_control_id) return std::nullopt;
  return "call ids do not identify the intake's call";
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
  if (auto why = RecordingCallMismatch(s, f)) return why;
  if (f.recording_url.empty()) return "no download URL";
  // As for a polled recording: "<intake id>-<digits>", so intake "a" never claims "a-1-17..".
  std::string name = DownloadFileName(f.recording_url);
  if (!FileNameBelongsToIntake(name, s.id))
    return "file name \"" + name + "\" is not " + s.id + "-<timestamp>";
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
  s.next_attempt_at_ms.reset();  // a call-status check that was due: the hangup answers it
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
  // The webhook has no duration_millis; its start and end give the same milliseconds.
  if (f.recording_started_at_ms && f.recording_ended_at_ms)
    s.recording_duration_ms = *f.recording_ended_at_ms - *f.recording_started_at_ms;
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
  ExpireUnbound(e.recorded_at_ms);
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
  Direction direction = DirectionOf(f);
  Match match = MatchIntake(f, direction);
  if (!match.intake_id.empty()) return Bind(match.intake_id, f, match, direction, f.recorded_at_ms);
  RecordUnmatched(f, match.why_not);
  if (!f.call_control_id.empty()) {
    IndexCall('c', f.call_control_id, "");  // its later webhooks are unmatched, not orphans
    KeepUnbound(f, direction);              // unless an intake for it is created late
    DropOrphansOfCall(f.call_control_id, "its call.answered matched no intake");
  }
}

// Real call.answered bodies carry no direction: call.initiated does. Old (and hand-made)
// answered bodies that carry one are read as before, so old stores replay the same.
Projection::Direction Projection::DirectionOf(const WebhookFacts& answered) const {
  if (auto it = orphans_by_call_.find(answered.call_control_id); it != orphans_by_call_.end()) {
    for (uint64_t seq : it->second) {
      auto o = orphans_.find(seq);
      if (o == orphans_.end() || o->second.event_type != "call.initiated") continue;
      if (o->second.direction == "incoming" || o->second.direction == "outgoing")
        return {o->second.direction, "call.initiated"};
    }
  }
  if (answered.direction == "incoming" || answered.direction == "outgoing")
    return {answered.direction, "call.answered"};
  return {"outgoing", "assumed"};  // callrec serves calls the clinic places
}

// The intakes a call names exactly, as (how, id): client_state "intake:<id>" first, then the
// match header, of the call.answered and then of its call.initiated (both may carry them).
std::vector<std::pair<std::string, std::string>> Projection::NamedIntakes(
    const WebhookFacts& answered) const {
  std::vector<std::pair<std::string, std::string>> names;
  std::vector<const WebhookFacts*> sources = {&answered};
  if (auto it = orphans_by_call_.find(answered.call_control_id); it != orphans_by_call_.end()) {
    for (uint64_t seq : it->second) {
      auto o = orphans_.find(seq);
      if (o != orphans_.end() && o->second.event_type == "call.initiated") sources.push_back(&o->second);
    }
  }
  for (const WebhookFacts* f : sources) {
    if (auto id = IntakeIdFromClientState(f->client_state)) names.emplace_back("client_state", *id);
  }
  for (const WebhookFacts* f : sources) {
    std::string value = f->Header(settings_.match_header);
    if (core::IsStoredIntakeId(value)) names.emplace_back("sip_header", std::move(value));
  }
  return names;
}

Projection::Match Projection::MatchIntake(const WebhookFacts& f, const Direction& direction) {
  if (f.call_control_id.empty()) return {"", "call.answered without call_control_id", "", {}};
  // The first name of an existing intake decides; names of intakes not (yet) created do not.
  for (const auto& [how, named] : NamedIntakes(f)) {
    const Entry* e = EntryFor(named);
    if (e == nullptr) continue;
    if (!e->intake.call_bound()) return {named, "", how, {}};
    return {"", how + " names intake " + named + ", already bound to another call", "", {}};
  }
  auto phone = core::NormalizeE164(direction.direction == "incoming" ? f.from : f.to);
  if (!phone.ok()) return {"", "no E.164 patient number in the webhook", "", {}};
  const int64_t t = f.event_time_ms();
  std::vector<std::string> fits =
      MatchByPhone(*phone, SatAdd(t, -settings_.match_window_ms), SatAdd(t, kMatchClockSkewMs));
  if (!fits.empty()) {
    Match m{fits.front(), "", fits.size() > 1 ? "ambiguous" : "phone", {}};
    m.candidates.assign(fits.rbegin(), std::prev(fits.rend()));  // the others, oldest first
    return m;
  }
  // Only the reason differs: any intake ever created for the number? (phone keys stay forever)
  std::string prefix = std::string(keys::kPhone) + *phone + "/";
  bool any = false;
  ScanKeys(prefix, prefix, prefix + "\xff", [&](std::string_view) { return !(any = true); });
  if (!any) return {"", "no intake for the number", "", {}};
  return {"", "no unbound intake for the number within the match window", "", {}};
}

// The unbound index holds exactly the intakes rule 4 may pick (in `created`, not on a call), keyed
// by (creation time, creation seq): the last key in the time range is the one, and every other key
// in the range is a candidate that makes the match ambiguous.
std::vector<std::string> Projection::MatchByPhone(const std::string& e164, int64_t earliest,
                                                  int64_t latest) const {
  std::vector<std::string> ids;
  if (earliest > latest) return ids;
  std::string prefix = keys::UnboundPrefix(e164);
  std::string to = prefix + keys::TimeBe64(latest) + "\xff";  // every key of the last millisecond
  ScanKeys(prefix, prefix + keys::TimeBe64(earliest), to, [&](std::string_view k) {
    if (k.size() > prefix.size() + keys::kUnboundIdOffset)
      ids.emplace_back(k.substr(prefix.size() + keys::kUnboundIdOffset));
    return true;
  });
  std::reverse(ids.begin(), ids.end());  // newest first
  return ids;
}

void Projection::Bind(const std::string& id, const WebhookFacts& f, const Match& match,
                      const Direction& direction, int64_t now_ms) {
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
  if (match.how == "ambiguous") {
    ++ambiguous_total_;
    Put(std::string(keys::kAmbiguousTotal), std::to_string(ambiguous_total_));
  }
  Mutate(id, now_ms, [&](IntakeState& s) {
    s.call_control_id = f.call_control_id;
    s.call_leg_id = NonEmpty(f.call_leg_id);
    s.call_session_id = NonEmpty(f.call_session_id);
    s.answered_at_ms = f.event_time_ms();
    s.match = NonEmpty(match.how);
    s.match_candidates = match.candidates;
    s.call_direction = direction.direction;
    s.call_direction_source = direction.source;
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
  if (hit->intake_id.empty()) {
    if (auto u = unbound_by_call_.find(f.call_control_id); u != unbound_by_call_.end())
      NoteUnboundFact(u->second, f);  // its intake may still be created
    return RecordUnmatched(f, "its call matched no intake");
  }
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

// ---- calls answered before their intake existed -------------------------------------------
// A dialer may POST the intake only after placing the call. Such a call's call.answered matches
// nothing; it is kept (with its later webhooks) for match_window, and an intake created in that
// time binds to it: by the name its client_state or match header carries, else by the number.

void Projection::KeepUnbound(const WebhookFacts& answered, const Direction& direction) {
  UnboundCall u;
  u.answered = answered;
  u.direction = direction;
  auto phone = core::NormalizeE164(direction.direction == "incoming" ? answered.from : answered.to);
  if (phone.ok()) u.phone = *phone;
  u.names = NamedIntakes(answered);
  if (auto it = orphans_by_call_.find(answered.call_control_id); it != orphans_by_call_.end()) {
    for (uint64_t seq : it->second) {
      if (auto o = orphans_.find(seq); o != orphans_.end()) u.facts.push_back(o->second);
    }
  }
  unbound_by_call_[answered.call_control_id] = answered.seq;
  PutUnbound(unbound_[answered.seq] = std::move(u));
}

void Projection::NoteUnboundFact(uint64_t answered_seq, const WebhookFacts& f) {
  auto it = unbound_.find(answered_seq);
  if (it == unbound_.end()) return;
  it->second.facts.push_back(f);
  PutUnbound(it->second);
}

void Projection::BindLate(const std::string& intake_id, int64_t now_ms) {
  ExpireUnbound(now_ms);
  if (unbound_.empty()) return;
  const Entry* entry = EntryFor(intake_id);
  if (entry == nullptr) return;
  const IntakeState intake = entry->intake;  // a copy: Bind below changes the entry
  // The newest call that names this intake, else the newest one to its number in the window.
  auto pick = unbound_.end();
  std::string how;
  for (auto it = unbound_.rbegin(); it != unbound_.rend() && pick == unbound_.end(); ++it) {
    for (const auto& [name_how, name] : it->second.names) {
      if (name != intake_id) continue;
      pick = std::prev(it.base());
      how = name_how;
      break;
    }
  }
  // By number, in manual mode only a call still up: one that ended unrecorded is of no use to the
  // intake, which had better wait for the call it was created for (a retry).
  const bool manual = settings_.record_mode == RecordMode::kManual;
  for (auto it = unbound_.rbegin(); it != unbound_.rend() && pick == unbound_.end(); ++it) {
    const UnboundCall& u = it->second;
    int64_t answered = u.answered.event_time_ms();
    if (u.phone.empty() || u.phone != intake.patient_phone) continue;
    if (manual && std::any_of(u.facts.begin(), u.facts.end(), [](const WebhookFacts& f) {
          return f.event_type == "call.hangup";
        }))
      continue;
    if (intake.created_at_ms > SatAdd(answered, settings_.match_window_ms)) continue;
    if (intake.created_at_ms < SatAdd(answered, -settings_.match_window_ms)) continue;
    pick = std::prev(it.base());
    how = "phone";
  }
  if (pick == unbound_.end()) return;
  UnboundCall call = std::move(pick->second);
  unbound_by_call_.erase(call.answered.call_control_id);
  Delete(SeqKey(keys::kWaitingCall, pick->first));
  unbound_.erase(pick);

  Bind(intake_id, call.answered, Match{intake_id, "", how, {}}, call.direction, now_ms);
  for (const WebhookFacts& f : call.facts) AddLink(intake_id, f.seq);
  Mutate(intake_id, now_ms, [&](IntakeState& s) {
    for (const WebhookFacts& f : call.facts)
      FoldFact(s, f, /*before_answer=*/f.seq < call.answered.seq);
    // Still up: answered, so the actor sends record_start now. Over before the intake existed:
    // in manual mode nothing was recorded under its name.
    if (manual && s.state == State::kEnded && !s.recording_started_at_ms && !s.recording_known()) {
      FailIntake(s, FailureReason::kRecordStartFailed,
                 "the call ended before its intake was created: nothing was recorded");
    }
  });
}

void Projection::ExpireUnbound(int64_t now_ms) {
  // Seq order is (nearly) answer order; stopping at the first young one keeps this O(expired).
  while (!unbound_.empty()) {
    const UnboundCall& u = unbound_.begin()->second;
    int64_t until = SatAdd(SatAdd(u.answered.event_time_ms(), settings_.match_window_ms),
                           kMatchClockSkewMs);
    if (until >= now_ms) break;
    unbound_by_call_.erase(u.answered.call_control_id);
    Delete(SeqKey(keys::kWaitingCall, unbound_.begin()->first));
    unbound_.erase(unbound_.begin());
  }
}

void Projection::PutUnbound(const UnboundCall& u) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("answered").Raw(FactsToJson(u.answered));
  w.Key("phone").String(u.phone);
  w.Key("names").BeginArray();
  for (const auto& [how, id] : u.names) w.BeginArray().String(how).String(id).EndArray();
  w.EndArray();
  w.Key("direction").String(u.direction.direction);
  w.Key("direction_source").String(u.direction.source);
  w.Key("facts").BeginArray();
  for (const WebhookFacts& f : u.facts) w.Raw(FactsToJson(f));
  w.EndArray();
  w.EndObject();
  Put(SeqKey(keys::kWaitingCall, u.answered.seq), w.Take());
}

core::Status Projection::LoadUnbound() {
  CALLREC_ASSIGN_OR_RETURN(auto ambiguous, store_->GetDerived(keys::kAmbiguousTotal));
  if (ambiguous) ambiguous_total_ = std::strtoull(ambiguous->c_str(), nullptr, 10);
  core::Status bad;
  simdjson::dom::parser outer;
  CALLREC_RETURN_IF_ERROR(store_->ScanDerived(keys::kWaitingCall, [&](std::string_view, std::string_view v) {
    auto root = core::ParseJson(outer, v);
    simdjson::dom::element answered;
    simdjson::dom::array names, facts;
    if (!root.ok() || (*root)["answered"].get(answered) || (*root)["names"].get_array().get(names) ||
        (*root)["facts"].get_array().get(facts)) {
      bad = core::Status::Corruption("projector/waiting_call: unreadable entry");
      return false;
    }
    UnboundCall u;
    auto a = FactsFromJson(simdjson::minify(answered), parser_);
    if (!a.ok()) {
      bad = a.status();
      return false;
    }
    u.answered = std::move(*a);
    u.phone = std::string(core::JsonString(*root, "/phone").value_or(""));
    u.direction.direction = std::string(core::JsonString(*root, "/direction").value_or("outgoing"));
    u.direction.source = std::string(core::JsonString(*root, "/direction_source").value_or("assumed"));
    for (simdjson::dom::element pair : names) {
      std::string_view how, id;
      if (pair.at(0).get_string().get(how) || pair.at(1).get_string().get(id)) continue;
      u.names.emplace_back(std::string(how), std::string(id));
    }
    for (simdjson::dom::element fact : facts) {
      auto f = FactsFromJson(simdjson::minify(fact), parser_);
      if (!f.ok()) {
        bad = f.status();
        return false;
      }
      u.facts.push_back(std::move(*f));
    }
    unbound_by_call_[u.answered.call_control_id] = u.answered.seq;
    unbound_[u.answered.seq] = std::move(u);
    return true;
  }));
  return bad;
}

}  // namespace callrec::projector
