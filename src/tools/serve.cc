// `callrec serve`: builds the real clock, store, transport and clients, and wires the modules:
//
//   ingest::HttpService ──appends──► EventStore ◄──tails── projector::Projector
//                                                    │ listener
//                                                    ▼
//                                   projector::StepScheduler (StepRunner: Telnyx, storage)
//                                   projector::PgSync thread (with --postgres-url)
//
// Shutdown on SIGTERM/SIGINT: stop accepting and answer in-flight requests, stop starting steps
// (running ones finish), let the projector apply what was appended, close the store, exit 0.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "core/event_store.h"
#include "core/event_types.h"
#include "core/heap.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mask.h"
#include "core/metrics.h"
#include "ingest/http_service.h"
#include "projector/actor/step_runner.h"
#include "projector/actor/step_scheduler.h"
#include "projector/clients/backoff.h"
#include "projector/clients/curl_transport.h"
#include "projector/clients/pg_sync.h"
#include "projector/clients/recording_storage.h"
#include "projector/clients/telnyx_client.h"
#include "projector/clients/temp_files.h"
#include "projector/projection/projector.h"
#include "tools/cli.h"
#include "tools/memory_upkeep.h"
#include "tools/serve_options.h"

namespace callrec::tools {
namespace {

// How often serve returns free heap pages and refreshes its memory gauges (memory_upkeep.h).
constexpr std::chrono::milliseconds kMemoryUpkeepInterval{5000};

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

core::Event ServiceStartedEvent(const ServeOptions& o, const ServeSettings& s) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("version").String(CALLREC_VERSION);
  w.Key("record_mode").String(o.record_mode);
  w.Key("match_window_ms").Int(s.match_window.count());
  w.Key("match_header").String(o.match_header);
  w.Key("fetch_delay_ms").Int(s.pipeline.fetch_delay.count());
  w.Key("fetch_interval_ms").Int(s.pipeline.fetch_interval.count());
  w.Key("fetch_max_attempts").Int(s.pipeline.fetch_max_attempts);
  w.Key("max_call_duration_ms").Int(s.pipeline.max_call_duration.count());
  w.Key("storage").String(o.storage);
  w.Key("delete_after_upload").Bool(o.delete_after_upload);
  w.Key("telnyx_api_base").String(o.telnyx_api_base);
  w.EndObject();
  core::Event e;
  e.type = core::event_type::kServiceStarted;
  e.source = std::string(core::source::kOperator);
  e.payload = w.Take();
  return e;
}

// Keeps PostgreSQL caught up: after projector changes (at most every 500 ms) and every 5 s.
// A failure is logged and retried with backoff; the service keeps receiving meanwhile.
class PgSyncLoop {
 public:
  PgSyncLoop(std::string url, std::string merge_into, core::EventStore& store, core::Metrics& metrics)
      : url_(std::move(url)), merge_into_(std::move(merge_into)), store_(store),
        foreign_(metrics.GetGauge("callrec_pg_sync_foreign_checkpoint",
                                  "1 while PostgreSQL's checkpoint belongs to another store (sync refused)")),
        nul_replaced_(metrics.GetCounter("callrec_pg_sync_nul_replaced_total",
                                         "U+0000 characters written to PostgreSQL as U+FFFD")),
        skipped_(metrics.GetCounter("callrec_pg_sync_rows_skipped_total",
                                    "Intake rows PostgreSQL refused as data (logged pg_sync.row_skipped)")),
        thread_([this] { Run(); }) {}
  ~PgSyncLoop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Notify() {
    {
      std::lock_guard lock(mu_);
      dirty_ = true;
    }
    cv_.notify_all();
  }

