// http_service.h — callrec's HTTP front door: Telnyx webhooks, the intake API, health, metrics.
//
// HttpService owns the server (TunedServer) and its routes and borrows everything stateful:
// the EventStore it appends to, the Clock that judges signature timestamps, the Metrics registry
// it exposes at /metrics (the projector registers its own metrics in the same registry), and the
// ProjectionProgress the intake API waits on. src/tools builds those and wires them in.
//
// Routes (README "HTTP"):
//   POST /api/webhooks/telnyx/call-events   webhook_route.h
//   POST /api/intakes, GET /api/intakes, GET /api/intakes/{id}, POST /api/intakes/{id}/retry,
//   GET /api/intakes/{id}/timeline
//                                           intake_routes.h
//   GET /api/intakes/{id}/recording         recording_route.h
//   GET /console/..., /api/intake-counts, /api/unmatched-webhooks, /api/calls-per-day
//                                           console_routes.h
//   GET  /healthz  200 {"status":"ok"} while the process serves
//   GET  /readyz   200 {"status":"ready"} when the store is open (it is, for the service's
//                  whole life) and config.ready() says so (e.g. the scheduler runs); else 503
//   GET  /metrics  Prometheus text
// AddGet() registers more GET routes before Start().
//
// Lifecycle: Create() -> [AddGet()...] -> Start() -> ... -> Stop() (or destruction). Stop()
// stops accepting, closes idle keep-alive connections, waits for requests in flight to be
// answered, and returns; every 200 answered before or during Stop() is in the store. The caller
// then closes the store. The service is not restartable.
//
// Thread-safety: Start()/Stop() from one controlling thread (Stop() may race with requests);
// port() from any thread after Start().
//
//   HttpServiceConfig config;
//   config.listen_port = 0;
//   config.telnyx_public_key = std::getenv("TELNYX_PUBLIC_KEY");
//   CALLREC_ASSIGN_OR_RETURN(auto http, HttpService::Create(config, store, clock, metrics, &proj));
//   CALLREC_RETURN_IF_ERROR(http->Start());
//   ... http->Stop();
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/event_store.h"
#include "core/metrics.h"
#include "core/projection_progress.h"
#include "core/status.h"
#include "ingest/intake_request.h"
#include "ingest/server_tuning.h"

namespace callrec::ingest {

struct HttpServiceConfig {
  std::string listen_host = "127.0.0.1";
  int listen_port = 8080;  // 0: any free port (see port())

  // Base64 of the raw 32-byte Ed25519 key as the Telnyx portal shows it (PEM accepted too).
  std::string telnyx_public_key;
  // The only way to run without a key. Logged as a warning at Create() and exported as
  // callrec_signature_verification_disabled 1; every accepted webhook counts as unverified.
  bool insecure_skip_signature = false;
  std::chrono::seconds signature_tolerance{300};
  size_t max_body_bytes = 1u << 20;  // webhook bodies; 413 above

  // CALLREC_ADMIN_TOKEN; empty disables /api/intakes* (401 with instructions).
  std::string admin_token;
  size_t max_intake_body_bytes = 64u << 10;
  std::chrono::milliseconds projection_wait{5000};
  // 128 bits per generated intake id come from two calls. Empty: std::random_device.
  RandomSource random;

  // GET /api/intakes/{id}/recording (recording_route.h): --storage-dir when --storage fs, and
  // how to get a fresh Telnyx URL (tools wires the Telnyx client; empty: no Telnyx fallback).
  std::string recording_dir;
  std::function<core::Result<std::string>(const std::string& intake_id,
                                          const std::string& recording_id)> fresh_recording_url;

  // /readyz: empty means "ready while serving"; tools sets e.g. "the scheduler is running".
  std::function<bool()> ready;
  // /readyz: extra JSON members appended to its object (cluster mode: `"leader":true,...`).
  std::function<std::string()> ready_detail;

  ServerTuning tuning;
};

class TunedServer;
class WebhookRoute;
class IntakeRoutes;
class RouteCounters;
class RecordingRoute;
class ConsoleRoutes;

class HttpService {
 public:
  // kInvalidArgument for a bad configuration: no public key without insecure_skip_signature,
  // a key that does not parse, zero limits. Nothing is bound yet.
  static core::Result<std::unique_ptr<HttpService>> Create(const HttpServiceConfig& config,
                                                           core::EventStore& store,
                                                           core::Clock& clock,
                                                           core::Metrics& metrics,
                                                           core::ProjectionProgress* progress);
  ~HttpService();  // Stop()s

  HttpService(const HttpService&) = delete;
  HttpService& operator=(const HttpService&) = delete;

  // Registers a GET route; `route_label` (e.g. "/api/intakes/{id}/timeline") labels its metrics.
  // Requires: called before Start().
  void AddGet(const std::string& pattern, const std::string& route_label,
              std::function<void(const httplib::Request&, httplib::Response&)> handler);
  // For what AddGet does not cover. Requires: configured before Start().
  httplib::Server& server();

  // Binds and serves on background threads; returns once connections are being accepted.
  // kFailedPrecondition when the address cannot be bound. Requires: called once.
  core::Status Start();
  // The bound port (the real one when listen_port was 0). Requires: Start() succeeded.
  int port() const { return port_; }
  // Idempotent; see the file comment.
  void Stop();

 private:
  // The routes get the store in Create; the service itself only owns them and the server.
  HttpService(const HttpServiceConfig& config, core::Metrics& metrics);
  void RegisterRoutes();
  // Wraps a handler so its answers are counted under `route_label`.
  RouteCounters& Counters(const std::string& route_label);

  HttpServiceConfig config_;
  core::Metrics& metrics_;
  std::unique_ptr<TunedServer> server_;
  std::unique_ptr<WebhookRoute> webhook_;
  std::unique_ptr<IntakeRoutes> intakes_;
  std::unique_ptr<RecordingRoute> recording_;
  std::unique_ptr<ConsoleRoutes> console_;
  std::vector<std::unique_ptr<RouteCounters>> counters_;
  RouteCounters* unmatched_ = nullptr;

  std::thread listen_thread_;
  std::atomic<bool> listen_returned_{false};
  bool started_ = false;
  bool stopped_ = false;
  int port_ = 0;
};

}  // namespace callrec::ingest
