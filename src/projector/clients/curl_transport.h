// curl_transport.h — the production HttpTransport, over libcurl.
//
// One Send() is one HTTP exchange: no retries, no sleeping. TLS peers and host names are always
// verified; the User-Agent is "callrec/0.1"; response header names are lower-cased and only the
// final response's headers are kept (after a 100-continue or a followed redirect). Media streams
// to and from files (HttpRequest::body_to_file / body_from_file) in 64 KiB pieces. No answer
// (refused, DNS, TLS, timeout) is kUnavailable with curl's message; a local file that cannot be
// opened or written is kFailedPrecondition. In-memory response bodies above 32 MiB are refused
// (kUnavailable), so a hostile or broken server cannot exhaust memory.
//
// Connections are reused through a small pool of curl easy handles: a handle keeps its
// connection cache between requests, so sequential calls to the same host skip the TCP and TLS
// handshakes. Concurrent Send() calls each take their own handle.
//
// Nothing here logs request headers: Authorization and apikey values never reach a log line or
// an error message.
//
// Built only in src/tools (STYLE.md); this is the only file that includes curl.
//
// Thread-safety: Send() may be called from any number of threads at once.
//
//   CurlTransport transport;
//   HttpRequest req{.method = "GET", .url = "https://api.telnyx.com/v2/recordings"};
//   core::Result<HttpResponse> res = transport.Send(req);
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "core/thread_annotations.h"
#include "projector/clients/http_transport.h"

namespace callrec::projector {

class CurlTransport final : public HttpTransport {
 public:
  // `max_idle_handles`: easy handles (each with its connection cache) kept for reuse; more may
  // exist while that many requests run at once, and the extra ones are freed after use.
  explicit CurlTransport(size_t max_idle_handles = 8);
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  core::Result<HttpResponse> Send(const HttpRequest& request) override;

  // Largest body kept in HttpResponse::body (2xx without body_to_file).
  static constexpr size_t kMaxInMemoryBody = 32u << 20;
  // Largest error body kept when the request streams to a file and the status is not 2xx.
  static constexpr size_t kMaxErrorBody = 64u << 10;

 private:
  void* Acquire();             // a CURL*, reset but with its connection cache
  void Release(void* handle);  // back to the pool, or freed when the pool is full

  const size_t max_idle_handles_;
  core::Mutex mu_;
  std::vector<void*> idle_ GUARDED_BY(mu_);
};

}  // namespace callrec::projector