 private:
  void Run() {
    std::unique_ptr<projector::PgSync> sync;
    std::chrono::milliseconds backoff{500};
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::seconds(5), [this] { return stop_ || dirty_; });
      if (stop_) break;
      dirty_ = false;
      lock.unlock();
      core::Status s;
      if (!sync) {
        auto connected = projector::PgSync::Connect(url_, merge_into_);
        if (connected.ok()) sync = std::move(*connected);
        else s = connected.status();
      }
      if (sync) {
        auto report = sync->SyncOnce(store_);
        foreign_->Set(report.status().code() == core::StatusCode::kFailedPrecondition ? 1 : 0);
        if (!report.ok()) {
          s = report.status();
          sync.reset();  // reconnect next time
        } else {
          nul_replaced_->Inc(report->nul_replaced);
          skipped_->Inc(report->skipped);
        }
      }
      if (!s.ok())
        core::LogWarn("pg_sync.failed", {{"error", s.message()}, {"retry_ms", int64_t(backoff.count())}});
      // The waits below end early on stop: shutdown must not sit out a 30 s backoff.
      lock.lock();
      if (!s.ok()) {
        cv_.wait_for(lock, backoff, [this] { return stop_; });
        backoff = std::min(backoff * 2, std::chrono::milliseconds(30000));
        dirty_ = true;  // try again
      } else {
        backoff = std::chrono::milliseconds(500);
        cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stop_; });  // coalesce bursts
      }
    }
  }

  std::string url_, merge_into_;
  core::EventStore& store_;
  core::Gauge* foreign_;
  core::Counter* nul_replaced_;
  core::Counter* skipped_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = true;
  bool stop_ = false;
  std::thread thread_;
};

std::unique_ptr<projector::RecordingStorage> MakeStorage(const ServeOptions& o,
                                                         projector::HttpTransport& transport,
                                                         core::Clock& clock) {
  if (o.storage == "fs") return std::make_unique<projector::FsStorage>(o.storage_dir);
  if (o.storage == "supabase")
    return std::make_unique<projector::SupabaseStorage>(transport, clock, o.supabase_url, o.supabase_bucket,
                                                        Env("SUPABASE_SERVICE_ROLE_KEY"));
  return nullptr;
}

// GET /api/intakes/{id}/recording's Telnyx fallback: a fresh presigned URL. The answer is
// appended as `telnyx.recording_get` like the pipeline's own lookups, so the timeline shows it.
core::Result<std::string> FreshRecordingUrl(projector::TelnyxClient& telnyx, core::EventStore& store,
                                            const std::string& format, const std::string& intake_id,
                                            const std::string& recording_id) {
  projector::RecordingLookup lookup = telnyx.GetRecording(recording_id);
  core::Event e;
  e.type = core::event_type::kTelnyxRecordingGet;
  e.source = std::string(core::source::kTelnyxApi);
  e.intake_id = intake_id;
  e.payload = lookup.api.EnvelopeJson(std::nullopt);
  if (auto appended = store.Append(std::move(e)); !appended.ok())
    core::LogWarn("recording.lookup_not_recorded", {{"id", intake_id}, {"error", appended.status().message()}});
  if (!lookup.recording) {
    if (lookup.api.status == 404) return core::Status::NotFound("Telnyx has no recording " + recording_id);
    return core::Status::Unavailable(lookup.api.error.empty() ? "HTTP " + std::to_string(lookup.api.status)
                                                              : lookup.api.error);
  }
  const projector::Recording& r = *lookup.recording;
  std::string url = format == "mp3" && !r.download_url_mp3.empty() ? r.download_url_mp3
                    : !r.download_url_wav.empty()                   ? r.download_url_wav
                                                                    : r.download_url_mp3;
  if (url.empty()) return core::Status::Unavailable("Telnyx listed no download URL");
  core::LogInfo("recording.fresh_url", {{"id", intake_id}, {"recording_id", recording_id}});
  return url;
}

