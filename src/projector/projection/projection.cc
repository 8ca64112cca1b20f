// projection.cc — Projection bookkeeping: dispatch, change tracking, flush, load and rebuild.
// The event handlers live in projection_webhooks.cc and projection_intake_events.cc; reading
// back what is not in memory in projection_store.cc.
#include "projector/projection/projection.h"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <thread>

#include "core/event_types.h"
#include "core/json.h"
#include "core/thread_annotations.h"
#include "projector/projection/projection_keys.h"

namespace callrec::projector {
namespace {

using core::Result;
using core::Status;

std::optional<uint64_t> ParseDecimal(std::string_view text) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

Result<ProjectorSettings> SettingsFromJson(std::string_view json) {
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, json);
  if (!root.ok()) return Status::Corruption("projector/settings: " + root.status().message());
  auto mode = core::JsonString(*root, "/record_mode");
  auto window = core::JsonInt(*root, "/match_window_ms");
  if (!mode || (*mode != "auto" && *mode != "manual") || !window || *window < 0)
    return Status::Corruption("projector/settings: bad value");
  auto header = core::JsonString(*root, "/match_header");  // absent before --match-header
  return ProjectorSettings{*mode == "auto" ? RecordMode::kAuto : RecordMode::kManual, *window,
                           header ? std::string(*header) : std::string(kDefaultMatchHeader)};
}

// The decimal under `key`, or nullopt when absent; kCorruption when it is not a number.
Result<std::optional<uint64_t>> GetDecimal(core::EventStore& store, std::string_view key) {
  CALLREC_ASSIGN_OR_RETURN(auto text, store.GetDerived(key));
  if (!text) return std::optional<uint64_t>();
  auto n = ParseDecimal(*text);
  if (!n) return Status::Corruption(std::string(key) + " is not a number: " + *text);
  return std::optional<uint64_t>(*n);
}

// Writes a rebuild's batches into `out` on a thread of its own, so RocksDB inserting one batch
// overlaps with applying the events of the next (the inserts were a fifth of `callrec replay`'s
// time). At most one batch waits, so memory stays at about two batches. Thread-safe.
class BatchWriter {
 public:
  explicit BatchWriter(core::DerivedRebuild& out) : out_(out), thread_([this] { Run(); }) {}
  ~BatchWriter() { (void)Finish(); }

  // Queues `batch` behind the one being written; waits while another is queued. Returns the
  // first write error so far (then the batch is dropped: the rebuild is failing anyway).
  Status Submit(core::DerivedBatch batch) {
    core::MutexLock lock(mu_);
    cv_.wait(lock, [&]() REQUIRES(mu_) { return !queued_ || !status_.ok(); });
    if (!status_.ok()) return status_;
    queued_ = std::move(batch);
    cv_.notify_all();
    return Status::Ok();
  }

