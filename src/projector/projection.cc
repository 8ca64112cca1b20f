// projection.cc — Projection bookkeeping: dispatch, change tracking, flush, load and rebuild.
// The event handlers live in projection_webhooks.cc and projection_intake_events.cc.
#include "projector/projection.h"

#include <algorithm>
#include <charconv>

#include "core/json.h"
#include "projector/pg_sync.h"

namespace callrec::projector {
namespace {

using core::Result;
using core::Status;

constexpr std::string_view kIntakePrefix = "intake/";
constexpr std::string_view kStatePrefix = "state/";
constexpr std::string_view kLinkPrefix = "link/";
constexpr std::string_view kLastSeqKey = "projector/last_seq";
constexpr std::string_view kSettingsKey = "projector/settings";
constexpr std::string_view kUnmatchedTotalKey = "projector/unmatched_total";
constexpr std::string_view kUnmatchedPrefix = "projector/unmatched/";
constexpr std::string_view kPhonePrefix = "projector/phone/";
constexpr std::string_view kCallPrefix = "projector/call/";
constexpr std::string_view kOrphanPrefix = "projector/orphan/";
constexpr std::string_view kUpdatedPrefix = "updated/";

std::optional<uint64_t> ParseDecimal(std::string_view text) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

std::string StateKey(State state, std::string_view id) {
  return std::string(kStatePrefix) + std::string(StateName(state)) + "/" + std::string(id);
}

Result<ProjectorSettings> SettingsFromJson(std::string_view json) {
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, json);
  if (!root.ok()) return Status::Corruption("projector/settings: " + root.status().message());
  auto mode = core::JsonString(*root, "/record_mode");
  auto window = core::JsonInt(*root, "/match_window_ms");
  if (!mode || (*mode != "auto" && *mode != "manual") || !window || *window < 0)
    return Status::Corruption("projector/settings: bad value");
  return ProjectorSettings{*mode == "auto" ? RecordMode::kAuto : RecordMode::kManual, *window};
}

}  // namespace

std::string SettingsToJson(const ProjectorSettings& s) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("record_mode").String(s.record_mode == RecordMode::kAuto ? "auto" : "manual");
  w.Key("match_window_ms").Int(s.match_window_ms);
  w.EndObject();
  return w.Take();
}

std::string SeqKey(std::string_view prefix, uint64_t seq) {
  std::string key(prefix);
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(char((seq >> shift) & 0xFF));
  return key;
}

// ---- applying -------------------------------------------------------------------------------

std::vector<std::string> Projection::Apply(const core::Event& e) {
  if (e.seq <= last_seq_) return {};  // already applied (or seq 0: never stored)
  changed_.clear();
  applying_seq_ = e.seq;
  if (e.type == "service.started") {
    ApplyServiceStarted(e);
  } else if (e.type == "intake.created") {
    ApplyIntakeCreated(e);
  } else if (e.type == "telnyx.webhook") {
    ApplyWebhook(e);
  } else if (!e.intake_id.empty()) {
    ApplyIntakeEvent(e);
  }
  last_seq_ = e.seq;
  seq_dirty_ = true;
  std::sort(changed_.begin(), changed_.end());
  changed_.erase(std::unique(changed_.begin(), changed_.end()), changed_.end());
  return std::move(changed_);
}

void Projection::Put(std::string key, std::string value) { pending_[std::move(key)] = std::move(value); }

void Projection::Delete(std::string key) { pending_[std::move(key)] = std::nullopt; }

void Projection::Mutate(const std::string& id, int64_t now_ms,
                        const std::function<void(IntakeState&)>& change) {
  auto it = intakes_.find(id);
  if (it == intakes_.end()) return;
  IntakeState& s = it->second.intake;
  IntakeState before = s;
  change(s);
  if (s == before) return;
  s.updated_at_ms = now_ms;
  it->second.updated_seq = applying_seq_;
  dirty_intakes_.insert(id);
  changed_.push_back(id);
}

void Projection::AddLink(const std::string& id, uint64_t seq) {
  Put(SeqKey(std::string(kLinkPrefix) + id + "/", seq), "");
}

void Projection::RecordUnmatched(const WebhookFacts& f, std::string_view reason) {
  ++unmatched_total_;
  core::JsonWriter w;
  w.BeginObject();
  w.Key("event_type").String(f.event_type);
  w.Key("call_control_id").String(f.call_control_id);
  w.Key("reason").String(reason);
  w.EndObject();
  Put(SeqKey(kUnmatchedPrefix, f.seq), w.Take());
  Put(std::string(kUnmatchedTotalKey), std::to_string(unmatched_total_));
}

