// http_util.h — the small pieces every ingest route shares.
//
//   - HttpStatusFor: THE mapping from core::Status to an HTTP status code. Routes decide 401 and
//     413 themselves (they are not Status outcomes); every other error goes through here.
//   - SetJsonError / SetJson: every answer is JSON; errors are {"error":"..."} (+ "field").
//   - ReadBody: reads a request body through httplib's ContentReader with a size cap, refusing
//     by Content-Length before reading a byte.
//   - RouteCounters: callrec_http_requests_total{route,status}, labelled by route pattern.
//
// Thread-safety: functions are reentrant; RouteCounters::Count is lock-free after the first
// request with a given status.
#pragma once

#include <httplib.h>

#include <array>
#include <atomic>
#include <string>
#include <string_view>

#include "core/metrics.h"
#include "core/status.h"

namespace callrec::ingest {

// kInvalidArgument 400, kNotFound 404, kAlreadyExists 409, kFailedPrecondition 409,
// kUnavailable 503, kCorruption 503 (the store cannot serve now; clients retry, the operator
// runs `callrec check`), kInternal 500. Requires: !status.ok().
int HttpStatusFor(const core::Status& status);

// Store failures on a write path are reported as kUnavailable whatever their code, so clients
// (Telnyx above all) retry instead of giving up: nothing was stored.
core::Status AsStoreUnavailable(const core::Status& status);

// {"error": message} or {"error": message, "field": field}.
void SetJsonError(httplib::Response& res, int http_status, std::string_view message,
                  std::string_view field = {});
void SetJson(httplib::Response& res, int http_status, std::string body);

enum class BodyRead : uint8_t {
  kOk,
  kTooLarge,     // Content-Length or the bytes received exceed the cap (answer 413)
  kBadLength,    // Content-Length is not a number (answer 400)
  kIncomplete,   // the client stopped sending, or sent too slowly (no answer can arrive)
};

// Reads the body into `out` (cleared first). A request without Content-Length and without
// chunked transfer coding has no body (RFC 9112 §6.3); it is not read until EOF. On kTooLarge
// and kBadLength nothing more is read: the caller answers and must close the connection
// (TunedServer::CloseConnectionAfterResponse).
BodyRead ReadBody(const httplib::Request& req, const httplib::ContentReader& reader,
                  size_t max_bytes, std::string& out);

// The value of header `name`, or "" when absent; a view into `req` (no copy).
std::string_view HeaderView(const httplib::Request& req, const char* name);

class RouteCounters {
 public:
  // `route` is the pattern ("/api/intakes/{id}"), never the raw path: one series per route.
  RouteCounters(core::Metrics& metrics, std::string route)
      : metrics_(metrics), route_(std::move(route)) {}
  void Count(int http_status);
  const std::string& route() const { return route_; }

 private:
  core::Metrics& metrics_;
  const std::string route_;
  std::array<std::atomic<core::Counter*>, 600> by_status_{};
};

}  // namespace callrec::ingest
