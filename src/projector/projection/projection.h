// projection.h — every intake's recording state, derived from the event log by a pure fold.
//
// Projection::Apply(event) is a pure function of (projection, event): no clock, no randomness;
// time comes only from the event (recorded_at, and data.occurred_at inside webhooks). So replaying
// the log into an empty Projection reproduces the live one, and the derived data it writes
// (Flush) is byte-for-byte the same whether the live process flushed every event, flushed in
// chunks, or crashed and Load()ed in between (tests/projector/projection_property_test.cc).
//
// Two kinds of projection, same results:
//   in memory      (default-constructed, Rebuild, RebuildInto): holds every intake and index
//                  entry it ever saw; for `callrec replay` and tests.
//   store-backed   (Load): holds only the *open* intakes (below) and the in-flight orphans; a
//                  finished intake, a call binding or a number's unbound intakes are read from the
//                  store's derived data when an event touches them (a late webhook, a retry, a
//                  duplicate intake.created), changes not yet flushed first. Memory and Load time
//                  follow the open set, not the history. Reads happen inside Apply; a failed read
//                  makes status() not ok and the projection must be discarded and Load()ed again
//                  (Projector does), which the crash-equivalence above makes safe.
//
// Open intakes — those the actor may still act on; derived key open/<state>/<id>:
//   answered, recording, ended, fetched, and stored while the Telnyx copy is not deleted.
//   created ones are not open: call.answered finds them through projector/unbound/ (one range
//   read per answer), whatever their age. failed ones are not open: intake.retry_requested,
//   a late call.recording.saved or recording.matched read them back.
// A store-backed projection keeps in memory the open intakes its OpenPolicy asks for (serve: fetched
// only with --storage, stored only with --delete-after-upload, since nothing else acts on them),
// plus, until the next Apply after a Flush, the intakes the last batch touched.
//
// What it keeps (in memory, or in the store for a store-backed projection):
//   intakes       id -> IntakeState (intake_state.h has the transition table)
//   unbound index E.164 -> intakes still in `created`, not on a call (for call.answered matching)
//   call index    call_control_id / call_leg_id / call_session_id -> intake id ("" for a call
//                 whose call.answered matched no intake: its later webhooks are unmatched too)
//   orphans       call webhooks delivered before their call.answered, folded in when it binds
//                 (always in memory; they expire after kOrphanTtlMs)
//   waiting calls answered calls no intake took yet, waiting match_window for a late intake
//                 (always in memory; projector/waiting_call/<seq>)
//   settings      record_mode, match_window and match_header from the last service.started
//   unmatched     how many webhooks matched no intake (each also kept as projector/unmatched/<seq>)
//
// Matching a call.answered to an intake (first rule that applies; README "How a call finds its intake"):
//   1. its call is already bound (duplicate delivery, or another leg of the session): no rebind;
//   2. client_state base64-decodes to "intake:<id>" of an existing intake: that intake, unless it
//      is bound to another call (then unmatched)                          -> match "client_state";
//   3. the custom header named by settings.match_header (custom_headers of the call.answered, else
//      of its call.initiated) names an existing intake, same proviso      -> match "sip_header";
//   4. the patient's number (`to` for outgoing, `from` for incoming, E.164-normalised; the
//      direction from the call's call.initiated, since real call.answered bodies carry none;
//      none seen: outgoing, the flow callrec serves): the most recent intake for it still in
//      `created`, not bound to a call, created within [t - match_window, t + kMatchClockSkewMs]
//      where t is data.occurred_at (else recorded_at)  -> match "phone", or "ambiguous" when more
//      than one intake qualified (the others listed in metadata.match_candidates).
//   Otherwise the webhook is unmatched, and its call waits (projector/waiting_call/...) for an intake
//   created within match_window after the answer: that intake binds to it late (rule 2, 3 or 4
//   seen from the intake's side; projection_webhooks.cc BindLate).
//
// Derived keys written by Flush (docs/ARCHITECTURE.md; names in projection_keys.h):
//   intake/<id>                      -> IntakeToJson
//   state/<state>/<id>               -> ""   (the old state's key deleted when it changes)
//   open/<state>/<id>                -> ""   the open intakes (above), by state
//   updated/<seq:be64>/<id>          -> ""   one per intake: the seq of its last change (the old
//                                            key deleted), for pg-sync (core/derived_keys.h UpdatedKey)
//   link/<id>/<seq:be64>             -> ""   webhooks tied to the intake
//   newest/<~seq:be64>/<id>          -> ""   written once at intake.created (seq inverted, so a
//                                            forward scan is newest first: GET /api/intakes?order=newest)
//   projector/last_seq               -> decimal
//   projector/format                 -> decimal: keys::kFormatVersion
//   projector/settings               -> {"record_mode","match_window_ms","match_header"}
//   projector/unmatched_total        -> decimal
//   projector/unmatched/<seq:be64>   -> {"event_type","call_control_id","reason"}
//   projector/ambiguous_total        -> decimal
//   projector/phone/<e164>/<id>      -> decimal seq of the intake.created
//   projector/unbound/<e164>/<created_ms:be64>/<created_seq:be64>/<id> -> ""  (created_ms with
//                                            its sign bit flipped so it sorts)
//   projector/updated/<id>           -> decimal: the seq in the intake's updated/ key
//   projector/call/{c,l,s}/<call id> -> intake id or ""   (c: control id, l: leg id, s: session id)
//   projector/orphan/<seq:be64>      -> FactsToJson
//   projector/waiting_call/<seq:be64>     -> UnboundCall JSON: an answered call no intake took yet,
//                                       keyed by its call.answered seq (projection_webhooks.cc)
//
// Thread-safety: none; one thread owns a Projection (see projector.h for the running one). A
// store-backed one reads its store from Apply and from the const reads below.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <simdjson.h>

