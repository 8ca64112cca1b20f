#include "projector/clients/telnyx_client.h"

#include <algorithm>
#include <charconv>
#include <ctime>

#include "core/log.h"
#include "core/time_format.h"

namespace callrec::projector {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kMaxRetryAfter{60 * 60 * 1000};
constexpr int kMaxPageSize = 250;

std::optional<int64_t> ParseDigits(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  int64_t v = 0;
  if (s.empty() || s.size() > 18) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0) return std::nullopt;
  return std::min<int64_t>(v, 1000000000000);  // so "* 1000" cannot overflow; clamped later

}

// IMF-fixdate, the form RFC 9110 requires senders to use: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<int64_t> ParseHttpDateSeconds(std::string_view s) {
  std::string text(s);
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return int64_t(timegm(&tm));
}

milliseconds Clamp(milliseconds d) { return std::clamp(d, milliseconds(0), kMaxRetryAfter); }

// A JSON value that may be a string or an integer, as a string ("" otherwise).
std::string StringOrNumber(simdjson::dom::element e) {
  std::string_view s;
  if (!e.get_string().get(s)) return std::string(s);
  int64_t n;
  if (!e.get_int64().get(n)) return std::to_string(n);
  return {};
}

std::string Field(simdjson::dom::object o, std::string_view key) {
  std::string_view s;
  if (o.at_key(key).get_string().get(s)) return {};
  return std::string(s);
}

// First entry of {"errors":[{"code","title","detail"}]}; leaves `r` alone when absent.
void ParseTelnyxError(ApiResult& r) {
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, r.body);
  if (!root.ok()) return;
  simdjson::dom::object first;
  if ((*root)["errors"].at(0).get_object().get(first)) return;
  simdjson::dom::element code;
  if (!first.at_key("code").get(code)) r.error_code = StringOrNumber(code);
  r.error_title = Field(first, "title");
  r.error_detail = Field(first, "detail");
}

std::string ErrorText(const ApiResult& r) {
  std::string text = "HTTP " + std::to_string(r.status);
  if (!r.error_code.empty()) text += " " + r.error_code;
  if (!r.error_title.empty()) text += " " + r.error_title;
  if (!r.error_detail.empty()) text += ": " + r.error_detail;
  return text;
}

bool ParseRecording(simdjson::dom::element e, Recording& out) {
  simdjson::dom::object o;
  if (e.get_object().get(o)) return false;
  out.id = Field(o, "id");
  if (out.id.empty()) return false;  // an object we could never fetch or report
  out.call_control_id = Field(o, "call_control_id");
  out.call_leg_id = Field(o, "call_leg_id");
  out.call_session_id = Field(o, "call_session_id");
  out.channels = Field(o, "channels");
  out.status = Field(o, "status");
  int64_t millis = 0;
  double millis_f = 0;
  if (!o.at_key("duration_millis").get_int64().get(millis)) {
    out.duration_millis = millis;
  } else if (!o.at_key("duration_millis").get_double().get(millis_f)) {
    out.duration_millis = int64_t(millis_f);
  }
  out.recording_started_at = Field(o, "recording_started_at");
  out.created_at = Field(o, "created_at");
  auto created = core::ParseRfc3339Millis(out.created_at);
  out.created_at_ms = created.ok() ? *created : 0;
  simdjson::dom::object urls;
  if (!o.at_key("download_urls").get_object().get(urls)) {
    out.download_url_wav = Field(urls, "wav");
    out.download_url_mp3 = Field(urls, "mp3");
  }
  return true;
}

// A 2xx whose body we cannot read is a Telnyx glitch, not a verdict on our request: retry later.
void MarkUnparseable(ApiResult& r, std::string_view why) {
  r.outcome = ApiOutcome::kTransient;
  r.error = "unparseable response: " + std::string(why);
}

