// TelnyxSim's Telnyx API routes (/v2/...) and the presigned media route (/media/...).
#include <httplib.h>

#include <charconv>
#include <thread>

#include "core/json.h"
#include "core/log.h"
#include "core/time_format.h"
#include "telnyx_sim/server.h"

namespace callrec::telnyx_sim {
namespace {

using core::JsonWriter;

constexpr const char* kJson = "application/json";
constexpr const char* kRecordStartRoute = "POST /v2/calls/{call_control_id}/actions/record_start";

void SendApiError(httplib::Response& res, const ApiError& e) {
  res.status = e.http_status;
  res.set_content(ApiErrorJson(e), kJson);
}

ApiError NotFound() {
  return {404, "10005", "Resource not found", "The requested resource or URL could not be found.",
          "", ""};
}

ApiError BadParameter(const std::string& name, std::string detail) {
  return {422, "10015", "Bad Request", std::move(detail), "", name};
}

// page[number] / page[size]: an integer in [lo, hi], or `fallback` when absent.
bool PageParam(const httplib::Request& req, const std::string& name, int fallback, int lo, int hi,
               int& out, ApiError& error) {
  if (!req.has_param(name.c_str())) {
    out = fallback;
    return true;
  }
  std::string v = req.get_param_value(name.c_str());
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || end != v.data() + v.size() || out < lo || out > hi) {
    error = BadParameter(name, name + " must be an integer from " + std::to_string(lo) + " to " +
                                   std::to_string(hi) + ".");
    return false;
  }
  return true;
}

// Reads the documented filters; anything else under filter[...] is ignored, as Telnyx does.
bool ReadFilter(const httplib::Request& req, RecordingFilter& f, ApiError& error) {
  auto text = [&](const char* name, std::optional<std::string>& out) {
    if (req.has_param(name)) out = req.get_param_value(name);
  };
  text("filter[call_leg_id]", f.call_leg_id);
  text("filter[call_session_id]", f.call_session_id);
  text("filter[conference_id]", f.conference_id);
  text("filter[connection_id]", f.connection_id);
  text("filter[from]", f.from);
  text("filter[to]", f.to);
  text("filter[call_control_id]", f.call_control_id);
  text("filter[sip_call_id]", f.sip_call_id);
  text("filter[conference_region]", f.conference_region);
  if (f.conference_region) {
    static const char* const kRegions[] = {"Australia", "Brazil", "Europe", "Middle East", "US"};
    bool known = false;
    for (const char* r : kRegions) known = known || *f.conference_region == r;
    if (!known) {
      error = {422, "10032", "Invalid enumerated value",
               "filter[conference_region] must be one of: Australia, Brazil, Europe, Middle East, US.",
               "", "filter[conference_region]"};
      return false;
    }
  }
  struct TimeParam {
    const char* name;
    std::optional<int64_t>* out;
  };
  for (TimeParam t : {TimeParam{"filter[created_at][gte]", &f.created_gte_ms},
                      TimeParam{"filter[created_at][lte]", &f.created_lte_ms},
                      TimeParam{"filter[start_time][gte]", &f.start_gte_ms},
                      TimeParam{"filter[start_time][lte]", &f.start_lte_ms},
                      TimeParam{"filter[end_time][gte]", &f.end_gte_ms},
                      TimeParam{"filter[end_time][lte]", &f.end_lte_ms}}) {
    if (!req.has_param(t.name)) continue;
    auto ms = core::ParseRfc3339Millis(req.get_param_value(t.name));
    if (!ms.ok()) {
      error = {422, "10033", "Invalid value",
               std::string(t.name) + " must be an ISO 8601 date-time.", "", t.name};
      return false;
    }
    *t.out = *ms;
  }
  return true;
}

}  // namespace

bool TelnyxSim::AdmitApi(const httplib::Request& req, httplib::Response& res,
                         std::string_view route) {
  stats_.Count(route);
  SimFaults f = faults_.Get();
  if (f.latency_ms > 0 || f.latency_max_ms > 0)
    std::this_thread::sleep_for(SimDelay(f.latency_ms, f.latency_max_ms));
  if (!config_.api_key.empty()) {
    std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) != 0 || !SecureEquals(auth.substr(7), config_.api_key)) {
      SendApiError(res, {401, "10009", "Authentication failed",
                         "The required authentication headers were either invalid or not "
                         "included in the request.",
                         "", ""});
      return false;
    }
  }
  if (SimFaults snap; faults_.TakeRateLimit(&snap)) {
    core::LogInfo("sim.fault.rate_limited", {{"route", std::string(route)}});
    res.set_header("x-ratelimit-limit", std::to_string(snap.rate_limit_limit));
    res.set_header("x-ratelimit-remaining", "0");
    res.set_header("x-ratelimit-reset", std::to_string(snap.rate_limit_reset_s));
    if (snap.retry_after_s >= 0) res.set_header("Retry-After", std::to_string(snap.retry_after_s));
    SendApiError(res, {429, "10011", "Too many requests",
                       "You have exceeded the rate limit. Retry later.", "", ""});
    return false;
  }
  if (int status = faults_.TakeServerError(); status != 0) {
    core::LogInfo("sim.fault.server_error", {{"route", std::string(route)}, {"status", status}});
    SendApiError(res, {status, "10007", "Unexpected error", "An unexpected error occured.", "", ""});
    return false;
  }
  return true;
}

