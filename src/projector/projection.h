// projection.h — every intake's recording state, derived from the event log by a pure fold.
//
// Projection::Apply(event) is a pure function of (projection, event): no I/O, no clock, no
// randomness; time comes only from the event (recorded_at, and data.occurred_at inside webhooks).
// So replaying the log into an empty Projection reproduces the live one, and the derived data it
// writes (Flush) is byte-for-byte the same whether the live process flushed every event, flushed
// in chunks, or crashed and Load()ed in between (tests/projector/projection_property_test.cc).
//
// What it keeps, all restored by Load():
//   intakes       id -> IntakeState (intake_state.h has the transition table)
//   phone index   E.164 -> the intakes created for that number (for call.answered matching)
//   call index    call_control_id / call_leg_id / call_session_id -> intake id ("" for a call
//                 whose call.answered matched no intake: its later webhooks are unmatched too)
//   orphans       call webhooks delivered before their call.answered, folded in when it binds
//   settings      record_mode and match_window from the last service.started
//   unmatched     how many webhooks matched no intake (each also kept as projector/unmatched/<seq>)
//
// Matching a call.answered to an intake (first rule that applies):
//   1. its call is already bound (duplicate delivery, or another leg of the session): no rebind;
//   2. client_state base64-decodes to "intake:<id>" of an existing intake: that intake, unless it
//      is bound to another call (then unmatched);
//   3. the patient's number (`to` for outgoing, `from` for incoming, E.164-normalised): the most
//      recent intake for it still in `created`, not bound to a call, created within
//      [t - match_window, t + kMatchClockSkewMs] where t is data.occurred_at (else recorded_at).
//   Otherwise the webhook is unmatched.
//
// Derived keys written by Flush (docs/ARCHITECTURE.md):
//   intake/<id>                      -> IntakeToJson
//   state/<state>/<id>               -> ""   (the old state's key deleted when it changes)
//   updated/<seq:be64>/<id>          -> ""   one per intake: the seq of its last change (the old
//                                            key deleted), for pg-sync (pg_sync.h UpdatedKey)
//   link/<id>/<seq:be64>             -> ""   webhooks tied to the intake
//   newest/<~seq:be64>/<id>          -> ""   written once at intake.created (seq inverted, so a
//                                            forward scan is newest first: GET /api/intakes?order=newest)
//   projector/last_seq               -> decimal
//   projector/settings               -> {"record_mode","match_window_ms"}
//   projector/unmatched_total        -> decimal
//   projector/unmatched/<seq:be64>   -> {"event_type","call_control_id","reason"}
//   projector/phone/<e164>/<id>      -> decimal seq of the intake.created
//   projector/call/{c,l,s}/<call id> -> intake id or ""   (c: control id, l: leg id, s: session id)
//   projector/orphan/<seq:be64>      -> FactsToJson
//
// Thread-safety: none; one thread owns a Projection (see projector.h for the running one).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "core/event.h"
#include "core/event_store.h"
#include "core/status.h"
#include "projector/intake_state.h"
#include "projector/webhook_facts.h"

namespace callrec::projector {

enum class RecordMode : uint8_t { kManual, kAuto };

struct ProjectorSettings {
  RecordMode record_mode = RecordMode::kManual;
  int64_t match_window_ms = 10 * 60 * 1000;
  bool operator==(const ProjectorSettings&) const = default;
};

// A call.answered may carry a Telnyx time slightly before our intake.created stamp when the two
// clocks disagree; an intake created up to this long after the answer still matches.
inline constexpr int64_t kMatchClockSkewMs = 30 * 1000;
// An orphan webhook whose call.answered has not come within this long (by recorded_at of later
// webhooks) is counted unmatched and dropped, so unrelated calls do not accumulate.
inline constexpr int64_t kOrphanTtlMs = 24 * 60 * 60 * 1000;

// Called during long rebuilds: (events applied so far, seq of the last applied event).
using RebuildProgress = std::function<void(uint64_t applied, uint64_t seq)>;

class Projection {
 public:
  Projection() = default;
  Projection(Projection&&) = default;
  Projection& operator=(Projection&&) = default;
  Projection(const Projection&) = delete;
  Projection& operator=(const Projection&) = delete;

  // Folds one event in. Events with seq <= last_seq() are ignored (already applied). Returns the
  // ids of the intakes whose §4 JSON changed, sorted, without duplicates. Events of unknown types
  // or with unusable payloads change nothing (only last_seq).
  std::vector<std::string> Apply(const core::Event& event);

  // Appends to `batch` the writes for everything changed since the last flush, always including
  // projector/last_seq, and forgets those changes. One batch keeps projection and seq consistent.
  void AppendChangesTo(core::DerivedBatch& batch);
  core::DerivedBatch Flush();
  bool has_unflushed_changes() const;