void ParsePage(RecordingsPage& page, int requested_page) {
  ApiResult& r = page.api;
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, r.body);
  if (!root.ok()) return MarkUnparseable(r, root.status().message());
  simdjson::dom::array data;
  if ((*root)["data"].get_array().get(data)) return MarkUnparseable(r, "no data array");
  for (simdjson::dom::element item : data) {
    Recording rec;
    if (!ParseRecording(item, rec)) return MarkUnparseable(r, "a recording without an id");
    page.recordings.push_back(std::move(rec));
  }
  page.page_number = core::JsonInt(*root, "/meta/page_number").value_or(requested_page);
  page.total_pages = core::JsonInt(*root, "/meta/total_pages").value_or(page.page_number);
  r.outcome = page.recordings.empty() ? ApiOutcome::kNotFound : ApiOutcome::kOk;
}

}  // namespace

const char* ApiOutcomeName(ApiOutcome outcome) {
  switch (outcome) {
    case ApiOutcome::kOk: return "ok";
    case ApiOutcome::kNotFound: return "not_found";
    case ApiOutcome::kRetry: return "retry";
    case ApiOutcome::kTransient: return "transient";
    case ApiOutcome::kFailed: return "failed";
  }
  return "failed";
}

ApiOutcome ClassifyResponse(int status, std::string_view error_code) {
  if (status >= 200 && status < 300) return ApiOutcome::kOk;
  if (error_code == "90020") return ApiOutcome::kRetry;
  if (status == 0 || status == 408 || status == 429 || status >= 500) return ApiOutcome::kTransient;
  return ApiOutcome::kFailed;
}

std::optional<milliseconds> RetryAfterFromHeaders(std::string_view retry_after,
                                                  std::string_view ratelimit_reset,
                                                  std::chrono::system_clock::time_point now) {
  int64_t now_ms = std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count();
  if (!retry_after.empty()) {
    if (auto secs = ParseDigits(retry_after)) return Clamp(milliseconds(*secs * 1000));
    if (auto at = ParseHttpDateSeconds(retry_after))
      return Clamp(milliseconds(*at * 1000 - now_ms));
  }
  if (auto secs = ParseDigits(ratelimit_reset)) {
    // Documented as seconds until reset; some gateways send the reset instant instead.
    if (*secs >= 1000000000) return Clamp(milliseconds(*secs * 1000 - now_ms));
    return Clamp(milliseconds(*secs * 1000));
  }
  return std::nullopt;
}

void ApiResult::WriteEnvelopeFields(core::JsonWriter& w, std::optional<int64_t> retry_at_ms) const {
  w.Key("request").BeginObject();
  w.Key("method").String(method).Key("path").String(path);
  w.EndObject();
  w.Key("status").Int(status);
  w.Key("duration_ms").Int(duration.count());
  w.Key("outcome").String(ApiOutcomeName(outcome));
  w.Key("error");
  if (error.empty())
    w.Null();
  else
    w.String(error);
  w.Key("retry_at");
  if (retry_at_ms)
    w.String(core::FormatRfc3339Millis(*retry_at_ms));
  else
    w.Null();
  w.Key("body");
  // No answer has no body; an empty answer is an empty string, as received.
  if (status == 0)
    w.Null();
  else
    w.Payload(body);
}

std::string ApiResult::EnvelopeJson(std::optional<int64_t> retry_at_ms) const {
  core::JsonWriter w;
  w.BeginObject();
  WriteEnvelopeFields(w, retry_at_ms);
  w.EndObject();
  return w.Take();
}

TelnyxClient::TelnyxClient(HttpTransport& transport, core::Clock& clock, std::string api_base,
                           std::string api_key, Options options)
    : transport_(transport),
      clock_(clock),
      api_base_([&] {
        while (!api_base.empty() && api_base.back() == '/') api_base.pop_back();
        return std::move(api_base);
      }()),
      api_key_(std::move(api_key)),
      options_(options) {}

