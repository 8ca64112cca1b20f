// config.h — what a telnyx-sim instance is told at start, and what a test call looks like.
//
// SimConfig is fixed for the life of a TelnyxSim; SimFaults is the part that can also change at
// runtime (POST /sim/faults), so it is a separate value that the sim copies under its lock.
// CallSpec describes one simulated call (POST /sim/calls, `telnyx-sim call`, TelnyxSim::PlaceCall).
// The JSON helpers here are the single definition of the /sim/* request and response shapes.
//
// Thread-safety: value types and pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/thread_annotations.h"

namespace callrec::telnyx_sim {

// Faults the sim injects. Counters ("next N") count down as requests consume them.
struct SimFaults {
  // Telnyx API (/v2/*): the next N requests answer 429 code 10011 with x-ratelimit-* headers.
  int rate_limit_next = 0;
  int rate_limit_limit = 100;     // x-ratelimit-limit
  int rate_limit_reset_s = 1;     // x-ratelimit-reset (seconds until the window resets)
  int retry_after_s = -1;         // Retry-After header when >= 0 (Telnyx does not document it)
  // The next N /v2 requests answer this 5xx status with a Telnyx error body.
  int server_error_next = 0;
  int server_error_status = 503;  // 500..599
  int latency_ms = 0;             // added before every /v2 answer...
  int latency_max_ms = 0;         // ...uniform in [latency_ms, this] when this is larger
  int media_latency_ms = 0;       // added before every /media answer (a slow download)...
  int media_latency_max_ms = 0;   // ...uniform in [media_latency_ms, this] when this is larger
  // Recordings registered from now on become visible this long after their call's hangup...
  int64_t recording_delay_ms = 1000;
  // ...or never, while this is set ("missing" recordings).
  bool recordings_missing = false;
  // Each recording registered from now on comes with this many other calls' recordings, newer
  // than it (listed first): one of the same call_session_id but another call_leg_id, the rest
  // of other sessions with other custom file names.
  int foreign_recordings = 0;
  // The next N record_start commands that would succeed answer 422 code 90020 instead.
  int record_start_90020_next = 0;
  // The next N record_start commands run (the recording starts) and then their answer is lost:
  // a 503 instead of the 200, as when Telnyx's answer never reaches the client.
  int record_start_lose_answer_next = 0;
  // Recordings report the call leg's UUID as their call_control_id (in listings and in
  // call.recording.saved), as one of Telnyx's documented examples does.
  bool recording_ccid_is_leg_id = false;
  // GET /v2/recordings answers 404 (the spec lists one) instead of an empty page.
  bool recordings_list_404_when_empty = false;
  // Media: WAVs served with streaming size fields (0xFFFFFFFF) instead of exact ones.
  bool wav_streaming_header = false;
  // Supabase Storage (/storage/v1/*): the next N requests answer this 5xx status.
  int storage_error_next = 0;
  int storage_error_status = 503;
  // Resumable (TUS) uploads: the next N PATCHes stop after storing this many of their body
  // bytes (the server's offset moves by that much), discard the rest and answer 503, as when a
  // connection breaks mid-chunk.
  int storage_tus_break_next = 0;
  int storage_tus_break_after = 65536;
};

struct SimBucket {
  std::string name;
  bool is_public = true;  // GET /storage/v1/object/public/<bucket>/... serves it
};

struct SimConfig {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: pick a free port; TelnyxSim::port() tells which
  // Bearer key the Telnyx API requires; empty: no Authorization check at all.
  std::string api_key;
  // Base of the download URLs the sim hands out; empty: http://<host>:<port>.
  std::string public_base_url;
  std::string account = "3fa85f64-5717-4562-b3fc-2c963f66afa6";  // first path segment of media URLs
  std::string connection_id = "1684641123236054244";               // default for calls
  std::chrono::seconds url_expiry{600};  // X-Amz-Expires of download URLs
  std::chrono::seconds media_cap{10};    // served audio is at most this long (keeps files small)
  // Ed25519 private key (PEM, PKCS#8) for webhook signatures; empty: an ephemeral key.
  std::string signing_key_pem_path;
  std::string default_webhook_url;  // for calls that name none
  int webhook_max_attempts = 3;     // deliveries of one event answered non-2xx before giving up
  std::chrono::milliseconds webhook_retry_delay{1000};
  std::chrono::milliseconds webhook_timeout{5000};
  // Supabase Storage: the service key uploads must carry (Authorization: Bearer and apikey);
  // empty: any non-empty key is accepted (both headers are still required).
  std::string storage_service_key;
  std::vector<SimBucket> buckets = {{"call-recordings", true}};
  // Supabase's default single-request upload limit: a larger POST/PUT answers
  // 400 {"statusCode":"413","error":"Payload too large",...}.
  size_t storage_max_bytes = 50u << 20;
  // Resumable (TUS) uploads: the largest Upload-Length taken (413 above), the chunk size every
  // PATCH but the last must carry exactly (Supabase requires 6 MB), and how long an upload URL
  // lives (Supabase: an hour; then 410).
  uint64_t storage_tus_max_bytes = uint64_t{50} << 30;
  uint64_t storage_tus_chunk_bytes = 6u << 20;
  std::chrono::milliseconds storage_tus_expiry{3600 * 1000};
  // Served audio is this long whatever the recording's length (0: the recording's own length,
  // capped by media_cap): a 60-minute WAV for the memory bench, a long call in a quick test.
  std::chrono::milliseconds media_duration{0};
  int server_threads = 16;
  SimFaults faults;  // initial faults
};

struct CallIds {
  std::string call_control_id;
  std::string call_leg_id;
  std::string call_session_id;
};

struct CallSpec {
  std::string to;
  std::string from = "+15550100200";
  std::string direction = "outgoing";  // outgoing | incoming
  std::string webhook_url;             // empty: SimConfig::default_webhook_url (may be empty: none)
  std::optional<std::string> client_state;
  // custom_headers of call.initiated and call.answered ([{name, value}]): the SIP INVITE's X-
  // headers, e.g. LiveKit's SIP participant `headers` such as X-Intake-Id.
  std::vector<std::pair<std::string, std::string>> custom_headers;
  std::string connection_id;           // empty: SimConfig::connection_id
  int64_t answer_after_ms = 200;       // from initiation; < 0: only AnswerCall() answers
  int64_t hangup_after_ms = 2000;      // from answer (or initiation if never answered); < 0: manual
  bool send_recording_saved = true;    // call.recording.saved when each recording is visible
  bool duplicate_webhooks = false;     // every event is delivered twice (attempt 1 and 2)
  bool hangup_before_answered = false; // call.answered is delivered after call.hangup
  bool auto_record = false;            // Telnyx records by itself from answer (wav, dual)
  std::string hangup_cause = "normal_clearing";
  std::string hangup_source = "callee";
  std::string sip_hangup_cause = "200";
  std::optional<int64_t> recording_delay_ms;  // overrides SimFaults::recording_delay_ms
  bool recording_missing = false;  // this call's recordings never appear
  bool recording_error = false;    // call.recording.error instead of the recording
  bool drop_hangup_webhook = false;  // the call ends, but its call.hangup is never delivered
};

// {"rate_limit_next":0,...}: every field of SimFaults.
std::string FaultsToJson(const SimFaults& faults);
// Applies a partial update such as {"rate_limit_next":2,"retry_after_s":1}; {"reset":true}
// first restores `defaults`. kInvalidArgument naming the field on an unknown key, a wrong type
// or an out-of-range value; `faults` is unchanged then.
core::Status ApplyFaultsJson(std::string_view json, const SimFaults& defaults, SimFaults& faults);
// A delay drawn uniformly from [lo, max(lo, hi)] ms (thread-safe).
std::chrono::milliseconds SimDelay(int lo, int hi);
// Range checks shared by the JSON and the command-line paths.
core::Status ValidateFaults(const SimFaults& faults);

// Parses POST /sim/calls. kInvalidArgument naming the field on bad input.
core::Result<CallSpec> ParseCallSpecJson(std::string_view json);
std::string CallSpecToJson(const CallSpec& spec);
std::string CallIdsToJson(const CallIds& ids);

// The live faults of one sim, shared by its routes. Take* consume one unit of a "next N" fault
// atomically, so concurrent requests never both take the last one.
class FaultBox {
 public:
  explicit FaultBox(const SimFaults& initial) : defaults_(initial), faults_(initial) {}
  SimFaults Get() const;
  // ApplyFaultsJson on the live faults; returns them afterwards as JSON.
  core::Result<std::string> Apply(std::string_view json);
  bool TakeRateLimit(SimFaults* snapshot);   // true: answer 429; `snapshot` gets the header values
  int TakeServerError();                     // 0 or the 5xx status to answer
  int TakeStorageError();                    // 0 or the 5xx status to answer
  int TakeTusBreak();                        // -1, or the PATCH body bytes to keep before breaking
  bool TakeRecordStart90020();
  bool TakeRecordStartLoseAnswer();

 private:
  mutable core::Mutex mu_;
  const SimFaults defaults_;
  SimFaults faults_ GUARDED_BY(mu_);
};

}  // namespace callrec::telnyx_sim