void Projection::IndexCall(char kind, const std::string& call_id, const std::string& intake_id) {
  if (call_id.empty()) return;
  std::string key = std::string(1, kind) + "/" + call_id;
  // A call id already bound (e.g. the session of an earlier leg) keeps its first intake.
  if (calls_.count(key) && !calls_[key].empty()) return;
  calls_[key] = intake_id;
  Put(std::string(kCallPrefix) + key, intake_id);
}

// ---- reads ----------------------------------------------------------------------------------

const IntakeState* Projection::Find(std::string_view id) const {
  auto it = intakes_.find(id);
  return it == intakes_.end() ? nullptr : &it->second.intake;
}

void Projection::ForEachIntake(const std::function<void(const IntakeState&)>& visit) const {
  for (const auto& [id, entry] : intakes_) visit(entry.intake);
}

void Projection::ForEachPending(const std::function<void(const IntakeState&)>& visit) const {
  for (const auto& [id, entry] : intakes_) {
    const IntakeState& s = entry.intake;
    // Only states the actor acts in: `created` waits for call.answered, so intakes whose call
    // never came do not cost every scheduler pass. `recording` waits for call.hangup, but not
    // past --max-call-duration (the call-status check, next_step.h). A stored recording may
    // still have a delete pending (--delete-after-upload).
    switch (s.state) {
      case State::kAnswered:
      case State::kRecording:
      case State::kEnded:
      case State::kFetched:
        visit(s);
        break;
      case State::kStored:
        if (!s.recording_deleted_at_ms) visit(s);
        break;
      case State::kCreated:
      case State::kFailed:
        break;
    }
  }
}

std::optional<std::string> Projection::IntakeForCall(std::string_view call_id) const {
  for (char kind : {'c', 'l', 's'}) {
    auto it = calls_.find(std::string(1, kind) + "/" + std::string(call_id));
    if (it != calls_.end() && !it->second.empty()) return it->second;
  }
  return std::nullopt;
}

// ---- flushing -------------------------------------------------------------------------------

bool Projection::has_unflushed_changes() const {
  return seq_dirty_ || !pending_.empty() || !dirty_intakes_.empty();
}

void Projection::AppendChangesTo(core::DerivedBatch& batch) {
  for (auto& [key, value] : pending_) {
    if (value) {
      batch.Put(key, std::move(*value));
    } else {
      batch.Delete(key);
    }
  }
  pending_.clear();
  for (const auto& id : dirty_intakes_) {
    Entry& entry = intakes_.find(id)->second;
    batch.Put(std::string(kIntakePrefix) + id, IntakeToJson(entry.intake));
    if (entry.flushed_state != entry.intake.state) {
      if (entry.flushed_state) batch.Delete(StateKey(*entry.flushed_state, id));
      batch.Put(StateKey(entry.intake.state, id), "");
      entry.flushed_state = entry.intake.state;
    }
    if (entry.flushed_updated_seq != entry.updated_seq) {
      if (entry.flushed_updated_seq) batch.Delete(UpdatedKey(entry.flushed_updated_seq, id));
      batch.Put(UpdatedKey(entry.updated_seq, id), "");
      entry.flushed_updated_seq = entry.updated_seq;
    }
  }
  dirty_intakes_.clear();
  batch.Put(std::string(kLastSeqKey), std::to_string(last_seq_));
  seq_dirty_ = false;
}

core::DerivedBatch Projection::Flush() {
  core::DerivedBatch batch;
  AppendChangesTo(batch);
  return batch;
}

// ---- loading and rebuilding -----------------------------------------------------------------

Result<Projection> Projection::Load(core::EventStore& store) {
  Projection p;
  CALLREC_ASSIGN_OR_RETURN(auto last_seq, store.GetDerived(kLastSeqKey));
  if (!last_seq) return p;  // nothing projected yet
  auto seq = ParseDecimal(*last_seq);
  if (!seq) return Status::Corruption("projector/last_seq is not a number: " + *last_seq);
  p.last_seq_ = *seq;
  CALLREC_ASSIGN_OR_RETURN(auto settings, store.GetDerived(kSettingsKey));
  if (settings) {
    CALLREC_ASSIGN_OR_RETURN(p.settings_, SettingsFromJson(*settings));
  }
  CALLREC_ASSIGN_OR_RETURN(auto unmatched, store.GetDerived(kUnmatchedTotalKey));
  if (unmatched) {
    auto n = ParseDecimal(*unmatched);
    if (!n) return Status::Corruption("projector/unmatched_total is not a number");
    p.unmatched_total_ = *n;
  }
  CALLREC_RETURN_IF_ERROR(p.LoadEntries(store));
  return p;
}