ApiResult TelnyxClient::Call(std::string method, std::string path, std::string body) {
  ApiResult r;
  r.method = std::move(method);
  r.path = std::move(path);
  HttpRequest req;
  req.method = r.method;
  req.url = api_base_ + r.path;
  req.headers.emplace_back("accept", "application/json");
  if (!api_key_.empty()) req.headers.emplace_back("authorization", "Bearer " + api_key_);
  if (!body.empty()) req.headers.emplace_back("content-type", "application/json");
  req.body = std::move(body);
  req.connect_timeout = options_.connect_timeout;
  req.total_timeout = options_.total_timeout;

  auto start = clock_.SteadyNow();
  auto sent = transport_.Send(req);
  r.duration = std::chrono::duration_cast<milliseconds>(clock_.SteadyNow() - start);
  if (!sent.ok()) {
    // Only "no answer" is worth retrying; anything else is a request we built wrong.
    r.outcome = sent.status().IsUnavailable() ? ApiOutcome::kTransient : ApiOutcome::kFailed;
    r.error = sent.status().message();
  } else {
    HttpResponse& res = *sent;
    r.status = res.status;
    r.body = std::move(res.body);
    r.retry_after_header = res.Header("retry-after");
    r.ratelimit_reset_header = res.Header("x-ratelimit-reset");
    if (r.status < 200 || r.status >= 300) ParseTelnyxError(r);
    r.outcome = ClassifyResponse(r.status, r.error_code);
    r.retry_after =
        RetryAfterFromHeaders(r.retry_after_header, r.ratelimit_reset_header, clock_.WallNow());
    if (r.outcome != ApiOutcome::kOk) r.error = ErrorText(r);
  }
  return r;
}

namespace {

// One line per request, once its outcome is final (a 200 can still turn out unparseable).
const ApiResult& Logged(const ApiResult& r) {
  bool fine = r.outcome == ApiOutcome::kOk || r.outcome == ApiOutcome::kNotFound;
  core::Log(fine ? core::LogLevel::kDebug : core::LogLevel::kWarn, "telnyx.api",
            {{"method", r.method},
             {"path", r.path},
             {"status", r.status},
             {"outcome", ApiOutcomeName(r.outcome)},
             {"duration_ms", int64_t(r.duration.count())},
             {"error", r.error}});
  return r;
}
ApiResult Refused(std::string method, std::string path, std::string why) {
  ApiResult r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.outcome = ApiOutcome::kFailed;
  r.error = "not sent: " + std::move(why);
  return r;
}
}  // namespace

ApiResult TelnyxClient::RecordStart(std::string_view call_control_id, const RecordStartOptions& o) {
  std::string path = "/v2/calls/" + PercentEncode(call_control_id) + "/actions/record_start";
  std::string refusal;
  if (call_control_id.empty()) {
    refusal = "empty call_control_id";
  } else if (o.format != "wav" && o.format != "mp3") {
    refusal = "format must be wav or mp3, not \"" + o.format + "\"";
  } else if (o.channels != "single" && o.channels != "dual") {
    refusal = "channels must be single or dual, not \"" + o.channels + "\"";
  } else if (!o.trim.empty() && o.trim != "trim-silence") {
    refusal = "trim must be empty or trim-silence, not \"" + o.trim + "\"";
  }
  if (!refusal.empty()) return Logged(Refused("POST", std::move(path), std::move(refusal)));
  core::JsonWriter w;
  w.BeginObject();
  w.Key("format").String(o.format).Key("channels").String(o.channels);
  if (!o.trim.empty()) w.Key("trim").String(o.trim);
  if (!o.custom_file_name.empty()) w.Key("custom_file_name").String(o.custom_file_name);
  if (!o.command_id.empty()) w.Key("command_id").String(o.command_id);
  w.EndObject();
  return Logged(Call("POST", std::move(path), w.Take()));
}

RecordingsPage TelnyxClient::ListRecordings(const RecordingFilter& filter, int page_number,
                                            int page_size) {
  std::string path = "/v2/recordings?";
  if (!filter.call_leg_id.empty())
    path += "filter%5Bcall_leg_id%5D=" + PercentEncode(filter.call_leg_id) + "&";
  if (!filter.call_session_id.empty())
    path += "filter%5Bcall_session_id%5D=" + PercentEncode(filter.call_session_id) + "&";
  path += "page%5Bnumber%5D=" + std::to_string(page_number) +
          "&page%5Bsize%5D=" + std::to_string(page_size);
  RecordingsPage page;
  if (filter.call_leg_id.empty() && filter.call_session_id.empty()) {
    // Unfiltered, the account's whole history would be walked and matched.
    page.api = Refused("GET", path, "a filter by call_leg_id or call_session_id is required");
  } else if (page_number < 1 || page_size < 1 || page_size > kMaxPageSize) {
    page.api = Refused("GET", path, "page number must be >= 1 and page size 1-250");
  } else {
    page.api = Call("GET", std::move(path), "");
    if (page.api.ok()) ParsePage(page, page_number);
    if (page.api.status == 404) {
      // The spec lists a 404 for the list: nothing to list (yet), not a fault to retry for 24 h.
      page.api.outcome = ApiOutcome::kNotFound;
      page.api.error.clear();
    }
  }
  Logged(page.api);
  return page;
}

