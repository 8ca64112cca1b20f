// TelnyxSim's lifecycle, scheduler and /sim/* control routes. The Telnyx API and media routes
// are in routes.cc.
#include "telnyx_sim/server.h"

#include <httplib.h>

#include "core/json.h"
#include "core/log.h"

namespace callrec::telnyx_sim {
namespace {

using core::JsonWriter;
using core::Result;
using core::Status;

constexpr const char* kJson = "application/json";

void JsonError(httplib::Response& res, int status, std::string_view message) {
  JsonWriter w;
  w.BeginObject().Key("error").String(message).EndObject();
  res.status = status;
  res.set_content(w.Take(), kJson);
}

int HttpStatusOf(const Status& s) {
  switch (s.code()) {
    case core::StatusCode::kNotFound: return 404;
    case core::StatusCode::kFailedPrecondition: return 409;
    case core::StatusCode::kInvalidArgument: return 400;
    default: return 500;
  }
}

Status ValidateConfig(const SimConfig& c) {
  CALLREC_RETURN_IF_ERROR(ValidateFaults(c.faults));
  if (c.port < 0 || c.port > 65535) return Status::InvalidArgument("port must be 0-65535");
  if (c.url_expiry.count() < 1 || c.url_expiry.count() > 604800)
    return Status::InvalidArgument("url expiry must be 1s-7d (S3's range)");
  if (c.media_cap.count() < 0) return Status::InvalidArgument("media cap must be >= 0");
  if (c.media_duration.count() < 0 || c.media_duration > std::chrono::hours(24))
    return Status::InvalidArgument("media duration must be 0-24h");
  if (c.storage_tus_chunk_bytes < 1) return Status::InvalidArgument("tus chunk size must be >= 1");
  if (c.storage_tus_expiry.count() < 1) return Status::InvalidArgument("tus expiry must be > 0");
  if (c.webhook_max_attempts < 1) return Status::InvalidArgument("webhook max attempts must be >= 1");
  if (c.server_threads < 1) return Status::InvalidArgument("server threads must be >= 1");
  if (c.account.empty() || c.account.find('/') != std::string::npos)
    return Status::InvalidArgument("account must be non-empty and contain no '/'");
  for (const SimBucket& b : c.buckets)
    if (b.name.empty() || b.name.find('/') != std::string::npos || b.name == "public" ||
        b.name == "authenticated")
      return Status::InvalidArgument("bad bucket name \"" + b.name + "\"");
  return Status::Ok();
}

}  // namespace

TelnyxSim::TelnyxSim(SimConfig config, core::Clock& clock)
    : config_(std::move(config)), clock_(clock), faults_(config_.faults) {}

TelnyxSim::~TelnyxSim() { Stop(); }

Result<std::unique_ptr<TelnyxSim>> TelnyxSim::Start(SimConfig config, core::Clock& clock) {
  CALLREC_RETURN_IF_ERROR(ValidateConfig(config));
  std::unique_ptr<TelnyxSim> sim(new TelnyxSim(std::move(config), clock));
  CALLREC_RETURN_IF_ERROR(sim->Init());
  return sim;
}

Status TelnyxSim::Init() {
  if (config_.signing_key_pem_path.empty()) {
    CALLREC_ASSIGN_OR_RETURN(signer_, Ed25519Signer::Generate());
  } else {
    CALLREC_ASSIGN_OR_RETURN(signer_, Ed25519Signer::FromPemFile(config_.signing_key_pem_path));
  }
  media_signer_ = std::make_unique<MediaUrlSigner>(RandomBytes(32));

  server_ = std::make_unique<httplib::Server>();
  // Debian's cpp-httplib defaults cost ~40 ms per keep-alive response (Nagle + delayed ACK)
  // and cap connections at 8 workers; see shared/notes/measured-anchors.md.
  server_->set_tcp_nodelay(true);
  server_->set_keep_alive_max_count(1000);
  // An idle keep-alive connection holds a worker (and Stop()) until this passes.
  server_->set_keep_alive_timeout(2);
  server_->set_read_timeout(10, 0);
  server_->set_write_timeout(10, 0);
  // Storage uploads stream through their own size checks (storage.h), so a too-large one
  // gets Supabase's 400/413 answer rather than httplib's bare 413.
  server_->set_payload_max_length(size_t{8} << 30);
  int threads = config_.server_threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  if (config_.port == 0) {
    port_ = server_->bind_to_any_port(config_.host);
    if (port_ < 0) return Status::Unavailable("cannot bind " + config_.host + ":0");
  } else {
    if (!server_->bind_to_port(config_.host, config_.port))
      return Status::Unavailable("cannot bind " + config_.host + ":" + std::to_string(config_.port));
    port_ = config_.port;
  }
  std::string host = config_.host == "0.0.0.0" ? "127.0.0.1" : config_.host;
  base_url_ = config_.public_base_url.empty()
                  ? "http://" + host + ":" + std::to_string(port_)
                  : config_.public_base_url;
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();

  dispatcher_ = std::make_unique<WebhookDispatcher>(
      clock_, *signer_,
      WebhookDispatcher::Options{config_.webhook_max_attempts, config_.webhook_retry_delay,
                                 config_.webhook_timeout});
  world_ = std::make_unique<SimWorld>(config_, clock_, faults_, *dispatcher_, *media_signer_,
                                      base_url_);
  storage_ = std::make_unique<SimStorage>(config_, clock_, faults_, stats_);

  RegisterApiRoutes();
  RegisterMediaRoute();
  RegisterSimRoutes();
  storage_->Register(*server_);
  RegisterFallbacks();

  dispatcher_->Start();
  scheduler_thread_ = std::thread([this] { RunScheduler(); });
  // The socket is already listening (bind), so clients may connect before this thread accepts.
  listen_thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib's stop() is a no-op until the accept loop runs; wait for it so that a Stop() right
  // after Start() cannot leave the listen thread running forever.
  for (int i = 0; i < 5000 && !server_->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  core::LogInfo("sim.listening", {{"port", port_},
                                  {"base_url", base_url_},
                                  {"public_key", signer_->public_key_base64()},
                                  {"api_key_required", !config_.api_key.empty()}});
  return Status::Ok();
}

void TelnyxSim::Stop() {
  {
    core::MutexLock lock(sched_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  sched_cv_.notify_all();
  if (server_) server_->stop();
  if (listen_thread_.joinable()) listen_thread_.join();
  if (scheduler_thread_.joinable()) scheduler_thread_.join();
  if (dispatcher_) dispatcher_->Stop();
}

void TelnyxSim::Kick() {
  {
    core::MutexLock lock(sched_mu_);
    kicked_ = true;
  }
  sched_cv_.notify_all();
}

void TelnyxSim::RunScheduler() {
  core::MutexLock lock(sched_mu_);
  while (!stopped_) {
    kicked_ = false;
    sched_mu_.Unlock();
    bool pending = world_->RunDue();
    sched_mu_.Lock();
    // Due times are on the injected clock, which a test may move at any moment: while steps
    // are pending, look again every few ms instead of sleeping until the computed time.
    if (pending) {
      sched_cv_.wait_for(lock, std::chrono::milliseconds(5),
                         [&]() REQUIRES(sched_mu_) { return stopped_; });
    } else {
      sched_cv_.wait(lock, [&]() REQUIRES(sched_mu_) { return stopped_ || kicked_; });
    }
  }
}

Result<CallIds> TelnyxSim::PlaceCall(const CallSpec& spec) {
  // Round-trip through the JSON parser so the class and POST /sim/calls validate alike.
  CALLREC_ASSIGN_OR_RETURN(CallSpec checked, ParseCallSpecJson(CallSpecToJson(spec)));
  CallIds ids = world_->PlaceCall(checked);
  Kick();
  return ids;
}

Status TelnyxSim::AnswerCall(std::string_view call_control_id) {
  Status s = world_->AnswerCall(call_control_id);
  Kick();
  return s;
}

Status TelnyxSim::HangupCall(std::string_view call_control_id) {
  Status s = world_->HangupCall(call_control_id);
  Kick();
  return s;
}

void TelnyxSim::RegisterSimRoutes() {
  httplib::Server& s = *server_;
  s.Post("/sim/calls", [this](const httplib::Request& req, httplib::Response& res) {
    stats_.Count("POST /sim/calls");
    auto spec = ParseCallSpecJson(req.body);
    if (!spec.ok()) return JsonError(res, 400, spec.status().message());
    CallIds ids = world_->PlaceCall(*spec);
    Kick();
    res.status = 201;
    res.set_content(CallIdsToJson(ids), kJson);
  });
  s.Get(R"(/sim/calls/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto json = world_->CallJson(req.matches[1].str());
    if (!json) return JsonError(res, 404, "no such call");
    res.set_content(*json, kJson);
  });
  s.Post(R"(/sim/calls/([^/]+)/(answer|hangup))",
         [this](const httplib::Request& req, httplib::Response& res) {
           std::string id = req.matches[1];
           Status st = req.matches[2] == "answer" ? AnswerCall(id) : HangupCall(id);
           if (!st.ok()) return JsonError(res, HttpStatusOf(st), st.message());
           res.set_content(world_->CallJson(id).value_or("{}"), kJson);
         });
  s.Get("/sim/faults", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(FaultsToJson(faults_.Get()), kJson);
  });
  s.Post("/sim/faults", [this](const httplib::Request& req, httplib::Response& res) {
    auto json = faults_.Apply(req.body);
    if (!json.ok()) return JsonError(res, 400, json.status().message());
    core::LogInfo("sim.faults.changed", {{"faults", *json}});
    res.set_content(*json, kJson);
  });
  s.Get("/sim/stats", [this](const httplib::Request&, httplib::Response& res) {
    auto deliveries = dispatcher_->Records();
    uint64_t delivered = 0;
    for (const auto& d : deliveries) delivered += d.status >= 200 && d.status < 300;
    JsonWriter w;
    w.BeginObject();
    w.Key("requests").Raw(stats_.ToJson());
    w.Key("api_requests").Uint(ApiRequestCount());
    w.Key("recordings").Uint(world_->recording_count());
    w.Key("storage_objects").Uint(storage_->object_count());
    w.Key("storage_tus_bytes_received").Uint(storage_->tus_bytes_received());
    w.Key("storage_tus_bytes_stored").Uint(storage_->tus_bytes_stored());
    w.Key("webhook_attempts").Uint(deliveries.size());
    w.Key("webhooks_delivered").Uint(delivered);
    w.EndObject();
    res.set_content(w.Take(), kJson);
  });
  s.Delete("/sim/stats", [this](const httplib::Request&, httplib::Response& res) {
    stats_.Reset();
    storage_->ResetCounters();
    res.set_content(R"({"reset":true})", kJson);
  });
  s.Get("/sim/webhooks", [this](const httplib::Request&, httplib::Response& res) {
    JsonWriter w;
    w.BeginObject().Key("deliveries").BeginArray();
    for (const DeliveryRecord& d : dispatcher_->Records()) {
      w.BeginObject();
      w.Key("event_id").String(d.event_id).Key("event_type").String(d.event_type);
      w.Key("attempt").Int(d.attempt).Key("url").String(d.url).Key("status").Int(d.status);
      w.Key("error").String(d.error).Key("at").String(FormatTelnyxTime(d.at_ms));
      w.EndObject();
    }
    w.EndArray().EndObject();
    res.set_content(w.Take(), kJson);
  });
  s.Get("/sim/public-key", [this](const httplib::Request&, httplib::Response& res) {
    JsonWriter w;
    w.BeginObject().Key("public_key").String(signer_->public_key_base64()).EndObject();
    res.set_content(w.Take(), kJson);
  });
}

void TelnyxSim::RegisterFallbacks() {
  auto not_found = [this](const httplib::Request& req, httplib::Response& res) {
    if (req.path.rfind("/v2/", 0) == 0) {
      if (!AdmitApi(req, res, req.method + " /v2/(unknown)")) return;
      res.status = 404;
      res.set_content(ApiErrorJson({404, "10005", "Resource not found",
                                    "The requested resource or URL could not be found.", "", ""}),
                      kJson);
      return;
    }
    stats_.Count(req.method + " (unknown)");
    JsonError(res, 404, "telnyx-sim has no route " + req.method + " " + req.path);
  };
  server_->Get(".*", not_found);
  server_->Post(".*", not_found);
  server_->Put(".*", not_found);
  server_->Patch(".*", not_found);
  server_->Delete(".*", not_found);
}

}  // namespace callrec::telnyx_sim
