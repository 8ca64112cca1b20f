// service.h — `callrec serve` as one object: the real clock, store, clients and threads, wired.
//
//   ingest::HttpService ──appends──► EventStore ◄──tails── projector::Projector
//                                                    │ listener
//                                                    ▼
//                                   projector::StepScheduler (StepRunner: Telnyx, storage)
//                                   projector::PgSyncLoop (with --postgres-url)
//
// The members are declared in start-up order, each built from the ones above it, so the
// destructor takes them down in reverse. Create() opens and builds everything (the store,
// `service.started`, the projection) but starts no request handling; Start() starts the
// projector, the actor and the listener, in that order, so a change the projector applies is
// never missed. Stop() stops the threads in dependency order before anything is destroyed:
// listener, actor (running steps finish), projector (after applying what was appended when
// asked to catch up), PostgreSQL loop. The projector's listener names the scheduler and the
// PostgreSQL loop directly: it runs only on the projector's thread (started by Start(), after
// every member exists) or inside Stop()'s catch-up, so nothing is bound late.
//
// Cluster mode (--event-log): the store is a cluster::ClusterStore over this node's replica, and
// a ClusterNode (serve_cluster.h) starts the scheduler only while this node leads; the scheduler
// appends through the fenced view and hears of changes only while it runs.
//
// Thread-safety: Create/Start/Stop/port from one controlling thread (main).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/event_store.h"
#include "core/metrics.h"
#include "core/status.h"
#include "ingest/http_service.h"
#include "projector/actor/step_runner.h"
#include "projector/actor/step_scheduler.h"
#include "projector/clients/curl_transport.h"
#include "projector/clients/pg_sync_loop.h"
#include "projector/clients/recording_storage.h"
#include "projector/clients/telnyx_client.h"
#include "projector/projection/projector.h"
#include "tools/memory_upkeep.h"
#include "tools/serve_cluster.h"
#include "tools/serve_options.h"

namespace callrec::tools {

class Service {
 public:
  // Builds the service. On failure prints the reason to stderr (as `callrec` does) and returns
  // nullptr with `exit_code` set: kExitUsage for a configuration the HTTP service refuses,
  // kExitFailure for a store, log or projection that cannot be opened.
  static std::unique_ptr<Service> Create(const ServeOptions& options, const ServeSettings& settings,
                                         int& exit_code);
  ~Service();  // Stop(/*catch_up=*/false) if still running
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Starts the projector, the actor and the listener. A failed listen returns its error with the
  // threads running: the caller logs it and calls Stop() (the destructor would too).
  core::Status Start();
  // Stops every thread in dependency order; with `catch_up` the projector first applies what was
  // appended. Safe to call twice.
  void Stop(bool catch_up);

  int port() const { return http_->port(); }
  core::EventStore& store() { return *store_; }
  // Cluster mode: this node lost its leadership (it stopped itself with SIGTERM; exit 1).
  bool deposed() const { return deposed_.load(); }

 private:
  Service(const ServeOptions& options, const ServeSettings& settings);
  // Create()'s phases, in member order. Each prints why it failed and returns false.
  bool OpenLog();          // the store, temp files, `service.started`
  bool OpenProjection();   // memory upkeep, gauges, the projector (not started)
  void BuildActor();       // Telnyx client, storage, StepRunner, StepScheduler (not started)
  bool BuildHttp();        // the HTTP service (not listening)
  // The projector's listener: gauges, the actor, PostgreSQL.
  void OnChanged(const std::vector<std::string>& changed);
  void UpdateGauges();
  // GET /api/intakes/{id}/recording's Telnyx fallback (a fresh presigned URL, recorded as an event).
  core::Result<std::string> FreshRecordingUrl(const std::string& intake_id, const std::string& recording_id);

  // Start-up order (the destructor runs it backwards).
  const ServeOptions options_;
  const ServeSettings settings_;
  core::SystemClock clock_;
  std::unique_ptr<core::EventStore> store_;
  core::EventStore* local_store_ = nullptr;  // the RocksDB store (the replica in cluster mode)
  core::Metrics metrics_;
  std::unique_ptr<MemoryUpkeep> memory_upkeep_;
  core::Gauge* applied_gauge_ = nullptr;
  core::Gauge* unmatched_gauge_ = nullptr;
  core::Gauge* ambiguous_gauge_ = nullptr;
  core::Gauge* resident_gauge_ = nullptr;
  std::unique_ptr<projector::Projector> projector_;
  projector::CurlTransport transport_;
  std::unique_ptr<projector::TelnyxClient> telnyx_;
  std::unique_ptr<projector::RecordingStorage> storage_;  // null without --storage
  projector::RandomSource random_ = projector::SystemRandom;
  std::unique_ptr<projector::StepRunner> runner_;
  std::unique_ptr<projector::StepScheduler> scheduler_;
  std::unique_ptr<ClusterNode> cluster_;  // cluster mode only; made by OpenLog
  std::atomic<bool> acting_{false};       // the scheduler runs (always, outside cluster mode)
  std::atomic<bool> deposed_{false};
  std::unique_ptr<ingest::HttpService> http_;
  std::unique_ptr<projector::PgSyncLoop> pg_;  // null without --postgres-url
  bool running_ = false;
};

}  // namespace callrec::tools
