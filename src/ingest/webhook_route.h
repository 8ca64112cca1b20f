// webhook_route.h — POST /api/webhooks/telnyx/call-events: Telnyx deliveries into the log.
//
// Cheapest rejection first, and an answer only once the delivery is durable:
//   1. size: Content-Length over max_body_bytes -> 413 before reading the body
//   2. signature (WebhookVerifier) -> 401, counted by reason; skipped only when the service runs
//      with --insecure-skip-signature (then every accepted delivery is counted as unverified)
//   3. parse with simdjson, reading only data.id and data.event_type -> 400 when absent
//   4. EventStore::Append(kSync) of the raw body as a `telnyx.webhook` event with idempotency key
//      `telnyx:<data.id>` -> 200 {"received":true,"seq":N,"duplicate":false}; a redelivery
//      answers the first copy's seq with "duplicate":true; a failing store answers 503.
// Unknown event types are stored and acknowledged like any other.
//
// Thread-safety: Handle() runs on many worker threads at once; per-thread buffers and parser.
#pragma once

#include <httplib.h>

#include <array>
#include <optional>

#include "core/clock.h"
#include "core/event_store.h"
#include "core/metrics.h"
#include "ingest/signature.h"

namespace callrec::ingest {

inline constexpr char kWebhookRoute[] = "/api/webhooks/telnyx/call-events";
inline constexpr size_t kMaxTelnyxEventIdBytes = 256;

class WebhookRoute {
 public:
  // `verifier` empty means signatures are not checked (the insecure mode). `store`, `clock` and
  // `metrics` must outlive the route.
  WebhookRoute(std::optional<WebhookVerifier> verifier, size_t max_body_bytes,
               core::EventStore& store, core::Clock& clock, core::Metrics& metrics);

  void Handle(const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader& reader);

 private:
  // False (and `res` set to 401) when the delivery's signature does not hold.
  bool Authenticate(const httplib::Request& req, std::string_view body, httplib::Response& res);
  void Store(std::string_view body, std::string_view event_id, std::string_view event_type,
             httplib::Response& res);

  const std::optional<WebhookVerifier> verifier_;
  const size_t max_body_bytes_;
  core::EventStore& store_;
  core::Clock& clock_;

  std::array<core::Counter*, 8> signature_failures_{};  // by SignatureCheck
  core::Counter* unverified_ = nullptr;
  core::Counter* duplicates_ = nullptr;
  core::Counter* appended_ = nullptr;
  core::Counter* store_failures_ = nullptr;
  core::Histogram* append_seconds_ = nullptr;
};

}  // namespace callrec::ingest