int RunServe(const ServeOptions& o) {
  auto settings = ResolveServeSettings(o);
  if (!settings.ok()) {
    std::cerr << "callrec serve: " << core::MaskSecrets(settings.status().message()) << "\n";
    return kExitUsage;
  }
  // Signals are taken by sigwait() below, never by a handler on a random thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // Before any thread (RocksDB's included) exists: arenas made before the cap would stay.
  core::LimitMallocArenas(core::kServeMallocArenas);
  core::SystemClock clock;
  auto store = core::EventStore::Open(o.data_dir, clock);
  if (!store.ok()) return Fail(store.status().message());
  if (o.storage != "none") {
    std::error_code ec;
    std::filesystem::create_directories(settings->pipeline.temp_dir, ec);
    ::chmod(o.storage_dir.c_str(), 0700);
    ::chmod(settings->pipeline.temp_dir.c_str(), 0700);
    // Before any worker starts: what an interrupted copy left is never read again.
    projector::TempCleanup cleaned = projector::RemoveInterruptedCopies(
        settings->pipeline.temp_dir, o.storage == "fs" ? o.storage_dir : "");
    core::LogInfo("serve.temp_files_removed", {{"removed", uint64_t(cleaned.removed)},
                                               {"failed", uint64_t(cleaned.failed)},
                                               {"temp_dir", settings->pipeline.temp_dir}});
  }
  auto started = (*store)->Append(ServiceStartedEvent(o, *settings));
  if (!started.ok()) return Fail("cannot record service.started: " + started.status().ToString());

  core::Metrics metrics;
  MemoryUpkeep memory_upkeep(**store, metrics, kMemoryUpkeepInterval);
  core::Gauge* applied_gauge = metrics.GetGauge("callrec_projector_applied_seq", "Last seq applied to the projection");
  core::Gauge* unmatched_gauge = metrics.GetGauge(
      "callrec_projector_unmatched_webhooks", "Webhooks that matched no intake (kept in the log)");
  core::Gauge* ambiguous_gauge = metrics.GetGauge(
      "callrec_projector_ambiguous_matches",
      "Calls matched by phone while more than one intake could have taken them (metadata.match ambiguous)");
  std::atomic<projector::StepScheduler*> scheduler_ptr{nullptr};
  std::atomic<PgSyncLoop*> pg_ptr{nullptr};
  core::Gauge* resident_gauge = metrics.GetGauge(
      "callrec_projector_resident_intakes", "Intakes held in memory (the open ones; finished ones stay in the store)");
  std::atomic<projector::Projector*> projector_ptr{nullptr};
  auto update_gauges = [&](projector::Projector& p) {
    applied_gauge->Set(int64_t(p.applied_seq()));
    p.Read([&](const projector::Projection& proj) {
      unmatched_gauge->Set(int64_t(proj.unmatched_total()));
      ambiguous_gauge->Set(int64_t(proj.ambiguous_total()));
      resident_gauge->Set(int64_t(proj.resident_count()));
    });
  };
  projector::ProjectorOptions projector_options;
  // Memory holds only the open intakes this configuration acts on (projection.h).
  projector_options.open.fetched = o.storage != "none";
  projector_options.open.stored = o.delete_after_upload;
  auto projector = projector::Projector::Open(**store, [&](const std::vector<std::string>& changed) {
    if (auto* p = projector_ptr.load()) update_gauges(*p);
    if (auto* s = scheduler_ptr.load()) s->Notify(changed);
    if (auto* pg = pg_ptr.load()) pg->Notify();
  }, projector_options);
  if (!projector.ok()) return Fail(projector.status().ToString() + " (try `callrec replay`)");
  update_gauges(**projector);

  projector::CurlTransport transport;
  projector::TelnyxClient telnyx(transport, clock, o.telnyx_api_base, Env("TELNYX_API_KEY"));
  auto storage = MakeStorage(o, transport, clock);
  projector::RandomSource random = projector::SystemRandom;
  projector::StepRunner runner(settings->pipeline, clock, telnyx, transport, storage.get(), random);
  projector::SchedulerOptions lanes;
  lanes.workers = {settings->workers_live, settings->workers_query, settings->workers_copy};
  projector::StepScheduler scheduler(settings->pipeline, **store, clock, **projector, runner, metrics, lanes);

  ingest::HttpServiceConfig http_config;
  http_config.listen_host = settings->host;
  http_config.listen_port = settings->port;
  http_config.telnyx_public_key = o.telnyx_public_key;
  http_config.insecure_skip_signature = o.insecure_skip_signature;
  http_config.signature_tolerance = std::chrono::duration_cast<std::chrono::seconds>(settings->signature_tolerance);
  http_config.max_body_bytes = o.max_body_bytes;
  http_config.admin_token = Env("CALLREC_ADMIN_TOKEN");
  http_config.recording_dir = o.storage == "fs" ? o.storage_dir : "";
  http_config.fresh_recording_url = [&](const std::string& intake_id, const std::string& recording_id) {
    return FreshRecordingUrl(telnyx, **store, o.record_format, intake_id, recording_id);
  };
  http_config.ready = [&] { return scheduler.running() && (*projector)->health().ok(); };
  auto http = ingest::HttpService::Create(http_config, **store, clock, metrics, projector->get());
  if (!http.ok()) {
    std::cerr << "callrec serve: " << core::MaskSecrets(http.status().message()) << "\n";
    return kExitUsage;
  }

  std::unique_ptr<PgSyncLoop> pg;
  if (!o.postgres_url.empty()) {
    pg = std::make_unique<PgSyncLoop>(o.postgres_url, o.pg_merge_into, **store, metrics);
    pg_ptr = pg.get();
  }
  // Every way out once threads run (a failed listen too) stops them in dependency order before
  // the locals they use are destroyed: the projector's listener calls into the scheduler and the
  // PostgreSQL loop, so it stops before they do.
  auto stop_threads = [&](bool catch_up) {
    (*http)->Stop();
    scheduler_ptr = nullptr;
    scheduler.Stop();
    if (catch_up) (*projector)->CatchUp().IgnoreError();  // best effort: replay would redo it
    applied_gauge->Set(int64_t((*projector)->applied_seq()));
    (*projector)->Stop();
    pg_ptr = nullptr;
    pg.reset();
  };
  projector_ptr = projector->get();
  // Listening before the projector runs: a change it applies is never missed. Start() reads the
  // open intakes once (resuming whatever was pending before a restart).
  scheduler_ptr = &scheduler;
  (*projector)->Start();
  scheduler.Start();
  core::Status listening = (*http)->Start();
  if (!listening.ok()) {
    core::LogError("serve.start_failed", {{"error", listening.message()}});
    stop_threads(/*catch_up=*/false);
    return Fail(listening.message());
  }
  if (!o.port_file.empty()) std::ofstream(o.port_file) << (*http)->port() << "\n";
  core::LogInfo("serve.listening",
                {{"host", settings->host}, {"port", (*http)->port()}, {"data_dir", o.data_dir},
                 {"telnyx_api_base", o.telnyx_api_base}, {"record_mode", o.record_mode},
                 {"storage", o.storage}, {"postgres", !o.postgres_url.empty()},
                 {"telnyx_api_key_set", !Env("TELNYX_API_KEY").empty()}});

  int sig = 0;
  sigwait(&signals, &sig);
  core::LogInfo("serve.stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
  stop_threads(/*catch_up=*/true);
  core::LogInfo("serve.stopped", {{"last_seq", (*store)->LastSeq()}});
  return kExitOk;
}

}  // namespace

void AddServeCommand(CLI::App& app, Action& action) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Run the service: Telnyx webhooks, the intake API, the recording pipeline");
  AddDataDirOption(*cmd, o->data_dir);
  AddServeFlags(*cmd, *o);
  cmd->footer("Environment: TELNYX_API_KEY (never logged), CALLREC_ADMIN_TOKEN (Bearer token for "
              "/api/intakes*), SUPABASE_SERVICE_ROLE_KEY.");
  cmd->callback([o, &action] { action = [o] { return RunServe(*o); }; });
}

}  // namespace callrec::tools
