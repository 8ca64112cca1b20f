#include "ingest/http_util.h"

#include <charconv>

#include "core/json.h"

namespace callrec::ingest {

int HttpStatusFor(const core::Status& status) {
  switch (status.code()) {
    case core::StatusCode::kOk: return 200;  // not an error; callers should not ask
    case core::StatusCode::kInvalidArgument: return 400;
    case core::StatusCode::kNotFound: return 404;
    case core::StatusCode::kAlreadyExists: return 409;
    case core::StatusCode::kFailedPrecondition: return 409;
    case core::StatusCode::kUnavailable: return 503;
    case core::StatusCode::kCorruption: return 503;
    case core::StatusCode::kInternal: return 500;
  }
  return 500;
}

core::Status AsStoreUnavailable(const core::Status& status) {
  if (status.IsUnavailable()) return status;
  return core::Status::Unavailable("store: " + status.ToString());
}

void SetJsonError(httplib::Response& res, int http_status, std::string_view message,
                  std::string_view field) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("error").String(message);
  if (!field.empty()) w.Key("field").String(field);
  w.EndObject();
  SetJson(res, http_status, w.Take());
}

void SetJson(httplib::Response& res, int http_status, std::string body) {
  res.status = http_status;
  res.body = std::move(body);
  res.set_header("Content-Type", "application/json");
}

std::string_view HeaderView(const httplib::Request& req, const char* name) {
  auto it = req.headers.find(name);
  return it == req.headers.end() ? std::string_view() : std::string_view(it->second);
}

BodyRead ReadBody(const httplib::Request& req, const httplib::ContentReader& reader,
                  size_t max_bytes, std::string& out) {
  out.clear();
  std::string_view length_text = HeaderView(req, "Content-Length");
  bool chunked = HeaderView(req, "Transfer-Encoding").find("chunked") != std::string_view::npos;
  if (!chunked) {
    if (length_text.empty()) return BodyRead::kOk;
    uint64_t length = 0;
    auto [end, ec] = std::from_chars(length_text.data(), length_text.data() + length_text.size(),
                                     length);
    if (ec == std::errc::result_out_of_range) return BodyRead::kTooLarge;
    if (ec != std::errc() || end != length_text.data() + length_text.size()) {
      return BodyRead::kBadLength;
    }
    if (length > max_bytes) return BodyRead::kTooLarge;  // refused before reading a byte
    if (length == 0) return BodyRead::kOk;
    out.reserve(size_t(length));
  }
  bool too_large = false;
  bool complete = reader([&](const char* data, size_t size) {
    if (out.size() + size > max_bytes) {
      too_large = true;  // chunked bodies announce no length: stop at the cap
      return false;
    }
    out.append(data, size);
    return true;
  });
  if (too_large) return BodyRead::kTooLarge;
  return complete ? BodyRead::kOk : BodyRead::kIncomplete;
}

void RouteCounters::Count(int http_status) {
  if (http_status == -1) http_status = 200;  // httplib's "not set": it answers 200
  if (http_status < 0 || size_t(http_status) >= by_status_.size()) http_status = 0;
  std::atomic<core::Counter*>& slot = by_status_[size_t(http_status)];
  core::Counter* c = slot.load(std::memory_order_acquire);
  if (c == nullptr) {
    // GetCounter returns the same counter for the same labels, so a race here is harmless.
    c = metrics_.GetCounter("callrec_http_requests_total", "HTTP requests answered, by route and status",
                            {{"route", route_}, {"status", std::to_string(http_status)}});
    slot.store(c, std::memory_order_release);
  }
  c->Inc();
}

}  // namespace callrec::ingest
