// intake_state.h — one intake's recording state, as the projection derives it from the log.
//
// An IntakeState is what `GET /api/intakes/{id}` shows (README "HTTP": "The intake, as every reader shows it") plus the facts the actor
// needs to decide its next step (hangup seen, attempts, first query time). Every field lives in the
// §4 JSON — the projector-private ones inside `metadata` — so the persisted projection
// (`intake/<id>`) can be parsed back into exactly the state that wrote it: IntakeToJson and
// IntakeFromJson are inverses, and IntakeToJson is deterministic (fixed key order, fixed number
// formatting): the same state always gives the same bytes, which `callrec replay --verify` relies on.
//
// Transition table (state x event -> new state). "." = no state change (fields may still be
// noted, see the notes); "x" = cannot happen (no call bound yet). Webhook rows apply only once the
// call is bound to the intake (projection.h); unbound ones wait as orphans.
//
//   event                        created   answered  recording  ended     fetched  stored  failed
//   call.answered (binds)        answered  .         .          .         .        .       .    [1]
//   telnyx.record_start ok       .         recording .          .         .        .       .    [2]
//     retry / transient          .         .         .          .         .        .       .    [3]
//     failed / not_found         .         failed    .          failed[4] .        .       .    [3]
//   call.hangup                  x         ended[5]  ended      .         .        .       .    [6]
//   call.recording.saved [7]     x         fetched   fetched    fetched   .        .       fetched
//   call.recording.error         x         .         .          .         .        .       .    [3]
//   recording.fetch_scheduled    .         .         .          .         .        .       .    [8]
//   telnyx.recordings_list       .         .         .          .         .        .       .    [9]
//   recording.matched [7]        .         fetched   fetched    fetched   .        .       fetched
//   telnyx.recording_get         .         .         .          .         .        .       .   [10]
//   storage.upload ok            .         .         .          .         stored   .       .
//     transient / failed         .         .         .          .         .        .       .   [11]
//   telnyx.recording_delete      .         .         .          .         .        .       .   [12]
//   intake.failed                failed    failed    failed     failed    [14]     .       .
//   intake.retry_requested       .         .         .          .         .        .       [13]
//   telnyx.call_status           .         .         .          .         .        .       .   [15]
//   call.presumed_ended          x         ended     ended      .         .        .       .   [16]
//   storage.upload ok (failed)   .         .         .          .         .        .       stored[17]
//
//   [1] A second call.answered of the same call never rebinds or resets. Hangups delivered before
//       the answer are folded in right after binding: in manual mode the call was over before
//       record_start could run -> failed(record_start_failed) with last_error saying so; in auto
//       mode -> ended.
//   [2] Every record_start result counts an attempt and notes its time; ok notes
//       recording_started_at (when not yet known) in every state.
//   [3] last_error set (record_start: Telnyx's errors[0] title/detail/code, else the envelope's
//       error); polling goes on.
//   [4] Only when nothing was recorded: no recording_started_at and no recording_id.
//   [5] failed(record_start_failed) instead when delivered before the answer in manual mode [1].
//   [6] hangup_at (Telnyx's occurred_at) and hangup_cause noted once, in every state; hangups of
//       another leg of the session are ignored.
//   [7] Only while no recording_id is known. call.recording.saved must verify (projection_webhooks.cc
//       RecordingMismatch); otherwise it is ignored with a last_error note.
//   [8] In answered/recording/ended only: next_attempt_at = due_at, fetch_attempts, fetch_queries.
//   [9] The first one notes first_query_at (the 24 h give-up clock); outcomes other than ok and
//       not_found set last_error (not in stored/failed).
//   [10] Once a recording is known and not yet stored: ok with that recording's id refreshes
//       recording_url_telnyx; non-ok sets last_error.
//   [11] In fetched: last_error; transient also counts storage_attempts and sets next_attempt_at
//       = retry_at. The actor follows a failed one with intake.failed.
//   [12] ok or not_found notes recording_deleted_at once; anything else sets last_error.
//   [13] Re-arms from where it stopped: recording known -> fetched (storage attempts reset); else
//       hangup seen -> ended (fetch_attempts 0, first_query_at cleared, nothing scheduled: the
//       actor schedules); else call bound -> answered (record_start attempts reset); else created.
//   [14] Monotonic outcomes: a failure is a decision the actor made on the facts it had; one that
//       arrives after a newer success is stale and changes nothing (it stays on the timeline).
//       In fetched only download_failed / upload_failed apply (the copy did fail); a
//       record_start_failed, recording_not_found or gave_up decided before the recording became
//       known is dropped. In stored every failure is dropped. The reverse recovers: a recording
//       (matched / saved) moves failed -> fetched, a verified copy failed -> stored [17].
//   [15] GET /v2/calls/{id} for a call with no hangup after --max-call-duration (next_step.h):
//       counts call_status_checks; in answered/recording without a hangup, next_attempt_at =
//       retry_at (when to ask again). The actor follows a "not alive"/404/422 answer with [16].
//   [16] The call is over though its call.hangup never came: like a hangup [6], but only in
//       answered/recording without a hangup seen: hangup_at = ended_at, hangup_cause =
//       "presumed_ended:<reason>", next_attempt_at cleared (the actor schedules the first fetch).
//       call.hangup also clears next_attempt_at (the next call-status check) when it ends the wait.
//   [17] storage.upload ok while failed (a stale failure appended before the copy's result) with
//       the recording known: the copy exists and is verified -> stored.
// Reaching recording, fetched or stored clears last_error; failure_reason is set only in failed.
// updated_at is the recorded_at of the last event that changed anything in the record.
//
// Thread-safety: a value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/intake_id.h"
#include "core/status.h"

