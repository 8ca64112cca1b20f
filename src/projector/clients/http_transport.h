// http_transport.h — one HTTP exchange, no policy.
//
// Every outbound call (Telnyx, Supabase, media downloads) goes through an HttpTransport so tests
// can script responses (tests/fakes/scripted_transport.h) and production uses libcurl
// (curl_transport.h). A transport never retries and never sleeps: callers decide what a 429,
// a 5xx or a timeout means.
//
// Thread-safety: implementations must allow concurrent Send() calls from several threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/percent_encoding.h"
#include "core/status.h"

namespace callrec::projector {

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, POST, PUT, PATCH, DELETE
  std::string url;             // absolute: scheme://host[:port]/path?query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, the response body is streamed into this file (created/truncated, mode 0600)
  // instead of HttpResponse::body, so large media never sits in memory. Only a 2xx body goes to
  // the file: any other status's body (an S3 XML error, an HTML page) lands in
  // HttpResponse::body, capped at 64 KiB, so callers can report it; the file is left empty.
  std::string body_to_file;
  // When set, the request body is streamed from this file instead of `body`: the bytes from
  // `body_from_file_offset`, at most `body_from_file_length` of them (a TUS chunk), never more
  // than a small buffer in memory.
  std::string body_from_file;
  uint64_t body_from_file_offset = 0;
  uint64_t body_from_file_length = UINT64_MAX;  // UINT64_MAX: to the end of the file
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{30000};
  // Follow up to 5 redirects (http/https only). Off for API calls, whose redirects would be a
  // misconfiguration; media URLs on object storage may redirect. Credentials in `headers` are
  // not forwarded to another host.
  bool follow_redirects = false;
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  uint64_t body_bytes = 0;  // bytes received (also when streamed to a file)
  std::chrono::milliseconds duration{0};

  // First header with this lower-case name, or "" when absent.
  std::string Header(std::string_view lower_name) const {
    for (const auto& [k, v] : headers)
      if (k == lower_name) return v;
    return {};
  }
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // An HTTP answer of any status is a value; kUnavailable only when no answer came (connection
  // refused, DNS, TLS, timeout), with the reason in the message.
  virtual core::Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

// Kept here under their old names for the clients that build URLs (core/percent_encoding.h).
using core::PercentDecode;
using core::PercentEncode;

}  // namespace callrec::projector
