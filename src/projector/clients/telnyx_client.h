// telnyx_client.h — the Telnyx API calls callrec makes, and what each answer means.
//
// Every call is one HTTP exchange through the injected HttpTransport (no retries, no sleeping)
// and returns an ApiResult: the raw answer, how long it took (Clock::SteadyNow), the Telnyx
// error parsed from {"errors":[{"code","title","detail"}]}, and an ApiOutcome telling the caller
// what to do next:
//   kOk         2xx (for a list: at least one recording on the page).
//   kNotFound   a list answered 200 with no recordings, or 404 (the spec lists one for the
//               list). The scheduler also sets it on the result when recordings came back but
//               none verified (recording_match.h).
//   kRetry      Telnyx said "retry shortly" (422 code 90020: recording asked before audio).
//   kTransient  no answer, 408, 429, 5xx, or a 2xx whose body cannot be parsed: retry with
//               backoff, not before `retry_after` when the server named a time.
//   kFailed     any other 4xx, 401/403 included (a bad key needs an operator), and requests
//               refused before sending (bad arguments).
// ApiResult::EnvelopeJson() is the "API envelope" of docs/ARCHITECTURE.md, the payload of the
// telnyx.* events. The API key goes only into the Authorization header: never into a path, an
// envelope, an error text or a log line.
//
// Thread-safety: a TelnyxClient is immutable after construction; its methods may run
// concurrently (the transport and clock must allow it, as their interfaces require).
//
//   TelnyxClient telnyx(transport, clock, "https://api.telnyx.com", key);
//   ApiResult r = telnyx.RecordStart(call_control_id, {.custom_file_name = intake_id});
//   if (r.outcome == ApiOutcome::kRetry) ...
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/json.h"
#include "projector/clients/http_transport.h"

namespace callrec::projector {

enum class ApiOutcome : uint8_t { kOk, kNotFound, kRetry, kTransient, kFailed };

// "ok", "not_found", "retry", "transient", "failed": the envelope's `outcome`.
const char* ApiOutcomeName(ApiOutcome outcome);

// The rules above for an HTTP answer (status 0 = no answer). `error_code` is the first Telnyx
// error's code ("" when none).
ApiOutcome ClassifyResponse(int status, std::string_view error_code);

// When the server says to come back: `Retry-After` (delta seconds or an HTTP date, relative to
// `now`), else `x-ratelimit-reset` (seconds until the window resets; a value past 10^9 is read as
// a Unix time). nullopt when neither is present and well-formed. Clamped to [0, 1 h] so a
// hostile header cannot park work for days.
std::optional<std::chrono::milliseconds> RetryAfterFromHeaders(
    std::string_view retry_after, std::string_view ratelimit_reset,
    std::chrono::system_clock::time_point now);

struct ApiResult {
  std::string method;  // "POST"
  std::string path;    // path and query without scheme/host: "/v2/recordings?filter%5B..."
  int status = 0;      // 0: no HTTP answer
  std::string body;    // the response body as received
  std::string retry_after_header;                        // raw `retry-after`, "" when absent
  std::string ratelimit_reset_header;                    // raw `x-ratelimit-reset`, "" when absent
  std::optional<std::chrono::milliseconds> retry_after;  // RetryAfterFromHeaders
  std::chrono::milliseconds duration{0};
  std::string error;  // one line for people; "" when outcome is kOk or kNotFound
  std::string error_code, error_title, error_detail;  // first entry of Telnyx's errors[]
  ApiOutcome outcome = ApiOutcome::kFailed;

  bool ok() const { return outcome == ApiOutcome::kOk; }

