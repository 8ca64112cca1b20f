// world.h — the simulated Telnyx account: calls, their state machine, and recordings.
//
// A call moves initiated -> answered -> hangup (or initiated -> hangup when never answered).
// record_start is valid only while answered; each accepted one registers a recording that ends
// at hangup and becomes visible in GET /v2/recordings `recording_delay_ms` after hangup (or
// never, for "missing" recordings). Time comes from the injected clock only, so a test with a
// ManualClock decides when calls answer, hang up and when recordings appear; RunDue() performs
// whatever scripted step has come due and is called by TelnyxSim's scheduler thread.
//
// The HTTP layer (server.cc, routes.cc) parses requests and renders answers; this class decides.
//
// Thread-safety: every public method takes the world's mutex; call from any thread. Webhooks
// are handed to the WebhookSink while the mutex is held (the sink only queues them).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "telnyx_sim/config.h"
#include "telnyx_sim/media.h"
#include "telnyx_sim/webhooks.h"

namespace callrec::telnyx_sim {

// A Telnyx API error: {"errors":[{"code","title","detail"[,"source"]}]} with an HTTP status.
struct ApiError {
  int http_status = 422;
  std::string code;
  std::string title;
  std::string detail;
  std::string pointer;    // source.pointer (a body field), or empty
  std::string parameter;  // source.parameter (a query parameter), or empty
};
std::string ApiErrorJson(const ApiError& error);

// The body of POST /v2/calls/{id}/actions/record_start, validated.
struct RecordStartParams {
  std::string format;    // wav | mp3
  std::string channels;  // single | dual
  std::string custom_file_name;
  std::string command_id;
  std::optional<std::string> client_state;
  int64_t max_length_s = 0;  // 0: until hangup
};
// 422 with the Telnyx error shape when a required field is missing or a value is invalid.
core::Result<RecordStartParams> ParseRecordStart(std::string_view body, ApiError* error);

struct SimRecording {
  std::string id;
  std::string call_control_id;
  std::string call_leg_id;
  std::string call_session_id;
  std::string connection_id;
  std::string from;
  std::string to;
  std::string channels;
  std::string format;
  std::string media_path;  // /media/<account>/<date>/<name>-<unix ts>.<ext>
  int64_t started_ms = 0;
  int64_t ended_ms = -1;    // -1 while the call is up
  int64_t created_ms = 0;   // set at hangup
  int64_t visible_ms = -1;  // -1: not yet (call up); kNever: missing
  int64_t max_length_ms = 0;  // record_start max_length; 0: until hangup
  bool foreign = false;     // another call's recording injected by the foreign_recordings fault
  static constexpr int64_t kNever = INT64_MAX;
};

// Documented GET /v2/recordings filters; unset members do not filter.
struct RecordingFilter {
  std::optional<std::string> call_leg_id, call_session_id, conference_id, connection_id, from, to;
  std::optional<std::string> call_control_id, sip_call_id, conference_region;  // since 2026-03
  std::optional<int64_t> created_gte_ms, created_lte_ms;
  std::optional<int64_t> start_gte_ms, start_lte_ms, end_gte_ms, end_lte_ms;   // since 2026-03
};

struct RecordingPage {
  std::vector<SimRecording> items;
  int page_number = 1;
  int page_size = 20;
  int total_pages = 0;
  int total_results = 0;
};

class SimWorld {
 public:
  // All references must outlive the world. `base_url` prefixes media paths in download URLs.
  SimWorld(const SimConfig& config, core::Clock& clock, FaultBox& faults, WebhookSink& sink,
           const MediaUrlSigner& signer, std::string base_url);
  ~SimWorld();

  // Requires: spec passed ParseCallSpecJson's validation (or equivalent).
  CallIds PlaceCall(const CallSpec& spec);
  // kNotFound for an unknown call; kFailedPrecondition when the state forbids it.
  core::Status AnswerCall(std::string_view call_control_id);
  core::Status HangupCall(std::string_view call_control_id);
  // Performs scripted steps that are due; returns whether any remain scheduled.
  bool RunDue();