#include "core/event.h"
#include "core/event_store.h"
#include "core/status.h"
#include "projector/projection/intake_state.h"
#include "projector/projection/webhook_facts.h"

namespace callrec::projector {

enum class RecordMode : uint8_t { kManual, kAuto };

inline constexpr std::string_view kDefaultMatchHeader = "X-Intake-Id";

struct ProjectorSettings {
  RecordMode record_mode = RecordMode::kManual;
  int64_t match_window_ms = 10 * 60 * 1000;
  std::string match_header = std::string(kDefaultMatchHeader);  // --match-header
  bool operator==(const ProjectorSettings&) const = default;
};

// A call.answered may carry a Telnyx time slightly before our intake.created stamp when the two
// clocks disagree; an intake created up to this long after the answer still matches.
inline constexpr int64_t kMatchClockSkewMs = 30 * 1000;
// An orphan webhook whose call.answered has not come within this long (by recorded_at of later
// webhooks) is counted unmatched and dropped, so unrelated calls do not accumulate.
inline constexpr int64_t kOrphanTtlMs = 24 * 60 * 60 * 1000;

// Which open intakes a store-backed projection keeps in memory and yields from ForEachPending:
// the ones its actor acts on. answered, recording and ended ones always. Residency never changes
// what Apply writes, only what is read back from the store.
struct OpenPolicy {
  bool fetched = true;  // a copy is to be stored (--storage fs|supabase)
  bool stored = true;   // the Telnyx copy is to be deleted (--delete-after-upload)
  bool operator==(const OpenPolicy&) const = default;
};

// The open/ state of an intake: nullopt when the actor has nothing left to do for it under any
// configuration (created, failed, stored and deleted).
std::optional<State> OpenState(const IntakeState& intake);
// OpenState, and wanted by `policy`.
bool IsOpenUnder(const IntakeState& intake, const OpenPolicy& policy);

// Called during long rebuilds: (events applied so far, seq of the last applied event).
using RebuildProgress = std::function<void(uint64_t applied, uint64_t seq)>;

class Projection {
 public:
  Projection() = default;  // in memory, empty
  Projection(Projection&&) = default;
  Projection& operator=(Projection&&) = default;
  Projection(const Projection&) = delete;
  Projection& operator=(const Projection&) = delete;

