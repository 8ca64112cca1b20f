#include "tools/service.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "core/event_types.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mask.h"
#include "projector/clients/temp_files.h"
#include "tools/cli.h"

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

std::unique_ptr<projector::RecordingStorage> MakeStorage(const ServeOptions& o,
                                                         projector::HttpTransport& transport,
                                                         core::Clock& clock) {
  if (o.storage == "fs") return std::make_unique<projector::FsStorage>(o.storage_dir);
  if (o.storage == "supabase")
    return std::make_unique<projector::SupabaseStorage>(transport, clock, o.supabase_url, o.supabase_bucket,
                                                        Env("SUPABASE_SERVICE_ROLE_KEY"));
  return nullptr;
}

// Before any worker starts: what an interrupted copy left is never read again.
void PrepareTempDir(const ServeOptions& o, const ServeSettings& s) {
  std::error_code ec;
  std::filesystem::create_directories(s.pipeline.temp_dir, ec);
  ::chmod(o.storage_dir.c_str(), 0700);
  ::chmod(s.pipeline.temp_dir.c_str(), 0700);
  projector::TempCleanup cleaned =
      projector::RemoveInterruptedCopies(s.pipeline.temp_dir, o.storage == "fs" ? o.storage_dir : "");
  core::LogInfo("serve.temp_files_removed", {{"removed", uint64_t(cleaned.removed)},
                                             {"failed", uint64_t(cleaned.failed)},
                                             {"temp_dir", s.pipeline.temp_dir}});
}

ingest::HttpServiceConfig HttpConfig(const ServeOptions& o, const ServeSettings& s) {
  ingest::HttpServiceConfig c;
  c.listen_host = s.host;
  c.listen_port = s.port;
  c.telnyx_public_key = o.telnyx_public_key;
  c.insecure_skip_signature = o.insecure_skip_signature;
  c.signature_tolerance = std::chrono::duration_cast<std::chrono::seconds>(s.signature_tolerance);
  c.max_body_bytes = o.max_body_bytes;
  c.admin_token = Env("CALLREC_ADMIN_TOKEN");
  c.recording_dir = o.storage == "fs" ? o.storage_dir : "";
  return c;
}

}  // namespace

Service::Service(const ServeOptions& options, const ServeSettings& settings)
    : options_(options), settings_(settings) {}

Service::~Service() { Stop(/*catch_up=*/false); }

std::unique_ptr<Service> Service::Create(const ServeOptions& o, const ServeSettings& settings,
                                         int& exit_code) {
  exit_code = kExitFailure;
  std::unique_ptr<Service> s(new Service(o, settings));
  if (!s->OpenLog() || !s->OpenProjection()) return nullptr;
  s->BuildActor();
  if (!s->BuildHttp()) {
    exit_code = kExitUsage;
    return nullptr;
  }
  if (!o.postgres_url.empty())
    s->pg_ = std::make_unique<projector::PgSyncLoop>(o.postgres_url, o.pg_merge_into, *s->local_store_,
                                                     s->metrics_, s->clock_);
  exit_code = kExitOk;
  return s;
}

bool Service::OpenLog() {
  // Cluster mode (--event-log): a ClusterStore over this node's replica (serve_cluster.h).
  auto store = OpenServeStore(options_, clock_);
  if (!store.ok()) {
    Fail(store.status().message());
    return false;
  }
  store_ = std::move(*store);
  auto* cluster_store = dynamic_cast<cluster::ClusterStore*>(store_.get());
  local_store_ = cluster_store ? &cluster_store->local() : store_.get();
  if (cluster_store) {
    auto node = ClusterNode::Create(*store_, options_, settings_, metrics_);
    if (!node.ok()) {
      Fail(node.status().message());
      return false;
    }
    cluster_ = std::move(*node);
  }
  if (options_.storage != "none") PrepareTempDir(options_, settings_);
  auto started = store_->Append(ServiceStartedEvent(options_, settings_));
  if (!started.ok()) {
    Fail("cannot record service.started: " + started.status().ToString());
    return false;
  }
  return true;
}

bool Service::OpenProjection() {
  memory_upkeep_ = std::make_unique<MemoryUpkeep>(*local_store_, metrics_, kMemoryUpkeepInterval);
  applied_gauge_ = metrics_.GetGauge("callrec_projector_applied_seq", "Last seq applied to the projection");
  unmatched_gauge_ = metrics_.GetGauge("callrec_projector_unmatched_webhooks",
                                       "Webhooks that matched no intake (kept in the log)");
  ambiguous_gauge_ = metrics_.GetGauge(
      "callrec_projector_ambiguous_matches",
      "Calls matched by phone while more than one intake could have taken them (metadata.match ambiguous)");
  resident_gauge_ = metrics_.GetGauge("callrec_projector_resident_intakes",
                                      "Intakes held in memory (the open ones; finished ones stay in the store)");
  projector::ProjectorOptions projector_options;
  // Memory holds only the open intakes this configuration acts on (projection.h).
  projector_options.open.fetched = options_.storage != "none";
  projector_options.open.stored = options_.delete_after_upload;
  // The listener runs only once Start() starts the projector's thread, after every member exists.
  auto projector = projector::Projector::Open(
      *store_, [this](const std::vector<std::string>& changed) { OnChanged(changed); }, projector_options);
  if (!projector.ok()) {
    Fail(projector.status().ToString() + " (try `callrec replay`)");
    return false;
  }
  projector_ = std::move(*projector);
  UpdateGauges();
  return true;
}