  // nullopt: accepted (200 {"data":{"result":"ok"}}); else the error to answer.
  std::optional<ApiError> RecordStart(std::string_view call_control_id,
                                      const RecordStartParams& params);

  // Requires: page_number >= 1, 1 <= page_size <= 250. Newest created_at first.
  RecordingPage ListRecordings(const RecordingFilter& filter, int page_number, int page_size);
  std::optional<SimRecording> GetRecording(std::string_view id);
  std::optional<SimRecording> DeleteRecording(std::string_view id);
  // The visible, undeleted recording served at `path`, if any.
  std::optional<SimRecording> FindByMediaPath(std::string_view path);

  // The recording object (api.recordings.list.json) with a freshly signed download URL.
  std::string RecordingJson(const SimRecording& rec);
  std::string DownloadUrl(const SimRecording& rec);
  // GET /v2/calls/{id} as Telnyx answers it: {"data":{call_control_id, call_leg_id,
  // call_session_id, client_state, is_alive, call_duration, start_time[, end_time],
  // record_type:"call"}}. nullopt (-> 404) for an unknown call, or one that ended more than
  // kCallStatusRetentionMs ago (Telnyx keeps the data 10 minutes after the call ended).
  std::optional<std::string> CallStatusJson(std::string_view call_control_id);
  static constexpr int64_t kCallStatusRetentionMs = 10 * 60 * 1000;
  // The sim's view of a call (GET /sim/calls/{id}); nullopt when unknown.
  std::optional<std::string> CallJson(std::string_view call_control_id);
  size_t recording_count();
  // The call_control_id a recording reports: the leg UUID under recording_ccid_is_leg_id.
  std::string ReportedControlId(const SimRecording& rec) const;

 private:
  struct Call;
  enum class Step { kAnswer, kHangup, kRecordingReady };
  struct Due {
    Step step;
    std::string id;  // call_control_id, or recording id for kRecordingReady
  };

  // All below run with mu_ held.
  Call* FindCall(std::string_view call_control_id) REQUIRES(mu_);
  void Answer(Call& call) REQUIRES(mu_);
  void Hangup(Call& call) REQUIRES(mu_);
  void Emit(const Call& call, std::string data_json) REQUIRES(mu_);
  WebhookCall ToWebhookCall(const Call& call) const REQUIRES(mu_);
  SimRecording& AddRecording(Call& call, const std::string& format, const std::string& channels,
                             const std::string& file_name, int64_t max_length_s) REQUIRES(mu_);
  void AddForeignRecordings(Call& call, const SimRecording& real, int count) REQUIRES(mu_);
  void RecordingReady(const std::string& recording_id) REQUIRES(mu_);
  bool Matches(const SimRecording& rec, const RecordingFilter& filter) const REQUIRES(mu_);
  // The recording if it exists and is visible at `now`; else nullptr.
  const SimRecording* VisibleLocked(std::string_view id, int64_t now) const REQUIRES(mu_);

  const SimConfig& config_;
  core::Clock& clock_;
  FaultBox& faults_;
  WebhookSink& sink_;
  const MediaUrlSigner& signer_;
  const std::string base_url_;

  core::Mutex mu_;
  std::map<std::string, std::unique_ptr<Call>, std::less<>> calls_ GUARDED_BY(mu_);  // by call_control_id
  std::map<std::string, SimRecording, std::less<>> recordings_ GUARDED_BY(mu_);      // by id
  std::map<std::string, std::string, std::less<>> media_index_ GUARDED_BY(mu_);      // media path -> id
  std::multimap<int64_t, Due> timeline_ GUARDED_BY(mu_);                             // by due wall ms
};

}  // namespace callrec::telnyx_sim