RecordingsListing TelnyxClient::ListAllRecordings(const RecordingFilter& filter, int page_size,
                                                  int max_pages) {
  RecordingsListing listing;
  for (int n = 1; n <= std::max(max_pages, 1); ++n) {
    RecordingsPage page = ListRecordings(filter, n, page_size);
    listing.requests.push_back(page.api);
    ApiOutcome o = page.api.outcome;
    if (o != ApiOutcome::kOk && o != ApiOutcome::kNotFound) {
      listing.outcome = o;
      return listing;
    }
    for (Recording& rec : page.recordings) listing.recordings.push_back(std::move(rec));
    if (page.recordings.empty() || page.page_number >= page.total_pages) break;
    if (n == std::max(max_pages, 1)) listing.truncated = true;
  }
  listing.outcome = listing.recordings.empty() ? ApiOutcome::kNotFound : ApiOutcome::kOk;
  return listing;
}

// GET <collection><id>, or refused without a request when the id is empty. Not logged: the
// caller logs once it has read the answer.
ApiResult TelnyxClient::GetById(std::string_view collection, std::string_view id, std::string_view what) {
  std::string path = std::string(collection) + PercentEncode(id);
  if (id.empty()) return Refused("GET", path, "empty " + std::string(what));
  return Call("GET", std::move(path), "");
}

RecordingLookup TelnyxClient::GetRecording(std::string_view recording_id) {
  RecordingLookup lookup;
  lookup.api = GetById("/v2/recordings/", recording_id, "recording id");
  if (!lookup.api.ok()) {
    Logged(lookup.api);
    return lookup;
  }
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, lookup.api.body);
  simdjson::dom::element data;
  Recording rec;
  if (!root.ok()) {
    MarkUnparseable(lookup.api, root.status().message());
  } else if ((*root)["data"].get(data) || !ParseRecording(data, rec)) {
    MarkUnparseable(lookup.api, "no data object with an id");
  } else if (rec.id != recording_id) {
    MarkUnparseable(lookup.api, "the answer is for recording " + rec.id);
  } else {
    lookup.recording = std::move(rec);
  }
  Logged(lookup.api);
  return lookup;
}

CallStatusLookup TelnyxClient::GetCallStatus(std::string_view call_control_id) {
  CallStatusLookup lookup;
  lookup.api = GetById("/v2/calls/", call_control_id, "call_control_id");
  if (lookup.api.ok()) {
    simdjson::dom::parser parser;
    auto root = core::ParseJson(parser, lookup.api.body);
    bool alive = false;
    if (!root.ok()) {
      MarkUnparseable(lookup.api, root.status().message());
    } else if ((*root).at_pointer("/data/is_alive").get_bool().get(alive)) {
      // is_alive is required by the spec: without it the answer says nothing about the call.
      MarkUnparseable(lookup.api, "no data.is_alive");
    } else {
      lookup.is_alive = alive;
      lookup.call_duration_s = core::JsonInt(*root, "/data/call_duration");
      if (auto end = core::JsonString(*root, "/data/end_time")) lookup.end_time = std::string(*end);
    }
  }
  Logged(lookup.api);
  return lookup;
}

ApiResult TelnyxClient::DeleteRecording(std::string_view recording_id) {
  std::string path = "/v2/recordings/" + PercentEncode(recording_id);
  if (recording_id.empty()) return Logged(Refused("DELETE", path, "empty recording id"));
  return Logged(Call("DELETE", std::move(path), ""));
}

}  // namespace callrec::projector