void TelnyxSim::RegisterApiRoutes() {
  httplib::Server& s = *server_;
  s.Post(R"(/v2/calls/([^/]+)/actions/record_start)",
         [this](const httplib::Request& req, httplib::Response& res) {
           if (AdmitApi(req, res, kRecordStartRoute)) HandleRecordStart(req, res);
         });
  s.Get(R"(/v2/calls/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!AdmitApi(req, res, "GET /v2/calls/{call_control_id}")) return;
    // httplib has already percent-decoded the path, as for record_start.
    auto status = world_->CallStatusJson(req.matches[1].str());
    if (!status) return SendApiError(res, NotFound());
    res.set_content(*status, kJson);
  });
  s.Get("/v2/recordings", [this](const httplib::Request& req, httplib::Response& res) {
    if (AdmitApi(req, res, "GET /v2/recordings")) HandleListRecordings(req, res);
  });
  s.Get(R"(/v2/recordings/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!AdmitApi(req, res, "GET /v2/recordings/{id}")) return;
    auto rec = world_->GetRecording(req.matches[1].str());
    if (!rec) return SendApiError(res, NotFound());
    res.set_content("{\"data\":" + world_->RecordingJson(*rec) + "}", kJson);
  });
  s.Delete(R"(/v2/recordings/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!AdmitApi(req, res, "DELETE /v2/recordings/{id}")) return;
    auto rec = world_->DeleteRecording(req.matches[1].str());
    if (!rec) return SendApiError(res, NotFound());
    core::LogInfo("sim.recording.deleted", {{"recording_id", rec->id}});
    // Telnyx answers 200 with the deleted recording (DeleteRecording, RecordingResponseBody).
    res.set_content("{\"data\":" + world_->RecordingJson(*rec) + "}", kJson);
  });
}

void TelnyxSim::HandleRecordStart(const httplib::Request& req, httplib::Response& res) {
  ApiError error;
  auto params = ParseRecordStart(req.body, &error);
  if (!params.ok()) return SendApiError(res, error);
  // httplib has already percent-decoded the path: "v3%3A..." arrives as "v3:...".
  std::string call_control_id = req.matches[1];
  if (auto failed = world_->RecordStart(call_control_id, *params)) {
    core::LogInfo("sim.record_start.rejected",
                  {{"call_control_id", call_control_id}, {"code", failed->code}});
    return SendApiError(res, *failed);
  }
  Kick();
  res.set_content(R"({"data":{"result":"ok"}})", kJson);
}

void TelnyxSim::HandleListRecordings(const httplib::Request& req, httplib::Response& res) {
  ApiError error;
  int page_number = 1, page_size = 20;
  RecordingFilter filter;
  if (!PageParam(req, "page[number]", 1, 1, 1'000'000, page_number, error) ||
      !PageParam(req, "page[size]", 20, 1, 250, page_size, error) ||
      !ReadFilter(req, filter, error))
    return SendApiError(res, error);
  RecordingPage page = world_->ListRecordings(filter, page_number, page_size);
  if (page.total_results == 0 && faults_.Get().recordings_list_404_when_empty)
    return SendApiError(res, NotFound());  // the spec lists a 404 for the list
  std::string out = "{\"data\":[";
  for (size_t i = 0; i < page.items.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += world_->RecordingJson(page.items[i]);
  }
  JsonWriter meta;
  meta.BeginObject();
  meta.Key("page_number").Int(page.page_number).Key("page_size").Int(page.page_size);
  meta.Key("total_pages").Int(page.total_pages).Key("total_results").Int(page.total_results);
  meta.EndObject();
  out += "],\"meta\":" + meta.str() + "}";
  res.set_content(out, kJson);
}

void TelnyxSim::RegisterMediaRoute() {
  server_->Get(R"(/media/.+)", [this](const httplib::Request& req, httplib::Response& res) {
    stats_.Count(req.method + " /media");
    HandleMedia(req, res);
  });
}

void TelnyxSim::HandleMedia(const httplib::Request& req, httplib::Response& res) {
  SimFaults f = faults_.Get();
  if (f.media_latency_ms > 0 || f.media_latency_max_ms > 0)
    std::this_thread::sleep_for(SimDelay(f.media_latency_ms, f.media_latency_max_ms));
  auto deny = [&](const char* code, const char* message) {
    res.status = 403;
    res.set_content(S3ErrorXml(code, message), "application/xml");
  };
  MediaCheck check = media_signer_->Verify(
      req.path, req.get_param_value("X-Amz-Date"), req.get_param_value("X-Amz-Expires"),
      req.get_param_value("X-Amz-Signature"), clock_.WallMillis());
  switch (check) {
    case MediaCheck::kMissing: return deny("AccessDenied", "Access Denied");
    case MediaCheck::kBadSignature:
      return deny("SignatureDoesNotMatch",
                  "The request signature we calculated does not match the signature you "
                  "provided. Check your key and signing method.");
    case MediaCheck::kExpired: return deny("AccessDenied", "Request has expired");
    case MediaCheck::kOk: break;
  }
  auto rec = world_->FindByMediaPath(req.path);
  if (!rec) {
    res.status = 404;
    res.set_content(S3ErrorXml("NoSuchKey", "The specified key does not exist."),
                    "application/xml");
    return;
  }
  int channels = rec->channels == "dual" ? 2 : 1;
  int64_t duration = config_.media_duration.count() > 0
                         ? int64_t(config_.media_duration.count())
                         : std::min<int64_t>(rec->ended_ms - rec->started_ms,
                                             int64_t(config_.media_cap.count()) * 1000);
  if (rec->format == "mp3") res.set_content(MakeMp3(channels, duration), "audio/mpeg");
  else res.set_content(MakeWav(channels, duration, faults_.Get().wav_streaming_header), "audio/wav");
}

}  // namespace callrec::telnyx_sim
