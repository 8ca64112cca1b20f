#include "ingest/http_service.h"

#include <random>

#include "core/log.h"
#include "ingest/console_routes.h"
#include "ingest/http_util.h"
#include "ingest/recording_route.h"
#include "ingest/intake_routes.h"
#include "ingest/signature.h"
#include "ingest/tuned_server.h"
#include "ingest/webhook_route.h"

namespace callrec::ingest {
namespace {

using Request = httplib::Request;
using Response = httplib::Response;
using ContentReader = httplib::ContentReader;

core::Status Validate(const HttpServiceConfig& c) {
  if (c.max_body_bytes == 0) return core::Status::InvalidArgument("max body bytes must be > 0");
  if (c.max_intake_body_bytes == 0) {
    return core::Status::InvalidArgument("max intake body bytes must be > 0");
  }
  if (c.tuning.worker_threads == 0) return core::Status::InvalidArgument("worker threads must be > 0");
  if (c.listen_port < 0 || c.listen_port > 65535) {
    return core::Status::InvalidArgument("--listen: port must be 0-65535");
  }
  if (c.signature_tolerance.count() < 0) {
    return core::Status::InvalidArgument("--signature-tolerance must not be negative");
  }
  return core::Status::Ok();
}

core::Result<std::optional<WebhookVerifier>> BuildVerifier(const HttpServiceConfig& c) {
  if (c.insecure_skip_signature) {
    core::LogWarn("webhook.signature_verification_disabled",
                  {{"flag", "--insecure-skip-signature"},
                   {"public_key_ignored", !c.telnyx_public_key.empty()},
                   {"risk", "anyone who can reach the webhook URL can inject call events"}});
    return std::optional<WebhookVerifier>();
  }
  if (c.telnyx_public_key.empty()) {
    return core::Status::InvalidArgument(
        "--telnyx-public-key (or TELNYX_PUBLIC_KEY) is required to verify webhooks; "
        "--insecure-skip-signature runs without verification");
  }
  auto verifier = WebhookVerifier::FromPublicKey(c.telnyx_public_key, c.signature_tolerance);
  if (!verifier.ok()) {
    return core::Status::InvalidArgument("--telnyx-public-key: " + verifier.status().message());
  }
  return std::optional<WebhookVerifier>(std::move(*verifier));
}

RandomSource SystemRandom() {
  return [] {
    thread_local std::random_device device;
    return (uint64_t(device()) << 32) | uint64_t(device());
  };
}

}  // namespace

core::Result<std::unique_ptr<HttpService>> HttpService::Create(const HttpServiceConfig& config,
                                                               core::EventStore& store,
                                                               core::Clock& clock,
                                                               core::Metrics& metrics,
                                                               core::ProjectionProgress* progress) {
  CALLREC_RETURN_IF_ERROR(Validate(config));
  CALLREC_ASSIGN_OR_RETURN(std::optional<WebhookVerifier> verifier, BuildVerifier(config));
  std::unique_ptr<HttpService> service(new HttpService(config, metrics));
  if (!service->config_.random) service->config_.random = SystemRandom();
  service->webhook_ = std::make_unique<WebhookRoute>(std::move(verifier), config.max_body_bytes,
                                                     store, clock, metrics);
  IntakeRoutesOptions intake_options;
  intake_options.admin_token = config.admin_token;
  intake_options.max_body_bytes = config.max_intake_body_bytes;
  intake_options.projection_wait = config.projection_wait;
  intake_options.random = service->config_.random;
  service->intakes_ =
      std::make_unique<IntakeRoutes>(std::move(intake_options), store, metrics, progress);
  RecordingRouteOptions recording_options;
  recording_options.storage_dir = config.recording_dir;
  recording_options.fresh_url = config.fresh_recording_url;
  service->recording_ =
      std::make_unique<RecordingRoute>(std::move(recording_options), store, *service->intakes_);
  service->console_ = std::make_unique<ConsoleRoutes>(store, clock, *service->intakes_);
  if (config.admin_token.empty()) {
    core::LogWarn("admin.api_disabled", {{"hint", "set CALLREC_ADMIN_TOKEN to enable /api/intakes"}});
  }
  service->RegisterRoutes();
  return service;
}

HttpService::HttpService(const HttpServiceConfig& config, core::Metrics& metrics)
    : config_(config),
      metrics_(metrics),
      server_(std::make_unique<TunedServer>(config.tuning, &metrics)) {}

HttpService::~HttpService() { Stop(); }

RouteCounters& HttpService::Counters(const std::string& route_label) {
  counters_.push_back(std::make_unique<RouteCounters>(metrics_, route_label));
  return *counters_.back();
}

void HttpService::RegisterRoutes() {
  TunedServer& s = *server_;
  // The library refuses larger bodies on routes that do not read their own (413).
  s.set_payload_max_length(std::max(config_.max_body_bytes, config_.max_intake_body_bytes));

  RouteCounters& webhook = Counters(kWebhookRoute);
  s.Post(kWebhookRoute, [this, &webhook](const Request& req, Response& res, const ContentReader& r) {
    webhook_->Handle(req, res, r);
    webhook.Count(res.status);
  });

  RouteCounters& create = Counters("/api/intakes");
  s.Post("/api/intakes", [this, &create](const Request& req, Response& res, const ContentReader& r) {
    intakes_->Create(req, res, r);
    create.Count(res.status);
  });
  RouteCounters& list = Counters("/api/intakes?");
  s.Get("/api/intakes", [this, &list](const Request& req, Response& res) {
    intakes_->List(req, res);
    list.Count(res.status);
  });
  RouteCounters& get = Counters("/api/intakes/{id}");
  s.Get("/api/intakes/([^/]+)", [this, &get](const Request& req, Response& res) {
    intakes_->Get(req, res);
    get.Count(res.status);
  });
  RouteCounters& retry = Counters("/api/intakes/{id}/retry");
  s.Post("/api/intakes/([^/]+)/retry",
         [this, &retry](const Request& req, Response& res, const ContentReader& r) {
           intakes_->Retry(req, res, r);
           retry.Count(res.status);
         });
  RouteCounters& timeline = Counters("/api/intakes/{id}/timeline");
  s.Get("/api/intakes/([^/]+)/timeline", [this, &timeline](const Request& req, Response& res) {
    intakes_->Timeline(req, res);
    timeline.Count(res.status);
  });

  AddGet("/api/intakes/([^/]+)/recording", "/api/intakes/{id}/recording",
         [this](const Request& req, Response& res) { recording_->Handle(req, res); });
  AddGet("/api/intake-counts", "/api/intake-counts",
         [this](const Request& req, Response& res) { console_->Counts(req, res); });
  AddGet("/api/unmatched-webhooks", "/api/unmatched-webhooks",
         [this](const Request& req, Response& res) { console_->Unmatched(req, res); });
  AddGet("/api/calls-per-day", "/api/calls-per-day",
         [this](const Request& req, Response& res) { console_->CallsPerDay(req, res); });
  AddGet("/console", "/console/", [](const Request&, Response& res) {
    res.status = 308;  // relative asset paths need the trailing slash
    res.set_header("Location", "/console/");
  });
  AddGet("/console/(.*)", "/console/", [this](const Request& req, Response& res) { console_->Asset(req, res); });

  AddGet("/healthz", "/healthz", [](const Request&, Response& res) {
    SetJson(res, 200, R"({"status":"ok"})");
  });
  AddGet("/readyz", "/readyz", [this](const Request&, Response& res) {
    // The store is open for the service's whole life (it is borrowed by reference).
    if (server_->stopping()) return SetJson(res, 503, R"({"status":"stopping"})");
    std::string detail = config_.ready_detail ? "," + config_.ready_detail() : "";
    if (config_.ready && !config_.ready()) {
      return SetJson(res, 503, R"({"status":"not_ready","reason":"scheduler not running")" + detail + "}");
    }
    SetJson(res, 200, R"({"status":"ready")" + detail + "}");
  });
  AddGet("/metrics", "/metrics", [this](const Request&, Response& res) {
    res.set_content(metrics_.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });

  // Answers the library makes itself (no route, unparsable request) get a JSON body too.
  unmatched_ = &Counters("unmatched");
  s.set_error_handler(httplib::Server::HandlerWithResponse([this](const Request& req, Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // ours
    std::string message = res.status == 404   ? "no route for " + req.method + " " + req.path
                          : res.status == 413 ? std::string("request body too large")
                          : res.status == 414 ? std::string("request target too long")
                          : res.status == 400 ? std::string("malformed HTTP request")
                                              : "request failed with HTTP " + std::to_string(res.status);
    SetJsonError(res, res.status, message);
    unmatched_->Count(res.status);
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.set_exception_handler([](const Request& req, Response& res, std::exception_ptr) {
    core::LogError("http.handler_exception", {{"path", req.path}});
    SetJsonError(res, 500, "internal error");
  });
}

void HttpService::AddGet(const std::string& pattern, const std::string& route_label,
                         std::function<void(const Request&, Response&)> handler) {
  RouteCounters& counters = Counters(route_label);
  server_->Get(pattern, [handler = std::move(handler), &counters](const Request& req, Response& res) {
    handler(req, res);
    counters.Count(res.status);
  });
}

httplib::Server& HttpService::server() { return *server_; }

core::Status HttpService::Start() {
  if (started_) return core::Status::FailedPrecondition("HttpService::Start called twice");
  started_ = true;
  CALLREC_ASSIGN_OR_RETURN(port_, server_->Bind(config_.listen_host, config_.listen_port));
  listen_thread_ = std::thread([this] {
    server_->Listen();
    listen_returned_.store(true);
  });
  // Stop() must not run before the library marks itself running, or its stop() would be lost.
  while (!server_->is_running() && !listen_returned_.load()) std::this_thread::yield();
  if (listen_returned_.load()) return core::Status::Internal("the HTTP server stopped at start");
  core::LogInfo("http.listening", {{"host", config_.listen_host},
                                   {"port", port_},
                                   {"workers", config_.tuning.worker_threads},
                                   {"signature_verification", !config_.insecure_skip_signature}});
  return core::Status::Ok();
}

void HttpService::Stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  core::LogInfo("http.stopping", {{"port", port_}});
  server_->BeginStop();
  if (listen_thread_.joinable()) listen_thread_.join();
  core::LogInfo("http.stopped", {{"port", port_}});
}

}  // namespace callrec::ingest
