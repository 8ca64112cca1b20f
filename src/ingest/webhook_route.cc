#include "ingest/webhook_route.h"

#include <charconv>
#include <chrono>

#include "core/event_types.h"
#include "core/json.h"
#include "core/log.h"
#include "ingest/http_util.h"
#include "ingest/tuned_server.h"

namespace callrec::ingest {
namespace {

constexpr std::string_view kEventType = core::event_type::kTelnyxWebhook;

void AppendUint(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;  // 24 bytes always suffice for a uint64
  out.append(buf, end);
}

// Per-thread body buffer: one allocation per worker, reused by every delivery it serves.
std::string& BodyBuffer() {
  thread_local std::string body;
  if (body.capacity() > (256u << 10)) std::string().swap(body);  // after a rare huge body
  return body;
}

}  // namespace

WebhookRoute::WebhookRoute(std::optional<WebhookVerifier> verifier, size_t max_body_bytes,
                           core::EventStore& store, core::Clock& clock, core::Metrics& metrics)
    : verifier_(std::move(verifier)), max_body_bytes_(max_body_bytes), store_(store), clock_(clock) {
  for (uint8_t i = 1; i <= uint8_t(SignatureCheck::kMismatch); ++i) {
    signature_failures_[i] = metrics.GetCounter(
        "callrec_webhook_signature_failures_total", "Webhooks rejected with 401, by reason",
        {{"reason", SignatureCheckName(SignatureCheck(i))}});
  }
  unverified_ = metrics.GetCounter(
      "callrec_webhook_unverified_total",
      "Webhooks accepted without a signature check (--insecure-skip-signature)");
  metrics
      .GetGauge("callrec_signature_verification_disabled",
                "1 when webhook signatures are not verified (--insecure-skip-signature)")
      ->Set(verifier_ ? 0 : 1);
  duplicates_ = metrics.GetCounter("callrec_webhook_duplicates_total",
                                   "Redelivered webhooks answered with the first copy's seq");
  appended_ = metrics.GetCounter("callrec_ingest_events_appended_total",
                                 "Events appended by the HTTP front door, by type",
                                 {{"type", std::string(kEventType)}});
  store_failures_ = metrics.GetCounter("callrec_ingest_store_failures_total",
                                       "Appends that failed (answered 503), by type",
                                       {{"type", std::string(kEventType)}});
  append_seconds_ = metrics.GetHistogram("callrec_ingest_append_seconds",
                                         "Time to durably append one event, by type",
                                         {{"type", std::string(kEventType)}});
}

void WebhookRoute::Handle(const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader) {
  std::string& body = BodyBuffer();
  switch (ReadBody(req, reader, max_body_bytes_, body)) {
    case BodyRead::kOk:
      break;
    case BodyRead::kTooLarge:
      core::LogWarn("webhook.rejected", {{"status", 413}, {"reason", "body_too_large"},
                                         {"remote", req.remote_addr}});
      SetJsonError(res, 413,
                   "body exceeds " + std::to_string(max_body_bytes_) + " bytes");
      TunedServer::CloseConnectionAfterResponse(res);
      return;
    case BodyRead::kBadLength:
    case BodyRead::kIncomplete:
      SetJsonError(res, 400, "request body could not be read");
      TunedServer::CloseConnectionAfterResponse(res);
      return;
  }
  if (!Authenticate(req, body, res)) return;

  thread_local simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, body);
  if (!root.ok()) {
    core::LogWarn("webhook.rejected", {{"status", 400}, {"reason", "not_json"}});
    SetJsonError(res, 400, "body is not JSON: " + root.status().message());
    return;
  }
  std::optional<std::string_view> id = core::JsonString(*root, "/data/id");
  std::optional<std::string_view> type = core::JsonString(*root, "/data/event_type");
  if (!id || id->empty() || !type || type->empty()) {
    core::LogWarn("webhook.rejected", {{"status", 400}, {"reason", "missing_fields"}});
    SetJsonError(res, 400, "body needs data.id and data.event_type as non-empty strings");
    return;
  }
  if (id->size() > kMaxTelnyxEventIdBytes) {
    core::LogWarn("webhook.rejected", {{"status", 400}, {"reason", "id_too_long"}});
    SetJsonError(res, 400, "data.id is longer than 256 bytes");
    return;
  }
  Store(body, *id, *type, res);
}

bool WebhookRoute::Authenticate(const httplib::Request& req, std::string_view body,
                                httplib::Response& res) {
  if (!verifier_) {
    unverified_->Inc();
    return true;
  }
  int64_t now_s = clock_.WallMillis() / 1000;
  SignatureCheck check = verifier_->Verify(HeaderView(req, "telnyx-timestamp"), body,
                                           HeaderView(req, "telnyx-signature-ed25519"), now_s);
  if (check == SignatureCheck::kOk) return true;
  signature_failures_[size_t(check)]->Inc();
  core::LogWarn("webhook.rejected", {{"status", 401},
                                     {"reason", SignatureCheckName(check)},
                                     {"remote", req.remote_addr}});
  SetJsonError(res, 401, SignatureCheckMessage(check));
  return false;
}

void WebhookRoute::Store(std::string_view body, std::string_view event_id,
                         std::string_view event_type, httplib::Response& res) {
  core::Event event;
  event.type = kEventType;
  event.source = core::source::kTelnyxWebhook;
  event.payload.assign(body);
  event.idempotency_key.reserve(7 + event_id.size());
  event.idempotency_key.append("telnyx:").append(event_id);

  auto started = clock_.SteadyNow();
  core::Result<core::AppendResult> appended = store_.Append(std::move(event), core::Durability::kSync);
  append_seconds_->Observe(std::chrono::duration<double>(clock_.SteadyNow() - started).count());
  if (!appended.ok()) {
    store_failures_->Inc();
    core::Status status = AsStoreUnavailable(appended.status());
    core::LogError("webhook.store_failed", {{"event_id", event_id}, {"error", status.message()}});
    SetJsonError(res, HttpStatusFor(status), "event store unavailable; retry later");
    return;
  }
  (appended->duplicate ? duplicates_ : appended_)->Inc();

  std::string answer;
  answer.reserve(64);
  answer.append(R"({"received":true,"seq":)");
  AppendUint(answer, appended->seq);
  answer.append(appended->duplicate ? R"(,"duplicate":true})" : R"(,"duplicate":false})");
  SetJson(res, 200, std::move(answer));
  core::LogInfo(appended->duplicate ? "webhook.duplicate" : "webhook.stored",
                {{"seq", appended->seq}, {"event_type", event_type}, {"event_id", event_id}});
}

}  // namespace callrec::ingest