  // Folds one event in. Events with seq <= last_seq() are ignored (already applied). Returns the
  // ids of the intakes whose §4 JSON changed, sorted, without duplicates. Events of unknown types
  // or with unusable payloads change nothing (only last_seq).
  // Requires (store-backed): the batch of the last Flush/AppendChangesTo has been written to the
  // store; the intakes it held may leave memory now.
  std::vector<std::string> Apply(const core::Event& event);

  // Appends to `batch` the writes for everything changed since the last flush, always including
  // projector/last_seq, and forgets those changes. One batch keeps projection and seq consistent.
  void AppendChangesTo(core::DerivedBatch& batch);
  core::DerivedBatch Flush();
  bool has_unflushed_changes() const;
  // Not ok once a store read inside Apply failed (or read back something unparseable): what was
  // applied since the last flush may be wrong; discard this projection and Load() again.
  const core::Status& status() const { return status_; }

  // A store-backed projection of `store`'s derived data (reading only the open set, the orphans
  // and the counters); an empty one when there is none. `store` must outlive it.
  // kCorruption when the derived data cannot be read back (then run `callrec replay`);
  // kFailedPrecondition when it was written in an older format (Projector::Open rebuilds it).
  static core::Result<Projection> Load(core::EventStore& store, OpenPolicy policy = {});
  // Applies the whole log from seq 1 in memory; nothing is written.
  static core::Result<Projection> Rebuild(core::EventStore& store,
                                          const RebuildProgress& progress = {});
  // Applies the whole log from seq 1 in memory, writing the derived data into `out` every
  // `events_per_batch` events (for `callrec replay`; the caller commits `out`). The writes run
  // on a thread of their own, overlapping with applying the next batch; `out` is written by
  // that thread only, and is idle again when this returns.
  static core::Result<Projection> RebuildInto(core::EventStore& store, core::DerivedRebuild& out,
                                              const RebuildProgress& progress = {},
                                              size_t events_per_batch = 4096);

  // ---- reads, for the actor and tests ----
  uint64_t last_seq() const { return last_seq_; }
  const ProjectorSettings& settings() const { return settings_; }
  uint64_t unmatched_total() const { return unmatched_total_; }
  // Calls matched by phone while more than one intake could have taken them (metadata.match
  // "ambiguous"); persisted as projector/ambiguous_total.
  uint64_t ambiguous_total() const { return ambiguous_total_; }
  size_t unbound_call_count() const { return unbound_.size(); }
  size_t orphan_count() const { return orphans_.size(); }
  // Intakes held in memory now (all of them in memory; about the open set when store-backed).
  size_t resident_count() const { return intakes_.size(); }
  bool store_backed() const { return store_ != nullptr; }
  // The intake, read back from the store when not in memory (a read error reads as unknown).
  // The pointer is valid until the next Apply.
  const IntakeState* Find(std::string_view id) const;
  // Every intake held in memory, in id order: all of them for an in-memory projection.
  void ForEachIntake(const std::function<void(const IntakeState&)>& visit) const;
  // The open intakes of the policy (see above), in id order: what the actor may act on.
  void ForEachPending(const std::function<void(const IntakeState&)>& visit) const;
  // The intake if it is open under the policy, else nullptr (no store read: all of those are
  // in memory). Valid until the next Apply.
  const IntakeState* FindOpen(std::string_view id) const;
  // The intake a call id (control, leg or session id) is bound to; nullopt when unknown or when
  // the call matched no intake.
  std::optional<std::string> IntakeForCall(std::string_view call_id) const;