void Service::BuildActor() {
  telnyx_ = std::make_unique<projector::TelnyxClient>(transport_, clock_, options_.telnyx_api_base,
                                                      Env("TELNYX_API_KEY"));
  storage_ = MakeStorage(options_, transport_, clock_);
  runner_ = std::make_unique<projector::StepRunner>(settings_.pipeline, clock_, *telnyx_, transport_,
                                                    storage_.get(), random_);
  projector::SchedulerOptions lanes;
  lanes.workers = {settings_.workers_live, settings_.workers_query, settings_.workers_copy};
  // The actor appends through the fenced view in cluster mode: a deposed leader appends nothing.
  core::EventStore& actor_store = cluster_ ? cluster_->actor_store() : *store_;
  scheduler_ = std::make_unique<projector::StepScheduler>(settings_.pipeline, actor_store, clock_, *projector_,
                                                          *runner_, metrics_, lanes);
}

bool Service::BuildHttp() {
  ingest::HttpServiceConfig config = HttpConfig(options_, settings_);
  config.fresh_recording_url = [this](const std::string& intake_id, const std::string& recording_id) {
    return FreshRecordingUrl(intake_id, recording_id);
  };
  config.ready = [this] {
    bool acting = cluster_ ? !cluster_->leading() || scheduler_->running() : scheduler_->running();
    return acting && projector_->health().ok();
  };
  if (cluster_) config.ready_detail = [this] { return cluster_->ReadyJson(); };
  auto http = ingest::HttpService::Create(config, *store_, clock_, metrics_, projector_.get());
  if (!http.ok()) {
    std::cerr << "callrec serve: " << core::MaskSecrets(http.status().message()) << "\n";
    return false;
  }
  http_ = std::move(*http);
  return true;
}

core::Status Service::Start() {
  running_ = true;
  // The projector's listener reaches the scheduler, which exists by now; Start() reads the open
  // intakes once (resuming whatever was pending before a restart).
  projector_->Start();
  if (cluster_) {
    // Only the leader acts; a deposed one stops as on SIGTERM and exits 1 (RunServe).
    cluster_->Start([this] { return projector_->applied_seq(); },
                    [this](uint64_t seq) { return projector_->WaitApplied(seq, std::chrono::milliseconds(200)); },
                    [this](uint64_t) {
                      acting_ = true;
                      scheduler_->Start();
                    },
                    [this] {
                      deposed_ = true;
                      ::kill(::getpid(), SIGTERM);
                    });
  } else {
    acting_ = true;
    scheduler_->Start();
  }
  return http_->Start();
}

void Service::Stop(bool catch_up) {
  if (!running_) {
    if (pg_) pg_->Stop();  // created, never started: only the PostgreSQL thread runs
    if (cluster_) cluster_->Stop();  // and the shared log's tail
    return;
  }
  running_ = false;
  http_->Stop();
  if (cluster_) cluster_->StopActivating();  // no scheduler Start() after the Stop() below
  scheduler_->Stop();
  if (cluster_) cluster_->Stop();  // after the steps' last appends: releasing the lease fences them
  if (catch_up) projector_->CatchUp().IgnoreError();  // best effort: replay would redo it
  applied_gauge_->Set(int64_t(projector_->applied_seq()));
  projector_->Stop();  // no listener call after this
  if (pg_) pg_->Stop();
}

void Service::OnChanged(const std::vector<std::string>& changed) {
  UpdateGauges();
  // A follower's scheduler never runs: it hears of changes only once it leads (its Start() then
  // reads the open intakes), so nothing piles up in it meanwhile.
  if (acting_) scheduler_->Notify(changed);
  if (pg_) pg_->Notify();
}

void Service::UpdateGauges() {
  applied_gauge_->Set(int64_t(projector_->applied_seq()));
  projector_->Read([&](const projector::Projection& proj) {
    unmatched_gauge_->Set(int64_t(proj.unmatched_total()));
    ambiguous_gauge_->Set(int64_t(proj.ambiguous_total()));
    resident_gauge_->Set(int64_t(proj.resident_count()));
  });
}

// The answer is appended as `telnyx.recording_get` like the pipeline's own lookups, so the
// timeline shows it.
core::Result<std::string> Service::FreshRecordingUrl(const std::string& intake_id,
                                                     const std::string& recording_id) {
  projector::RecordingLookup lookup = telnyx_->GetRecording(recording_id);
  core::Event e;
  e.type = core::event_type::kTelnyxRecordingGet;
  e.source = std::string(core::source::kTelnyxApi);
  e.intake_id = intake_id;
  e.payload = lookup.api.EnvelopeJson(std::nullopt);
  if (auto appended = store_->Append(std::move(e)); !appended.ok())
    core::LogWarn("recording.lookup_not_recorded", {{"id", intake_id}, {"error", appended.status().message()}});
  if (!lookup.recording) {
    if (lookup.api.status == 404) return core::Status::NotFound("Telnyx has no recording " + recording_id);
    return core::Status::Unavailable(lookup.api.error.empty() ? "HTTP " + std::to_string(lookup.api.status)
                                                              : lookup.api.error);
  }
  const projector::Recording& r = *lookup.recording;
  const std::string& format = options_.record_format;
  std::string url = format == "mp3" && !r.download_url_mp3.empty() ? r.download_url_mp3
                    : !r.download_url_wav.empty()                   ? r.download_url_wav
                                                                    : r.download_url_mp3;
  if (url.empty()) return core::Status::Unavailable("Telnyx listed no download URL");
  core::LogInfo("recording.fresh_url", {{"id", intake_id}, {"recording_id", recording_id}});
  return url;
}

}  // namespace callrec::tools
