// intake_state.h — one intake's recording state, as the projection derives it from the log.
//
// An IntakeState is what `GET /api/intakes/{id}` shows (INTERFACE §4) plus the facts the actor
// needs to decide its next step (hangup seen, attempts, first query time). Every field lives in the
// §4 JSON — the projector-private ones inside `metadata` — so the persisted projection
// (`intake/<id>`) can be parsed back into exactly the state that wrote it: IntakeToJson and
// IntakeFromJson are inverses, and IntakeToJson is deterministic (fixed key order, fixed number
// formatting): the same state always gives the same bytes, which `callrec replay --verify` relies on.
//
// Transition table (state x event -> state). "-" = no state change (fields may still be noted);
// "bound" = the webhook's call is this intake's call (see projection.h for how calls are bound).
//
//   event \ state              created   answered   recording  ended      fetched   stored  failed
//   intake.created (new id)    (new: created)
//   call.answered binds        answered  -          -          -          -         -       -
//     ...with a hangup already delivered for the call: manual -> failed(record_start_failed),
//        auto -> ended (the call was over before we could start recording)
//   telnyx.record_start ok     -         recording  -          -(*)       -(*)      -       -
//     retry|transient          -         - (attempt counted, last_error) in answered/recording/ended
//     failed|not_found         -         failed(rsf) -         failed(rsf) if no recording started
//                                                                         or known, else -
//   call.hangup                -         ended      ended      -          -         -       -
//   call.recording.saved       -         fetched    fetched    fetched    -         -       fetched
//     (verified; and only while no recording_id is known. Unverified: last_error note only)
//   call.recording.error       -         - (last_error) everywhere bound
//   recording.fetch_scheduled  -         -/ends in answered/recording/ended: next_attempt_at=due_at
//   telnyx.recordings_list     -         - (first_query_at; last_error on non-ok outcomes)
//   recording.matched          -         fetched    fetched    fetched    -         -       fetched
//     (only while no recording_id is known)
//   telnyx.recording_get ok    -         - (fresh recording_url_telnyx once a recording is known)
//   storage.upload ok          -         -          -          -          stored    -       -
//     transient                -         -          -          -          - (storage_attempts,
//                                                                           next_attempt_at=retry_at)
//   telnyx.recording_delete ok - (recording_deleted_at)
//   intake.failed              failed    failed     failed     failed     failed    -       -
//   intake.retry_requested     -         -          -          -          -         -       see below
//   (*) recording_started_at is noted when not yet known.
// Retry of a failed intake re-arms it from where it stopped: recording known -> fetched (storage
// attempts reset); else hangup seen -> ended (fetch_attempts 0, next_attempt_at null: the actor
// schedules); else call bound -> answered (record_start attempts reset); else -> created.
// Reaching recording, fetched or stored by success clears last_error; failure_reason is only set
// in `failed` and cleared when leaving it.
//
// Thread-safety: a value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// Intake ids are key components (`intake/<id>`): 1-64 of [A-Za-z0-9_-] (INTERFACE §3).
bool IsValidIntakeId(std::string_view id);

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
  std::optional<double> recording_duration_s;
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
  std::vector<std::string> verified_ids;

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