 private:
  struct Entry {
    IntakeState intake;
    uint64_t created_seq = 0;            // 0 until needed for an intake read back (CreatedSeq)
    uint64_t updated_seq = 0;            // seq of the last event that changed the record
    std::optional<State> flushed_state;  // the state/<state>/<id> key now in derived data
    uint64_t flushed_updated_seq = 0;    // the updated/<seq>/<id> key now in derived data
    std::optional<State> flushed_open;   // the open/<state>/<id> key now in derived data
    bool phone_indexed = false;          // patient_phone is E.164 (so it can be matched)
  };
  struct Match {
    std::string intake_id;  // "" when none
    std::string why_not;    // for projector/unmatched/<seq>
    std::string how;        // metadata.match: client_state | sip_header | phone | ambiguous
    std::vector<std::string> candidates;  // ambiguous: the other intakes that qualified
  };
  // The call's direction as far as we know it, and where that came from (metadata).
  struct Direction {
    std::string direction;  // incoming | outgoing
    std::string source;     // call.initiated | call.answered | assumed
  };
  // An answered call that matched no intake, waiting for one created late (issue: late intake).
  struct UnboundCall {
    WebhookFacts answered;
    std::string phone;       // the patient's number by its direction, E.164; "" when none
    // The intakes its client_state / match header name: (how, id), client_state first.
    std::vector<std::pair<std::string, std::string>> names;
    Direction direction;
    std::vector<WebhookFacts> facts;  // its other webhooks so far, in seq order
  };
  struct CallHit {
    std::string intake_id;  // "" when the call is known to match no intake
    bool same_call = false; // matched by control/leg id, not only by session
  };
  using KeyVisitor = std::function<bool(std::string_view key)>;

  // ---- projection.cc: bookkeeping ----
  void Put(std::string key, std::string value);
  void Delete(std::string key);
  // Runs `change` on the intake; when it changed anything, stamps updated_at and marks it dirty.
  void Mutate(const std::string& id, int64_t now_ms, const std::function<void(IntakeState&)>& change);
  void AddLink(const std::string& id, uint64_t seq);
  void RecordUnmatched(const WebhookFacts& facts, std::string_view reason);
  void IndexCall(char kind, const std::string& call_id, const std::string& intake_id);
  void IndexUnbound(Entry& entry, bool add);
  bool InUnboundIndex(const Entry& entry) const;
  void AppendIntakeChanges(const std::string& id, Entry& entry, core::DerivedBatch& batch);
  void AppendPendingTo(core::DerivedBatch& batch);
  // The resident entry (nullptr when not in memory), and adding / replacing / dropping one, which
  // keep intake_index_ in step with intakes_.
  Entry* FindResident(std::string_view id) const;
  Entry& SetResident(std::string id, Entry entry) const;
  void DropResident(std::map<std::string, Entry, std::less<>>::iterator it);
  void EvictFlushed();
  core::Status LoadOpenSet(const OpenPolicy& policy);

  // ---- projection_store.cc: reading what is not in memory ----
  // The resident entry, else the one read back from the store (kept until the next eviction);
  // nullptr when the intake does not exist. Read errors are noted in status_.
  Entry* EntryFor(std::string_view id) const;
  core::Result<std::optional<Entry>> ReadEntry(std::string_view id) const;
  // The seq of the intake's intake.created (its unbound key), read back when not known.
  uint64_t CreatedSeq(Entry& entry);
  // A key's value as of the last Apply: unflushed changes, else the store (or, in memory, the
  // flushed index keys). Read errors are noted in status_ and read as missing.
  std::optional<std::string> ReadKey(const std::string& key) const;
  // Visits, in order, the keys in [from, to] starting with `prefix`, unflushed changes included.
  void ScanKeys(const std::string& prefix, const std::string& from, const std::string& to,
                const KeyVisitor& visit) const;
  void NoteReadError(const core::Status& status) const;
  // In memory only: keeps the index keys a store-backed projection reads back from the store,
  // as they are written (not at flush), so reads need not look at the unflushed changes.
  void KeepIndexKey(const std::string& key, const std::optional<std::string>& value);

  // ---- projection_intake_events.cc: events appended with an intake_id ----
  void ApplyServiceStarted(const core::Event& e);
  void ApplyIntakeCreated(const core::Event& e);
  void ApplyIntakeEvent(const core::Event& e);