namespace callrec::projector {

// Stored as text (its name), so values may be added without migration.
enum class State : uint8_t { kCreated, kAnswered, kRecording, kEnded, kFetched, kStored, kFailed };

std::string_view StateName(State state);
std::optional<State> ParseState(std::string_view name);
inline constexpr State kAllStates[] = {State::kCreated, State::kAnswered, State::kRecording,
                                       State::kEnded,   State::kFetched,  State::kStored,
                                       State::kFailed};

enum class FailureReason : uint8_t {
  kRecordStartFailed,
  kRecordingNotFound,
  kDownloadFailed,
  kUploadFailed,
  kGaveUp,
};

std::string_view FailureReasonName(FailureReason reason);
std::optional<FailureReason> ParseFailureReason(std::string_view name);

// Intake ids are key components (`intake/<id>`): core/intake_id.h has the rule.
using core::IsValidIntakeId;

struct IntakeState {
  // ---- §4 top level ----
  std::string id;
  std::string patient_phone;  // E.164
  std::optional<std::string> patient_id;
  int64_t created_at_ms = 0;  // recorded_at of intake.created
  int64_t updated_at_ms = 0;  // recorded_at of the last event that changed this intake
  State state = State::kCreated;
  std::optional<FailureReason> failure_reason;
  int64_t fetch_attempts = 0;  // "not found" answers so far (recording.fetch_scheduled)
  std::optional<int64_t> next_attempt_at_ms;
  std::optional<std::string> last_error;

  // ---- metadata: the seed's keys ----
  std::optional<std::string> call_control_id;
  std::optional<std::string> call_session_id;
  std::optional<std::string> call_leg_id;
  std::optional<int64_t> recording_started_at_ms;
  std::optional<std::string> recording_id;
  std::optional<std::string> recording_url_telnyx;
  std::optional<int64_t> recording_duration_ms;  // Telnyx's duration_millis (§4)
  std::optional<int64_t> recording_fetched_at_ms;
  std::optional<std::string> recording_url_supabase;
  std::optional<int64_t> recording_migrated_at_ms;
  std::optional<std::string> recording_url_storage;  // file:// URL with --storage fs

  // ---- metadata: what the actor decides on ----
  std::optional<int64_t> answered_at_ms;  // the answered webhook's occurred_at (else recorded_at)
  std::optional<int64_t> hangup_at_ms;    // the hangup webhook's occurred_at (else recorded_at)
  std::optional<std::string> hangup_cause;
  int64_t record_start_attempts = 0;      // telnyx.record_start results of any outcome
  std::optional<int64_t> record_start_last_at_ms;
  int64_t fetch_queries = 0;              // query N of the last recording.fetch_scheduled
  std::optional<int64_t> first_query_at_ms;  // first telnyx.recordings_list: the 24 h give-up clock
  int64_t storage_attempts = 0;
  std::optional<std::string> recording_sha256;
  std::optional<int64_t> recording_deleted_at_ms;
  int64_t delete_attempts = 0;  // telnyx.recording_delete results of any outcome
  int64_t call_status_checks = 0;  // telnyx.call_status results; in the JSON only when > 0
  std::vector<std::string> verified_ids;
  // How the call was tied to this intake (README "How a call finds its intake"): client_state | sip_header | phone |
  // ambiguous; with ambiguous, the other intakes that could have taken the call.
  std::optional<std::string> match;
  std::vector<std::string> match_candidates;
  std::optional<std::string> call_direction;         // incoming | outgoing
  std::optional<std::string> call_direction_source;  // call.initiated | call.answered | assumed
  // record_start answers of 90020 ("retry shortly"): each deliberate new attempt after one takes
  // a new command_id, while a retry after a 5xx or no answer repeats the same one.
  int64_t record_start_retries = 0;

  // ---- metadata: the user's own members from intake.created, in their order ----
  // (key, minified JSON value). Keys the projector owns are dropped at creation.
  std::vector<std::pair<std::string, std::string>> user_metadata;

  bool call_bound() const { return call_control_id.has_value(); }
  bool hangup_seen() const { return hangup_at_ms.has_value(); }
  bool recording_known() const { return recording_id.has_value(); }
  // stored and failed wait for nobody but an operator. (fetched is final too with --storage none;
  // only the actor knows the storage setting.)
  bool is_final() const { return state == State::kStored || state == State::kFailed; }

  bool operator==(const IntakeState&) const = default;
};

// Transition helpers shared by the event handlers (projection_*.cc).
// -> failed: reason and error set, nothing scheduled.
void FailIntake(IntakeState& s, FailureReason reason, std::string error);
// -> fetched: the recording is known (recording_id etc. set by the caller) as of `at_ms`; clears
// any failure and error and what was scheduled, and restarts storage attempts.
void MarkFetched(IntakeState& s, int64_t at_ms);

// True for metadata keys the projector writes; a user's member with such a key is dropped.
bool IsReservedMetadataKey(std::string_view key);

// The §4 JSON, byte-for-byte deterministic.
std::string IntakeToJson(const IntakeState& intake);
// Inverse of IntakeToJson. kCorruption when `json` is not an intake this code wrote.
core::Result<IntakeState> IntakeFromJson(std::string_view json);

// Shortest text that reads back as the same double ("334.798", "12").
std::string FormatNumber(double value);

}  // namespace callrec::projector
