// webhooks.h — Telnyx Call Control webhooks: their bodies, signatures and delivery.
//
// Bodies follow the documented envelope exactly (samples in data/webhooks/):
//   {"data":{"event_type","id","occurred_at","payload":{...},"record_type":"event"},
//    "meta":{"attempt":N,"delivered_to":"<url>"}}
// The "data" part is built once per event (fresh UUID data.id); the envelope is rebuilt per
// attempt so a redelivery carries the same data.id with a higher meta.attempt.
//
// WebhookDispatcher owns one delivery thread. Events are POSTed in the order they were queued;
// an answer other than 2xx (or no answer) puts the event back with attempt+1 after
// `retry_delay` on the injected clock, up to `max_attempts`. Each POST is signed with Ed25519
// over "<telnyx-timestamp>|<body>" (headers telnyx-signature-ed25519, telnyx-timestamp).
//
// Thread-safety: WebhookDispatcher's methods may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>  // std::condition_variable_any
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/thread_annotations.h"
#include "telnyx_sim/config.h"
#include "telnyx_sim/crypto.h"

namespace callrec::telnyx_sim {

// "2026-11-20T15:04:12.411000Z": Telnyx writes microseconds; the sim's clock has milliseconds.
std::string FormatTelnyxTime(int64_t unix_ms);

// What every call event's payload says about the call.
struct WebhookCall {
  CallIds ids;
  std::optional<std::string> client_state;
  std::string connection_id;
  std::string direction;
  std::string from;
  std::string to;
  int64_t start_ms = 0;
  std::vector<std::pair<std::string, std::string>> custom_headers;  // SIP X- headers
};

struct WebhookRecording {
  std::string recording_id;
  std::string channels;
  std::string format;  // wav | mp3: the key of recording_urls
  int64_t started_ms = 0;
  int64_t ended_ms = 0;
  std::string url;  // a freshly signed download URL
  std::string call_control_id;  // as the recording reports it (may be the leg UUID)
};

// Each returns the JSON of the envelope's "data" member with a fresh data.id.
std::string CallInitiatedData(const WebhookCall& call, int64_t occurred_ms);
std::string CallAnsweredData(const WebhookCall& call, int64_t occurred_ms);
std::string CallHangupData(const WebhookCall& call, int64_t occurred_ms, std::string_view cause,
                           std::string_view source, std::string_view sip_cause);
std::string RecordingSavedData(const WebhookCall& call, const WebhookRecording& rec,
                               int64_t occurred_ms);
std::string RecordingErrorData(const WebhookCall& call, int64_t occurred_ms,
                               std::string_view reason);
// {"data":<data_json>,"meta":{"attempt":N,"delivered_to":"<url>"}}
std::string WebhookEnvelope(std::string_view data_json, int attempt, std::string_view url);

// Where the sim's call machine hands events. Implemented by WebhookDispatcher; tests may collect.
class WebhookSink {
 public:
  virtual ~WebhookSink() = default;
  // `duplicate`: queue a second delivery (attempt 2) right behind the first.
  virtual void Emit(const std::string& url, std::string data_json, bool duplicate) = 0;
};

// One delivery attempt, as GET /sim/webhooks lists them.
struct DeliveryRecord {
  std::string event_id;
  std::string event_type;
  int attempt = 0;
  std::string url;
  int status = 0;      // HTTP status; 0: no answer
  std::string error;   // why there was no answer
  int64_t at_ms = 0;   // clock wall time of the attempt
};

class WebhookDispatcher final : public WebhookSink {
 public:
  struct Options {
    int max_attempts = 3;
    std::chrono::milliseconds retry_delay{1000};
    std::chrono::milliseconds timeout{5000};
  };
  // `clock` and `signer` must outlive the dispatcher.
  WebhookDispatcher(core::Clock& clock, const Ed25519Signer& signer, Options options);
  ~WebhookDispatcher() override;

  void Start();
  // Drops whatever is still queued and joins the thread. Idempotent.
  void Stop();
  void Emit(const std::string& url, std::string data_json, bool duplicate) override;

  std::vector<DeliveryRecord> Records() const;
  // Blocks until nothing is queued or in flight (retries included) or `timeout` passes.
  bool WaitIdle(std::chrono::milliseconds timeout);
  // Blocks until at least `n` attempts have been answered (or failed) or `timeout` passes.
  bool WaitForAttempts(size_t n, std::chrono::milliseconds timeout);

 private:
  struct Pending {
    std::string url;
    std::string data_json;
    std::string event_id;
    std::string event_type;
    int attempt = 1;
    int64_t due_ms = 0;  // clock wall time; 0: now
  };
  void Run();
  // Moves retries whose time has come to the back of ready_.
  void PromoteDue() REQUIRES(mu_);
  DeliveryRecord Deliver(const Pending& p);

  core::Clock& clock_;
  const Ed25519Signer& signer_;
  const Options options_;
  mutable core::Mutex mu_;
  std::condition_variable_any cv_;
  std::deque<Pending> ready_ GUARDED_BY(mu_);
  std::vector<Pending> delayed_ GUARDED_BY(mu_);  // retries waiting for due_ms
  std::vector<DeliveryRecord> records_ GUARDED_BY(mu_);
  bool in_flight_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace callrec::telnyx_sim