  // ---- projection_webhooks.cc ----
  void ApplyWebhook(const core::Event& e);
  void ApplyAnswered(const WebhookFacts& f);
  void ApplyCallFact(const WebhookFacts& f);
  std::optional<CallHit> LookupCall(const WebhookFacts& f) const;
  Match MatchIntake(const WebhookFacts& f, const Direction& direction);
  // Every unbound intake for `e164` created in [earliest, latest], newest first.
  std::vector<std::string> MatchByPhone(const std::string& e164, int64_t earliest,
                                        int64_t latest) const;
  std::vector<std::pair<std::string, std::string>> NamedIntakes(const WebhookFacts& f) const;
  Direction DirectionOf(const WebhookFacts& answered) const;
  void Bind(const std::string& id, const WebhookFacts& answered, const Match& match,
            const Direction& direction, int64_t now_ms);
  // projection_webhooks.cc: calls answered before their intake existed.
  void KeepUnbound(const WebhookFacts& answered, const Direction& direction);
  void NoteUnboundFact(uint64_t answered_seq, const WebhookFacts& f);
  void BindLate(const std::string& intake_id, int64_t now_ms);
  void ExpireUnbound(int64_t now_ms);
  void PutUnbound(const UnboundCall& call);
  core::Status LoadUnbound();
  void FoldFact(IntakeState& s, const WebhookFacts& f, bool before_answer) const;
  void BufferOrphan(const WebhookFacts& f);
  void DropOrphansOfCall(const std::string& call_control_id, std::string_view reason);
  void ExpireOrphans(int64_t now_ms);
  void EraseOrphan(uint64_t seq);

  core::EventStore* store_ = nullptr;  // null: in memory
  OpenPolicy policy_;
  // Resident intakes. Mutable: const reads cache what they read back from the store.
  mutable std::map<std::string, Entry, std::less<>> intakes_;
  // The same entries by id, hashed: most events look an intake up, and the ordered map's walk
  // over ids sharing a long prefix was a tenth of a rebuild. Keys view intakes_'s keys.
  mutable std::unordered_map<std::string_view, Entry*> intake_index_;
  mutable std::set<std::string, std::less<>> evictable_;  // touched since the last eviction
  mutable core::Status status_;
  // In memory only, the store's stand-in for the index keys (flushed or not): projector/call/
  // keys, only ever read one at a time, in a hash map (they are most reads of a rebuild); the
  // projector/phone/ and projector/unbound/ keys, read by range, ordered.
  std::unordered_map<std::string, std::string> call_keys_;
  std::map<std::string, std::string, std::less<>> index_keys_;
  std::map<uint64_t, WebhookFacts> orphans_;               // by seq
  std::map<std::string, std::set<uint64_t>, std::less<>> orphans_by_call_;  // ccid -> seqs
  std::map<uint64_t, UnboundCall> unbound_;                 // by call.answered seq
  std::map<std::string, uint64_t, std::less<>> unbound_by_call_;  // ccid -> call.answered seq
  ProjectorSettings settings_;
  uint64_t unmatched_total_ = 0;
  uint64_t ambiguous_total_ = 0;
  uint64_t last_seq_ = 0;
  bool format_written_ = false;  // projector/format is in the derived data
  bool flushed_ = false;         // a flush happened since the last eviction

  // Changes since the last flush: final value per key (nullopt = delete), and dirty intakes.
  // Store-backed: pending_, which reads consult. In memory nothing reads them back (the index
  // maps answer), so they are only logged in write order and sorted once at the flush.
  std::map<std::string, std::optional<std::string>, std::less<>> pending_;
  std::vector<std::pair<std::string, std::optional<std::string>>> pending_log_;
  std::set<std::string> dirty_intakes_;
  bool seq_dirty_ = false;
  std::vector<std::string> changed_;  // of the event being applied
  uint64_t applying_seq_ = 0;         // seq of the event being applied

  simdjson::dom::parser parser_;  // scratch: reused buffers, no state
};

// {"record_mode":"manual|auto","match_window_ms":N,"match_header":H}: projector/settings.
std::string SettingsToJson(const ProjectorSettings& settings);

// "<prefix><seq as 8 big-endian bytes>": link and orphan keys sort by seq.
std::string SeqKey(std::string_view prefix, uint64_t seq);

}  // namespace callrec::projector
