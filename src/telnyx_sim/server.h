// server.h — a local stand-in for Telnyx Call Control, its recordings API and Supabase Storage.
//
// One HTTP server (cpp-httplib) that behaves like the documented services, faults included, so
// tests, the demo (`./scripts/run` without TELNYX_API_KEY) and people without a Telnyx account
// can drive callrec end to end. docs/telnyx-sim.md is the user-facing description.
//
//   /v2/calls/{call_control_id}/actions/record_start   POST   Telnyx command
//   /v2/recordings, /v2/recordings/{id}                 GET, DELETE
//   /media/<account>/<date>/<file>?X-Amz-...            GET    presigned audio (403 when expired)
//   /storage/v1/object/...                              Supabase Storage (storage.h)
//   /sim/calls, /sim/calls/{id}[/answer|/hangup]        the sim's own control surface
//   /sim/faults, /sim/stats, /sim/webhooks, /sim/public-key
//
// Calls are placed on the sim (POST /sim/calls or PlaceCall), which then sends signed webhooks
// (call.initiated, call.answered, call.hangup, call.recording.saved) to the call's webhook URL
// from a background thread. All times come from the injected clock: with a ManualClock a test
// decides when calls answer, hang up, when recordings appear and when URLs expire.
//
//   core::SystemClock clock;
//   CALLREC_ASSIGN_OR_RETURN(auto sim, TelnyxSim::Start(SimConfig{}, clock));
//   CallSpec call; call.to = "+15550123456"; call.webhook_url = "http://127.0.0.1:8080/hook";
//   CALLREC_ASSIGN_OR_RETURN(CallIds ids, sim->PlaceCall(call));
//   ... sim->RequestCount("GET /v2/recordings") ...
//
// Thread-safety: all public methods may be called from any thread. Stop() (also run by the
// destructor) blocks until the server and background threads have ended.
#pragma once

#include <chrono>
#include <condition_variable>  // std::condition_variable_any
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "telnyx_sim/config.h"
#include "telnyx_sim/crypto.h"
#include "telnyx_sim/media.h"
#include "telnyx_sim/stats.h"
#include "telnyx_sim/storage.h"
#include "telnyx_sim/webhooks.h"
#include "telnyx_sim/world.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace callrec::telnyx_sim {

class TelnyxSim {
 public:
  // Binds config.host:config.port (0 picks a free port), loads or generates the signing key and
  // starts serving. kInvalidArgument for a bad config or key file, kUnavailable when the
  // address cannot be bound. `clock` must outlive the sim.
  static core::Result<std::unique_ptr<TelnyxSim>> Start(SimConfig config, core::Clock& clock);

  TelnyxSim(const TelnyxSim&) = delete;
  TelnyxSim& operator=(const TelnyxSim&) = delete;
  ~TelnyxSim();

  int port() const { return port_; }
  // "http://127.0.0.1:<port>" (what API clients and the download URLs use).
  const std::string& base_url() const { return base_url_; }
  void Stop();

  // The same as POST /sim/calls; kInvalidArgument for a bad spec.
  core::Result<CallIds> PlaceCall(const CallSpec& spec);
  // Drive a call by hand (for answer_after_ms/hangup_after_ms < 0). kNotFound, or
  // kFailedPrecondition when the call is past that state.
  core::Status AnswerCall(std::string_view call_control_id);
  core::Status HangupCall(std::string_view call_control_id);

  SimFaults faults() const { return faults_.Get(); }
  // The same as POST /sim/faults: a partial JSON update; returns the faults afterwards.
  core::Result<std::string> SetFaults(std::string_view json) { return faults_.Apply(json); }

  // Requests received on one route (names in stats.h), and on all /v2/ routes together.
  uint64_t RequestCount(std::string_view route) const { return stats_.Get(route); }
  uint64_t ApiRequestCount() const { return stats_.SumWithPathPrefix("/v2/"); }

  // base64 of the raw 32-byte Ed25519 public key the webhooks verify with.
  std::string public_key_base64() const { return signer_->public_key_base64(); }
  std::vector<DeliveryRecord> WebhookDeliveries() const { return dispatcher_->Records(); }
  // Blocks until no webhook is queued, in flight or waiting for a retry, or `timeout` passes.
  bool WaitWebhooksIdle(std::chrono::milliseconds timeout) { return dispatcher_->WaitIdle(timeout); }
  // Blocks until `n` delivery attempts have finished (answered or failed) or `timeout` passes.
  bool WaitWebhookAttempts(size_t n, std::chrono::milliseconds timeout) {
    return dispatcher_->WaitForAttempts(n, timeout);
  }

  SimWorld& world() { return *world_; }
  SimStorage& storage() { return *storage_; }

 private:
  TelnyxSim(SimConfig config, core::Clock& clock);
  core::Status Init();
  void Kick();  // wakes the scheduler: a call's script changed
  void RunScheduler();

  // Route groups (routes.cc and server.cc).
  void RegisterApiRoutes();
  void RegisterMediaRoute();
  void RegisterSimRoutes();
  void RegisterFallbacks();
  // Counts, delays, authenticates and applies 429/5xx faults for a /v2 request; false when
  // `res` already holds the answer.
  bool AdmitApi(const httplib::Request& req, httplib::Response& res, std::string_view route);
  void HandleRecordStart(const httplib::Request& req, httplib::Response& res);
  void HandleListRecordings(const httplib::Request& req, httplib::Response& res);
  void HandleMedia(const httplib::Request& req, httplib::Response& res);

  const SimConfig config_;
  core::Clock& clock_;
  FaultBox faults_;
  SimStats stats_;
  std::unique_ptr<Ed25519Signer> signer_;
  std::unique_ptr<MediaUrlSigner> media_signer_;
  std::unique_ptr<WebhookDispatcher> dispatcher_;
  std::unique_ptr<SimWorld> world_;
  std::unique_ptr<SimStorage> storage_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::string base_url_;
  std::thread listen_thread_;
  std::thread scheduler_thread_;

  core::Mutex sched_mu_;
  std::condition_variable_any sched_cv_;
  bool kicked_ GUARDED_BY(sched_mu_) = false;
  bool stopped_ GUARDED_BY(sched_mu_) = false;
};

}  // namespace callrec::telnyx_sim
