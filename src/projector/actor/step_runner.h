// step_runner.h — performs one step of one intake and says, as events, what happened.
//
// The actor (step_scheduler.h) decides *which* step is due (next_step.h); StepRunner does the
// network work for it — Telnyx calls, the download, the upload — and returns the events to
// append in one atomic write: first every request's result (status, body, timing), then the
// decision that result drives (next fetch scheduled, recording matched, intake failed). Nothing
// is appended here: the caller appends, so a crash before the append simply repeats the step,
// and every repeatable request carries an idempotency guard (record_start's command_id, upsert
// uploads, deleting an already deleted recording).
//
// Never chooses a recording that does not verify against the call (recording_match.h).
//
// Thread-safety: Run() may be called from several threads for different intakes; the borrowed
// client, transport, storage and random source must allow that (theirs do).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/event.h"
#include "projector/actor/next_step.h"
#include "projector/actor/pipeline_config.h"
#include "projector/clients/backoff.h"
#include "projector/clients/http_transport.h"
#include "projector/clients/recording_storage.h"
#include "projector/clients/telnyx_client.h"
#include "projector/projection/intake_state.h"

namespace callrec::projector {

class StepRunner {
 public:
  // All references are borrowed and must outlive the runner. `storage` may be null when
  // config.storage is kNone. `media` downloads recordings (no credentials are sent with it).
  StepRunner(const PipelineConfig& config, core::Clock& clock, TelnyxClient& telnyx,
             HttpTransport& media, RecordingStorage* storage, RandomSource& random);

  // Requires: step.kind != kNone. Returns at least one event.
  std::vector<core::Event> Run(const IntakeState& intake, const Step& step);

 private:
  std::vector<core::Event> RecordStart(const IntakeState& s);
  std::vector<core::Event> ScheduleFirstFetch(const IntakeState& s);
  std::vector<core::Event> Query(const IntakeState& s);
  std::vector<core::Event> Store(const IntakeState& s);
  std::vector<core::Event> Delete(const IntakeState& s);
  std::vector<core::Event> CallStatus(const IntakeState& s);

  // The decision after a query that found nothing it could verify.
  core::Event NotFoundDecision(const IntakeState& s, size_t candidates, size_t verified);
  // The decision after a query that got no usable answer (429, 5xx, no answer, other 4xx).
  core::Event TransientDecision(const IntakeState& s, const ApiResult& last);
  // A failed copy attempt: retry later, or fail the intake when attempts or time are used up.
  void StorageFailure(const IntakeState& s, std::vector<core::Event>& out, const char* stage,
                      const std::string& error, bool permanent);

  int64_t Now() { return clock_.WallMillis(); }

  const PipelineConfig& config_;
  core::Clock& clock_;
  TelnyxClient& telnyx_;
  HttpTransport& media_;
  RecordingStorage* storage_;
  RandomSource& random_;
};

// Event builders shared with tests: the payload shapes of docs/ARCHITECTURE.md.
core::Event MakeEvent(std::string_view type, std::string_view source, const std::string& intake_id,
                      std::string payload);
core::Event FetchScheduledEvent(const std::string& intake_id, int64_t query, int64_t fetch_attempts,
                                int64_t due_at_ms, std::string_view reason);
// `fetch_attempts`: for recording_not_found, the "not found" answers that led to it (the last
// one is not followed by a recording.fetch_scheduled that would note it).
core::Event IntakeFailedEvent(const std::string& intake_id, std::string_view reason,
                              std::string_view error,
                              std::optional<int64_t> fetch_attempts = std::nullopt);

// `reason`: "not_alive" (200, is_alive false), "not_found" (404), "call_invalid" (422).
core::Event PresumedEndedEvent(const std::string& intake_id, std::string_view reason,
                               std::string_view detail, int64_t ended_at_ms,
                               std::optional<int64_t> call_duration_s, int64_t checks);

}  // namespace callrec::projector
