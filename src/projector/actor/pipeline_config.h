// pipeline_config.h — the settings of what the actor does after the projection changes.
//
// Built by src/tools from the `serve` flags (README "Configuration") and recorded in the `service.started`
// event, so a timeline shows which settings decided each step.
//
// Thread-safety: a value type.
#pragma once

#include <chrono>
#include <string>

#include "projector/clients/backoff.h"

namespace callrec::projector {

enum class StorageKind : uint8_t { kNone, kFs, kSupabase };

struct PipelineConfig {
  bool manual_record = true;  // --record-mode manual: record_start on answer
  std::string record_format = "wav";
  std::string record_channels = "dual";
  std::string record_trim = "trim-silence";  // "" sends no trim

  std::chrono::milliseconds fetch_delay{std::chrono::minutes(2)};
  std::chrono::milliseconds fetch_interval{std::chrono::minutes(1)};
  int fetch_max_attempts = 10;  // "not found" answers before recording_not_found
  // Transient trouble (429, 5xx, timeouts) never uses up fetch attempts; past this much time
  // since the first query the intake fails as gave_up.
  std::chrono::milliseconds give_up_after{std::chrono::hours(24)};
  BackoffOptions backoff;  // for 429 without a time, 5xx, timeouts

  // 422 90020 (recording asked before audio started): Telnyx says retry shortly.
  std::chrono::milliseconds record_start_retry{1000};
  int record_start_max_attempts = 5;

  // A call still up (no call.hangup) this long after call.answered is asked about with
  // GET /v2/calls/{id}; while alive it is asked again every max_call_duration / 4 (at least 1 s).
  std::chrono::milliseconds max_call_duration{std::chrono::hours(4)};

  StorageKind storage = StorageKind::kNone;
  bool delete_after_upload = false;
  int storage_max_attempts = 8;  // download/upload tries before download_failed/upload_failed
  int delete_max_attempts = 5;
  std::string temp_dir = "/tmp";  // downloads are streamed here, then moved or uploaded
};

}  // namespace callrec::projector