  // Waits until every queued batch is written; the first write error, if any.
  Status Finish() {
    {
      core::MutexLock lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    core::MutexLock lock(mu_);
    return status_;
  }

 private:
  void Run() {
    while (true) {
      core::DerivedBatch batch;
      {
        core::MutexLock lock(mu_);
        cv_.wait(lock, [&]() REQUIRES(mu_) { return queued_.has_value() || done_; });
        if (!queued_) return;  // done, and nothing left
        batch = std::move(*queued_);
        queued_.reset();
      }
      cv_.notify_all();
      Status written = out_.Write(batch);  // only this thread touches `out_` until Finish
      core::MutexLock lock(mu_);
      if (!written.ok() && status_.ok()) status_ = written;
      if (!status_.ok()) {
        cv_.notify_all();
        return;
      }
    }
  }

  core::DerivedRebuild& out_;
  core::Mutex mu_;
  std::condition_variable_any cv_;
  std::optional<core::DerivedBatch> queued_ GUARDED_BY(mu_);
  bool done_ GUARDED_BY(mu_) = false;
  Status status_ GUARDED_BY(mu_);
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace

std::string SettingsToJson(const ProjectorSettings& s) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("record_mode").String(s.record_mode == RecordMode::kAuto ? "auto" : "manual");
  w.Key("match_window_ms").Int(s.match_window_ms);
  w.Key("match_header").String(s.match_header);
  w.EndObject();
  return w.Take();
}

std::string SeqKey(std::string_view prefix, uint64_t seq) { return std::string(prefix) + keys::Be64(seq); }

std::optional<State> OpenState(const IntakeState& s) {
  switch (s.state) {
    case State::kAnswered:
    case State::kRecording:
    case State::kEnded:
    case State::kFetched:
      return s.state;
    case State::kStored:
      if (!s.recording_deleted_at_ms) return s.state;
      return std::nullopt;
    case State::kCreated:
    case State::kFailed:
      return std::nullopt;
  }
  return std::nullopt;
}

bool IsOpenUnder(const IntakeState& s, const OpenPolicy& policy) {
  auto open = OpenState(s);
  if (!open) return false;
  if (*open == State::kFetched) return policy.fetched;
  if (*open == State::kStored) return policy.stored;
  return true;
}

// ---- applying -------------------------------------------------------------------------------

std::vector<std::string> Projection::Apply(const core::Event& e) {
  if (flushed_) EvictFlushed();
  if (e.seq <= last_seq_) return {};  // already applied (or seq 0: never stored)
  changed_.clear();
  applying_seq_ = e.seq;
  if (e.type == core::event_type::kServiceStarted) {
    ApplyServiceStarted(e);
  } else if (e.type == core::event_type::kIntakeCreated) {
    ApplyIntakeCreated(e);
  } else if (e.type == core::event_type::kTelnyxWebhook) {
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

void Projection::Put(std::string key, std::string value) {
  if (!store_) {
    KeepIndexKey(key, value);
    pending_log_.emplace_back(std::move(key), std::move(value));
    return;
  }
  pending_[std::move(key)] = std::move(value);
}

void Projection::Delete(std::string key) {
  if (!store_) {
    KeepIndexKey(key, std::nullopt);
    pending_log_.emplace_back(std::move(key), std::nullopt);
    return;
  }
  pending_[std::move(key)] = std::nullopt;
}

Projection::Entry* Projection::FindResident(std::string_view id) const {
  auto it = intake_index_.find(id);
  return it == intake_index_.end() ? nullptr : it->second;
}

Projection::Entry& Projection::SetResident(std::string id, Entry entry) const {
  auto [it, inserted] = intakes_.insert_or_assign(std::move(id), std::move(entry));
  if (inserted) intake_index_.emplace(it->first, &it->second);
  return it->second;
}

void Projection::DropResident(std::map<std::string, Entry, std::less<>>::iterator it) {
  intake_index_.erase(it->first);
  intakes_.erase(it);
}

void Projection::Mutate(const std::string& id, int64_t now_ms,
                        const std::function<void(IntakeState&)>& change) {
  Entry* entry = EntryFor(id);
  if (entry == nullptr) return;
  IntakeState& s = entry->intake;
  IntakeState before = s;
  bool was_unbound = InUnboundIndex(*entry);
  change(s);
  if (s == before) return;
  if (InUnboundIndex(*entry) != was_unbound) {
    // The index key is made of fields that never change (phone, creation), so `before` and
    // `s` name the same key.
    IndexUnbound(*entry, !was_unbound);
  }
  s.updated_at_ms = now_ms;
  entry->updated_seq = applying_seq_;
  dirty_intakes_.insert(id);
  changed_.push_back(id);
}

bool Projection::InUnboundIndex(const Entry& entry) const {
  const IntakeState& s = entry.intake;
  return entry.phone_indexed && s.state == State::kCreated && !s.call_bound();
}

void Projection::IndexUnbound(Entry& entry, bool add) {
  const IntakeState& s = entry.intake;
  std::string key = keys::UnboundKey(s.patient_phone, s.created_at_ms, CreatedSeq(entry), s.id);
  if (add) {
    Put(std::move(key), "");
  } else {
    Delete(std::move(key));
  }
}

void Projection::AddLink(const std::string& id, uint64_t seq) {
  Put(SeqKey(std::string(keys::kLink) + id + "/", seq), "");
}

void Projection::RecordUnmatched(const WebhookFacts& f, std::string_view reason) {
  ++unmatched_total_;
  core::JsonWriter w;
  w.BeginObject();
  w.Key("event_type").String(f.event_type);
  w.Key("call_control_id").String(f.call_control_id);
  w.Key("reason").String(reason);
  w.EndObject();
  Put(SeqKey(keys::kUnmatched, f.seq), w.Take());
  Put(std::string(keys::kUnmatchedTotal), std::to_string(unmatched_total_));
}

void Projection::IndexCall(char kind, const std::string& call_id, const std::string& intake_id) {
  if (call_id.empty()) return;
  std::string key = std::string(keys::kCall) + kind + "/" + call_id;
  // A call id already bound (e.g. the session of an earlier leg) keeps its first intake.
  auto bound = ReadKey(key);
  if (bound && !bound->empty()) return;
  Put(std::move(key), intake_id);
}

// ---- reads ----------------------------------------------------------------------------------

const IntakeState* Projection::Find(std::string_view id) const {
  Entry* entry = EntryFor(id);
  return entry ? &entry->intake : nullptr;
}

const IntakeState* Projection::FindOpen(std::string_view id) const {
  Entry* entry = FindResident(id);
  if (entry == nullptr || !IsOpenUnder(entry->intake, policy_)) return nullptr;
  return &entry->intake;
}

void Projection::ForEachIntake(const std::function<void(const IntakeState&)>& visit) const {
  for (const auto& [id, entry] : intakes_) visit(entry.intake);
}

void Projection::ForEachPending(const std::function<void(const IntakeState&)>& visit) const {
  // Every intake open under the policy is resident (Load reads them all, and one that becomes
  // open is resident because an event just changed it), so memory has the whole answer.
  for (const auto& [id, entry] : intakes_) {
    if (IsOpenUnder(entry.intake, policy_)) visit(entry.intake);
  }
}

std::optional<std::string> Projection::IntakeForCall(std::string_view call_id) const {
  for (char kind : {'c', 'l', 's'}) {
    auto bound = ReadKey(std::string(keys::kCall) + kind + "/" + std::string(call_id));
    if (bound && !bound->empty()) return bound;
  }
  return std::nullopt;
}

// ---- flushing -------------------------------------------------------------------------------

bool Projection::has_unflushed_changes() const {
  return seq_dirty_ || !pending_.empty() || !pending_log_.empty() || !dirty_intakes_.empty();
}

// The unflushed keys in key order, each with its last value: the same batch either way.
void Projection::AppendPendingTo(core::DerivedBatch& batch) {
  auto emit = [&](const std::string& key, std::optional<std::string>& value) {
    if (value) {
      batch.Put(key, std::move(*value));
    } else {
      batch.Delete(key);
    }
  };
  for (auto& [key, value] : pending_) emit(key, value);
  pending_.clear();
  std::stable_sort(pending_log_.begin(), pending_log_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < pending_log_.size(); ++i) {
    if (i + 1 < pending_log_.size() && pending_log_[i + 1].first == pending_log_[i].first) continue;
    emit(pending_log_[i].first, pending_log_[i].second);  // the last write of its key
  }
  pending_log_.clear();
}

void Projection::AppendChangesTo(core::DerivedBatch& batch) {
  AppendPendingTo(batch);
  for (const auto& id : dirty_intakes_) {
    AppendIntakeChanges(id, *FindResident(id), batch);
    if (store_) evictable_.insert(id);
  }
  dirty_intakes_.clear();
  batch.Put(std::string(keys::kLastSeq), std::to_string(last_seq_));
  if (!format_written_) {
    batch.Put(std::string(keys::kFormat), std::to_string(keys::kFormatVersion));
    format_written_ = true;
  }
  seq_dirty_ = false;
  flushed_ = true;
}

void Projection::AppendIntakeChanges(const std::string& id, Entry& entry, core::DerivedBatch& batch) {
  batch.Put(keys::IntakeKey(id), IntakeToJson(entry.intake));
  if (entry.flushed_state != entry.intake.state) {
    if (entry.flushed_state) batch.Delete(keys::StateKey(*entry.flushed_state, id));
    batch.Put(keys::StateKey(entry.intake.state, id), "");
    entry.flushed_state = entry.intake.state;
  }
  std::optional<State> open = OpenState(entry.intake);
  if (entry.flushed_open != open) {
    if (entry.flushed_open) batch.Delete(keys::OpenKey(*entry.flushed_open, id));
    if (open) batch.Put(keys::OpenKey(*open, id), "");
    entry.flushed_open = open;
  }
  if (entry.flushed_updated_seq != entry.updated_seq) {
    if (entry.flushed_updated_seq) batch.Delete(keys::UpdatedKey(entry.flushed_updated_seq, id));
    batch.Put(keys::UpdatedKey(entry.updated_seq, id), "");
    batch.Put(keys::IntakeSeqKey(id), std::to_string(entry.updated_seq));
    entry.flushed_updated_seq = entry.updated_seq;
  }
}

core::DerivedBatch Projection::Flush() {
  core::DerivedBatch batch;
  AppendChangesTo(batch);
  return batch;
}

void Projection::EvictFlushed() {
  flushed_ = false;
  if (!store_) return;
  for (const std::string& id : evictable_) {
    auto it = intakes_.find(id);
    if (it == intakes_.end() || dirty_intakes_.count(id)) continue;
    if (!IsOpenUnder(it->second.intake, policy_)) DropResident(it);
  }
  evictable_.clear();
}

// ---- loading and rebuilding -----------------------------------------------------------------

Result<Projection> Projection::Load(core::EventStore& store, OpenPolicy policy) {
  Projection p;
  p.store_ = &store;
  p.policy_ = policy;
  CALLREC_ASSIGN_OR_RETURN(auto last_seq, GetDecimal(store, keys::kLastSeq));
  if (!last_seq) return p;  // nothing projected yet
  p.last_seq_ = *last_seq;
  CALLREC_ASSIGN_OR_RETURN(auto format, GetDecimal(store, keys::kFormat));
  if (format.value_or(1) != uint64_t(keys::kFormatVersion)) {
    return Status::FailedPrecondition("derived data is in format " + std::to_string(format.value_or(1)) +
                                      ", this version reads format " +
                                      std::to_string(keys::kFormatVersion) + " (run `callrec replay`)");
  }
  p.format_written_ = true;
  CALLREC_ASSIGN_OR_RETURN(auto settings, store.GetDerived(keys::kSettings));
  if (settings) {
    CALLREC_ASSIGN_OR_RETURN(p.settings_, SettingsFromJson(*settings));
  }
  CALLREC_ASSIGN_OR_RETURN(auto unmatched, GetDecimal(store, keys::kUnmatchedTotal));
  p.unmatched_total_ = unmatched.value_or(0);
  CALLREC_RETURN_IF_ERROR(p.LoadOpenSet(policy));
  return p;
}

core::Status Projection::LoadOpenSet(const OpenPolicy& policy) {
  Status bad;
  for (State state : kAllStates) {
    IntakeState probe;
    probe.state = state;
    if (!IsOpenUnder(probe, policy)) continue;  // (a stored probe has no delete yet: open)
    std::string prefix = keys::OpenPrefix(state);
    CALLREC_RETURN_IF_ERROR(store_->ScanDerived(prefix, [&](std::string_view k, std::string_view) {
      auto entry = ReadEntry(k.substr(prefix.size()));
      if (!entry.ok()) bad = entry.status();
      else if (!*entry) bad = Status::Corruption(std::string(k) + " names a missing intake");
      else {
        std::string id = (*entry)->intake.id;
        if (!FindResident(id)) SetResident(std::move(id), std::move(**entry));
      }
      return bad.ok();
    }));
    CALLREC_RETURN_IF_ERROR(bad);
  }
  Status scanned = store_->ScanDerived(keys::kOrphan, [&](std::string_view, std::string_view v) {
    auto facts = FactsFromJson(v, parser_);
    if (!facts.ok()) {
      bad = Status::Corruption(std::string("orphan: ") + facts.status().message());
      return false;
    }
    orphans_by_call_[facts->call_control_id].insert(facts->seq);
    orphans_[facts->seq] = std::move(*facts);
    return true;
  });
  CALLREC_RETURN_IF_ERROR(scanned);
  CALLREC_RETURN_IF_ERROR(bad);
  return LoadUnbound();
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
  BatchWriter writer(out);
  Status read_status = store.ForEachFrom(1, [&](const core::Event& e) {
    p.Apply(e);
    ++applied;
    if (applied % std::max<size_t>(events_per_batch, 1) == 0) {
      write_status = writer.Submit(p.Flush());
      if (!write_status.ok()) return false;
      if (progress) progress(applied, e.seq);
    }
    return true;
  });
  if (read_status.ok() && write_status.ok()) write_status = writer.Submit(p.Flush());
  Status written = writer.Finish();
  CALLREC_RETURN_IF_ERROR(read_status);
  CALLREC_RETURN_IF_ERROR(write_status);
  CALLREC_RETURN_IF_ERROR(written);
  if (progress) progress(applied, p.last_seq_);
  return p;
}

}  // namespace callrec::projector