  // Writes the envelope's fields into an object the caller has open, so an event can add its
  // own fields (telnyx.recordings_list adds candidates/verified):
  //   "request":{"method","path"},"status","duration_ms","outcome","error","retry_at","body"
  // `retry_at_ms` (Unix ms) is when the caller will try again, chosen by its backoff policy.
  void WriteEnvelopeFields(core::JsonWriter& w, std::optional<int64_t> retry_at_ms) const;
  // The same fields as one JSON object.
  std::string EnvelopeJson(std::optional<int64_t> retry_at_ms) const;
};

// One recording as GET /v2/recordings returns it. Absent or null fields are "" / 0.
struct Recording {
  std::string id;
  std::string call_control_id;
  std::string call_leg_id;
  std::string call_session_id;
  std::string channels;  // "single" | "dual"
  std::string status;    // "completed"
  int64_t duration_millis = 0;
  std::string recording_started_at;  // RFC 3339 as given
  std::string created_at;            // RFC 3339 as given
  int64_t created_at_ms = 0;         // parsed; 0 when absent or unparseable (sorts oldest)
  std::string download_url_wav;      // presigned, valid ~10 minutes
  std::string download_url_mp3;
};

struct RecordStartOptions {
  std::string format = "wav";      // wav | mp3
  std::string channels = "dual";   // single | dual
  std::string trim{};              // "" or "trim-silence"
  std::string custom_file_name{};  // manual mode: the intake id; Telnyx appends "-<unix time>"
  std::string command_id{};        // repeated ids for one call are ignored by Telnyx (60 s)
};

// At least one id must be set; both are sent (ANDed by Telnyx) when both are.
struct RecordingFilter {
  std::string call_leg_id{};
  std::string call_session_id{};
};

struct RecordingsPage {
  ApiResult api;
  std::vector<Recording> recordings;
  int64_t page_number = 0;  // from meta; the requested page when absent
  int64_t total_pages = 0;  // from meta; page_number when absent (no further pages)
};

// Every page of one query. `requests` has one ApiResult per request sent, in order; when one
// was not ok the walk stopped there and `outcome` is its outcome.
struct RecordingsListing {
  std::vector<ApiResult> requests;
  std::vector<Recording> recordings;  // all pages, in listing order (may repeat an id)
  bool truncated = false;             // more pages existed than `max_pages`
  ApiOutcome outcome = ApiOutcome::kFailed;
};

struct RecordingLookup {
  ApiResult api;
  std::optional<Recording> recording;  // set when api.ok()
};

// GET /v2/calls/{call_control_id} ("Retrieve a call status"): `data` is Telnyx's Call object
// {call_control_id, call_leg_id, call_session_id, client_state, is_alive, call_duration (s),
// start_time, end_time, record_type:"call"}. Telnyx keeps it for 10 minutes after the call ended;
// later (or for an id it never knew) it answers 404, or 422 (90015 invalid call_control_id).
struct CallStatusLookup {
  ApiResult api;
  std::optional<bool> is_alive;          // set when api.ok() (a 2xx without it is kTransient)
  std::optional<int64_t> call_duration_s;
  std::optional<std::string> end_time;   // RFC 3339 as given
};

class TelnyxClient {
 public:
  struct Options {
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds total_timeout{30000};
  };

  // `api_base`: "https://api.telnyx.com" or a simulator's "http://127.0.0.1:PORT" (a trailing
  // '/' is ignored). `api_key` may be empty (the simulator): no Authorization header is sent.
  // `transport` and `clock` are borrowed and must outlive the client.
  TelnyxClient(HttpTransport& transport, core::Clock& clock, std::string api_base,
               std::string api_key, Options options);
  TelnyxClient(HttpTransport& transport, core::Clock& clock, std::string api_base,
               std::string api_key)
      : TelnyxClient(transport, clock, std::move(api_base), std::move(api_key), Options{}) {}

  // POST /v2/calls/{call_control_id}/actions/record_start. 422 90018 (call ended) is kFailed
  // with Telnyx's detail in `error`; 422 90020 is kRetry.
  ApiResult RecordStart(std::string_view call_control_id, const RecordStartOptions& options);

  // GET /v2/recordings?filter[...]=..&page[number]=N&page[size]=S.
  // Requires: page_number >= 1, 1 <= page_size <= 250 (else kFailed, nothing sent).
  RecordingsPage ListRecordings(const RecordingFilter& filter, int page_number, int page_size);

  // ListRecordings from page 1 until the last page, an empty page, a failed request or
  // `max_pages` requests. kOk when any recording came back, kNotFound when none did.
  RecordingsListing ListAllRecordings(const RecordingFilter& filter, int page_size = 250,
                                      int max_pages = 20);

  // GET /v2/recordings/{id}: the object with freshly signed download URLs. 404 is kFailed.
  RecordingLookup GetRecording(std::string_view recording_id);

  // GET /v2/calls/{call_control_id} (the id percent-encoded). 404 and 422 are kFailed: the
  // caller decides that an unknown call is over.
  CallStatusLookup GetCallStatus(std::string_view call_control_id);

  // DELETE /v2/recordings/{id}. 404 is kFailed: a caller that counts "already gone" as done
  // checks api.status == 404 itself.
  ApiResult DeleteRecording(std::string_view recording_id);

 private:
  ApiResult Call(std::string method, std::string path, std::string body);
  ApiResult GetById(std::string_view collection, std::string_view id, std::string_view what);

  HttpTransport& transport_;
  core::Clock& clock_;
  const std::string api_base_;
  const std::string api_key_;
  const Options options_;
};

}  // namespace callrec::projector