core::Status Projection::LoadEntries(core::EventStore& store) {
  Status bad;
  auto fail = [&bad](std::string what) {
    bad = Status::Corruption(std::move(what));
    return false;
  };
  CALLREC_RETURN_IF_ERROR(store.ScanDerived(kIntakePrefix, [&](std::string_view k, std::string_view v) {
    auto intake = IntakeFromJson(v);
    if (!intake.ok()) return fail(std::string(k) + ": " + intake.status().message());
    std::string id = intake->id;
    State state = intake->state;
    intakes_[id] = Entry{std::move(*intake), 0, 0, state, 0};
    return true;
  }));
  CALLREC_RETURN_IF_ERROR(bad);
  CALLREC_RETURN_IF_ERROR(store.ScanDerived(kPhonePrefix, [&](std::string_view k, std::string_view v) {
    std::string_view rest = k.substr(kPhonePrefix.size());
    size_t slash = rest.rfind('/');
    auto seq = ParseDecimal(v);
    if (slash == std::string_view::npos || !seq) return fail("bad phone index key");
    auto it = intakes_.find(rest.substr(slash + 1));
    if (it == intakes_.end()) return fail("phone index names a missing intake");
    it->second.created_seq = *seq;
    phones_[std::string(rest.substr(0, slash))].push_back(it->first);
    return true;
  }));
  CALLREC_RETURN_IF_ERROR(bad);
  CALLREC_RETURN_IF_ERROR(store.ScanDerived(kUpdatedPrefix, [&](std::string_view k, std::string_view) {
    // updated/<seq:be64>/<id>
    if (k.size() < kUpdatedPrefix.size() + 10 || k[kUpdatedPrefix.size() + 8] != '/')
      return fail("bad updated/ key");
    uint64_t seq = 0;
    for (size_t i = 0; i < 8; ++i) seq = (seq << 8) | uint8_t(k[kUpdatedPrefix.size() + i]);
    auto it = intakes_.find(k.substr(kUpdatedPrefix.size() + 9));
    if (it == intakes_.end()) return fail("updated/ names a missing intake");
    it->second.updated_seq = it->second.flushed_updated_seq = seq;
    return true;
  }));
  CALLREC_RETURN_IF_ERROR(bad);
  CALLREC_RETURN_IF_ERROR(store.ScanDerived(kCallPrefix, [&](std::string_view k, std::string_view v) {
    calls_[std::string(k.substr(kCallPrefix.size()))] = std::string(v);
    return true;
  }));
  CALLREC_RETURN_IF_ERROR(store.ScanDerived(kOrphanPrefix, [&](std::string_view k, std::string_view v) {
    auto facts = FactsFromJson(v, parser_);
    if (!facts.ok()) return fail(std::string("orphan: ") + facts.status().message());
    orphans_by_call_[facts->call_control_id].insert(facts->seq);
    orphans_[facts->seq] = std::move(*facts);
    (void)k;
    return true;
  }));
  return bad;
}

Result<Projection> Projection::Rebuild(core::EventStore& store, const RebuildProgress& progress) {
  Projection p;
  uint64_t applied = 0;
  CALLREC_RETURN_IF_ERROR(store.ForEachFrom(1, [&](const core::Event& e) {
    p.Apply(e);
    if (progress && ++applied % 10000 == 0) progress(applied, e.seq);
    return true;
  }));
  if (progress) progress(applied, p.last_seq_);
  return p;
}

Result<Projection> Projection::RebuildInto(core::EventStore& store, core::DerivedRebuild& out,
                                           const RebuildProgress& progress,
                                           size_t events_per_batch) {
  Projection p;
  uint64_t applied = 0;
  Status write_status;
  CALLREC_RETURN_IF_ERROR(store.ForEachFrom(1, [&](const core::Event& e) {
    p.Apply(e);
    ++applied;
    if (applied % std::max<size_t>(events_per_batch, 1) == 0) {
      write_status = out.Write(p.Flush());
      if (!write_status.ok()) return false;
      if (progress) progress(applied, e.seq);
    }
    return true;
  }));
  CALLREC_RETURN_IF_ERROR(write_status);
  CALLREC_RETURN_IF_ERROR(out.Write(p.Flush()));
  if (progress) progress(applied, p.last_seq_);
  return p;
}

}  // namespace callrec::projector
