// event_types.h — the catalogue of stored event types (Event::type), one constant each.
//
// Every writer and reader of an event type names it through these constants, so a misspelt
// type does not compile instead of silently matching nothing. The strings are stored in every
// event record and exported (`callrec events`, PostgreSQL, the console): NEVER rename or reuse
// one; a new kind of fact takes a new name. docs/ARCHITECTURE.md "Event catalogue" gives each
// type's source, intake_id and payload.
//
// Thread-safety: constants.
#pragma once

#include <string_view>

namespace callrec::core::event_type {

// The service's settings in force from here on (operator).
inline constexpr std::string_view kServiceStarted = "service.started";
// A new intake (api); idempotency key intake.created:<id>.
inline constexpr std::string_view kIntakeCreated = "intake.created";
// A Telnyx webhook body exactly as received (telnyx.webhook).
inline constexpr std::string_view kTelnyxWebhook = "telnyx.webhook";
// Results of Telnyx API calls (telnyx.api), each an API envelope.
inline constexpr std::string_view kTelnyxRecordStart = "telnyx.record_start";
inline constexpr std::string_view kTelnyxRecordingsList = "telnyx.recordings_list";
inline constexpr std::string_view kTelnyxRecordingGet = "telnyx.recording_get";
inline constexpr std::string_view kTelnyxRecordingDelete = "telnyx.recording_delete";
inline constexpr std::string_view kTelnyxCallStatus = "telnyx.call_status";
// The actor's decisions (scheduler).
inline constexpr std::string_view kRecordingFetchScheduled = "recording.fetch_scheduled";
inline constexpr std::string_view kRecordingMatched = "recording.matched";
inline constexpr std::string_view kIntakeFailed = "intake.failed";
inline constexpr std::string_view kCallPresumedEnded = "call.presumed_ended";
// A copy stored, or a failed attempt (storage).
inline constexpr std::string_view kStorageUpload = "storage.upload";
// An operator's retry of a failed intake (operator, via the API or the CLI).
inline constexpr std::string_view kIntakeRetryRequested = "intake.retry_requested";

// Every type above, in catalogue order (for tests and tools that list them).
inline constexpr std::string_view kAll[] = {
    kServiceStarted,       kIntakeCreated,           kTelnyxWebhook,     kTelnyxRecordStart,
    kRecordingFetchScheduled, kTelnyxRecordingsList, kRecordingMatched,  kTelnyxRecordingGet,
    kStorageUpload,        kTelnyxRecordingDelete,   kIntakeFailed,      kIntakeRetryRequested,
    kTelnyxCallStatus,     kCallPresumedEnded,
};

}  // namespace callrec::core::event_type