  // Restores from the store's derived data; an empty projection when there is none.
  // kCorruption when the derived data cannot be read back (then run `callrec replay`).
  static core::Result<Projection> Load(core::EventStore& store);
  // Applies the whole log from seq 1 in memory; nothing is written.
  static core::Result<Projection> Rebuild(core::EventStore& store,
                                          const RebuildProgress& progress = {});
  // Applies the whole log from seq 1, writing the derived data into `out` every
  // `events_per_batch` events (for `callrec replay`; the caller commits `out`).
  static core::Result<Projection> RebuildInto(core::EventStore& store, core::DerivedRebuild& out,
                                              const RebuildProgress& progress = {},
                                              size_t events_per_batch = 4096);

  // ---- reads, for the actor and tests ----
  uint64_t last_seq() const { return last_seq_; }
  const ProjectorSettings& settings() const { return settings_; }
  uint64_t unmatched_total() const { return unmatched_total_; }
  size_t orphan_count() const { return orphans_.size(); }
  const IntakeState* Find(std::string_view id) const;
  // Every intake, in id order.
  void ForEachIntake(const std::function<void(const IntakeState&)>& visit) const;
  // Intakes the actor may have work for: answered, ended, fetched, or stored with the Telnyx
  // copy not deleted yet (next_step.h decides what, if anything, is due).
  void ForEachPending(const std::function<void(const IntakeState&)>& visit) const;
  // The intake a call id (control, leg or session id) is bound to; nullopt when unknown or when
  // the call matched no intake.
  std::optional<std::string> IntakeForCall(std::string_view call_id) const;

 private:
  struct Entry {
    IntakeState intake;
    uint64_t created_seq = 0;
    uint64_t updated_seq = 0;            // seq of the last event that changed the record
    std::optional<State> flushed_state;  // the state/<state>/<id> key now in derived data
    uint64_t flushed_updated_seq = 0;    // the updated/<seq>/<id> key now in derived data
  };
  struct Match {
    std::string intake_id;  // "" when none
    std::string why_not;    // for projector/unmatched/<seq>
  };
  struct CallHit {
    std::string intake_id;  // "" when the call is known to match no intake
    bool same_call = false; // matched by control/leg id, not only by session
  };

  // ---- projection.cc: bookkeeping ----
  void Put(std::string key, std::string value);
  void Delete(std::string key);
  // Runs `change` on the intake; when it changed anything, stamps updated_at and marks it dirty.
  void Mutate(const std::string& id, int64_t now_ms, const std::function<void(IntakeState&)>& change);
  void AddLink(const std::string& id, uint64_t seq);
  void RecordUnmatched(const WebhookFacts& facts, std::string_view reason);
  void IndexCall(char kind, const std::string& call_id, const std::string& intake_id);
  core::Status LoadEntries(core::EventStore& store);

  // ---- projection_intake_events.cc: events appended with an intake_id ----
  void ApplyServiceStarted(const core::Event& e);
  void ApplyIntakeCreated(const core::Event& e);
  void ApplyIntakeEvent(const core::Event& e);

  // ---- projection_webhooks.cc ----
  void ApplyWebhook(const core::Event& e);
  void ApplyAnswered(const WebhookFacts& f);
  void ApplyCallFact(const WebhookFacts& f);
  std::optional<CallHit> LookupCall(const WebhookFacts& f) const;
  Match MatchIntake(const WebhookFacts& f) const;
  void Bind(const std::string& id, const WebhookFacts& answered);
  void FoldFact(IntakeState& s, const WebhookFacts& f, bool before_answer) const;
  void BufferOrphan(const WebhookFacts& f);
  void DropOrphansOfCall(const std::string& call_control_id, std::string_view reason);
  void ExpireOrphans(int64_t now_ms);
  void EraseOrphan(uint64_t seq);

  std::map<std::string, Entry, std::less<>> intakes_;
  std::map<std::string, std::vector<std::string>, std::less<>> phones_;  // e164 -> ids
  std::map<std::string, std::string, std::less<>> calls_;  // "c/<id>" | "l/<id>" | "s/<id>"
  std::map<uint64_t, WebhookFacts> orphans_;               // by seq
  std::map<std::string, std::set<uint64_t>, std::less<>> orphans_by_call_;  // ccid -> seqs
  ProjectorSettings settings_;
  uint64_t unmatched_total_ = 0;
  uint64_t last_seq_ = 0;

  // Changes since the last flush: final value per key (nullopt = delete), and dirty intakes.
  std::map<std::string, std::optional<std::string>> pending_;
  std::set<std::string> dirty_intakes_;
  bool seq_dirty_ = false;
  std::vector<std::string> changed_;  // of the event being applied
  uint64_t applying_seq_ = 0;         // seq of the event being applied

  simdjson::dom::parser parser_;  // scratch: reused buffers, no state
};

// {"record_mode":"manual|auto","match_window_ms":N}: the value of projector/settings.
std::string SettingsToJson(const ProjectorSettings& settings);

// "<prefix><seq as 8 big-endian bytes>": link and orphan keys sort by seq.
std::string SeqKey(std::string_view prefix, uint64_t seq);

}  // namespace callrec::projector
