#include "projector/clients/curl_transport.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

namespace callrec::projector {
namespace {

void GlobalInitOnce() {
  // curl_global_init is not thread-safe and must run before any other curl call.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Where the body goes is decided at its first byte, once the final status is known.
enum class Sink : uint8_t { kUndecided, kFile, kMemory };

// Per-Send state the callbacks see. Lives on Send()'s stack.
struct Exchange {
  CURL* curl = nullptr;
  HttpResponse* response = nullptr;
  int out_fd = -1;  // body_to_file, or -1
  Sink sink = Sink::kUndecided;
  bool body_too_large = false;
  int write_errno = 0;
  int in_fd = -1;  // body_from_file, or -1
  uint64_t in_left = 0;  // bytes of body_from_file still to send
  int read_errno = 0;
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::string_view line(data, size * count);
  // A status line starts a new response (100-continue, a followed redirect): keep only the last.
  if (line.starts_with("HTTP/")) {
    ex->response->headers.clear();
    return line.size();
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return line.size();  // the blank line, or junk
  std::string name(Trim(line.substr(0, colon)));
  for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
  ex->response->headers.emplace_back(std::move(name), std::string(Trim(line.substr(colon + 1))));
  return line.size();
}

bool WriteAll(int fd, const char* data, size_t n, int* err) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      *err = errno;
      return false;
    }
    data += w;
    n -= size_t(w);
  }
  return true;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  size_t n = size * count;
  if (ex->sink == Sink::kUndecided) {
    long code = 0;
    curl_easy_getinfo(ex->curl, CURLINFO_RESPONSE_CODE, &code);
    ex->sink = (ex->out_fd >= 0 && code >= 200 && code < 300) ? Sink::kFile : Sink::kMemory;
  }
  ex->response->body_bytes += n;
  if (ex->sink == Sink::kFile) return WriteAll(ex->out_fd, data, n, &ex->write_errno) ? n : 0;
  std::string& body = ex->response->body;
  if (ex->out_fd >= 0) {  // an error body instead of media: keep its start for the message
    body.append(data, std::min(n, CurlTransport::kMaxErrorBody - body.size()));
    return n;
  }
  if (body.size() + n > CurlTransport::kMaxInMemoryBody) {
    ex->body_too_large = true;
    return 0;  // makes curl fail with CURLE_WRITE_ERROR
  }
  body.append(data, n);
  return n;
}

size_t OnRead(char* buffer, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  size_t want = size_t(std::min<uint64_t>(size * count, ex->in_left));
  if (want == 0) return 0;
  for (;;) {
    ssize_t r = ::read(ex->in_fd, buffer, want);
    if (r >= 0) {
      ex->in_left -= uint64_t(r);
      return size_t(r);
    }
    if (errno == EINTR) continue;
    ex->read_errno = errno;
    return CURL_READFUNC_ABORT;
  }
}

core::Status ValidateRequest(const HttpRequest& req) {
  if (req.url.empty()) return core::Status::InvalidArgument("request has no URL");
  if (req.method.empty()) return core::Status::InvalidArgument("request has no method");
  for (char c : req.method)
    if (c < 'A' || c > 'Z') return core::Status::InvalidArgument("bad HTTP method: " + req.method);
  if (!req.body.empty() && !req.body_from_file.empty())
    return core::Status::InvalidArgument("request has both body and body_from_file");
  for (const auto& [k, v] : req.headers) {
    // A CR or LF would let a value smuggle extra headers; the value itself is never echoed.
    if (k.empty() || k.find_first_of(":\r\n") != std::string::npos ||
        v.find_first_of("\r\n") != std::string::npos)
      return core::Status::InvalidArgument("bad header (name or value) for: " + k);
  }
  return core::Status::Ok();
}

// Owns the fds and header list of one Send().
struct Resources {
  int out_fd = -1;
  int in_fd = -1;
  curl_slist* headers = nullptr;
  ~Resources() {
    if (out_fd >= 0) ::close(out_fd);
    if (in_fd >= 0) ::close(in_fd);
    curl_slist_free_all(headers);
  }
};

// Sets the method and request body. Requires: `ex->in_fd` open when body_from_file is set.
void SetMethodAndBody(CURL* curl, const HttpRequest& req, off_t in_size, Exchange* ex) {
  const std::string& m = req.method;
  if (m == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (!req.body_from_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);  // PUT by default; CUSTOMREQUEST renames it
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(curl, CURLOPT_READDATA, ex);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, curl_off_t(in_size));
    if (m != "PUT") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, m.c_str());
  } else if (!req.body.empty() || m == "POST" || m == "PUT" || m == "PATCH") {
    // POSTFIELDS also gives an empty POST/PUT its "Content-Length: 0".
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(req.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.body.data());
    if (m != "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, m.c_str());
  } else if (m == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, m.c_str());  // DELETE and friends
  }
}

void SetCommonOptions(CURL* curl, const HttpRequest& req, curl_slist* headers, char* errbuf,
                      Exchange* ex) {
  curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: we are threaded
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "callrec/0.1");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, long(req.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, long(req.total_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, ex);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, ex);
  if (req.follow_redirects) {
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  }
}

curl_slist* BuildHeaders(const HttpRequest& req) {
  curl_slist* list = nullptr;
  bool has_expect = false;
  for (const auto& [k, v] : req.headers) {
    has_expect |= strcasecmp(k.c_str(), "expect") == 0;
    // "Name;" is curl's spelling of a header with an empty value.
    std::string line = v.empty() ? k + ";" : k + ": " + v;
    list = curl_slist_append(list, line.c_str());
  }
  // Without this curl waits up to 1 s for a "100 Continue" before sending a large body.
  if (!has_expect) list = curl_slist_append(list, "Expect:");
  return list;
}

}  // namespace

CurlTransport::CurlTransport(size_t max_idle_handles) : max_idle_handles_(max_idle_handles) {
  GlobalInitOnce();
}

CurlTransport::~CurlTransport() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* CurlTransport::Acquire() {
  {
    core::MutexLock lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      // Reset clears options but keeps live connections and the DNS and TLS session caches.
      curl_easy_reset(static_cast<CURL*>(h));
      return h;
    }
  }
  return curl_easy_init();
}

void CurlTransport::Release(void* handle) {
  {
    core::MutexLock lock(mu_);
    if (idle_.size() < max_idle_handles_) {
      idle_.push_back(handle);
      return;
    }
  }
  curl_easy_cleanup(static_cast<CURL*>(handle));
}

core::Result<HttpResponse> CurlTransport::Send(const HttpRequest& req) {
  CALLREC_RETURN_IF_ERROR(ValidateRequest(req));
  Resources res;
  off_t in_size = 0;
  if (!req.body_from_file.empty()) {
    res.in_fd = ::open(req.body_from_file.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (res.in_fd < 0 || ::fstat(res.in_fd, &st) != 0)
      return core::Status::FailedPrecondition("cannot read " + req.body_from_file + ": " +
                                              std::strerror(errno));
    // A region of the file (a TUS chunk): from the offset, at most the length asked for.
    uint64_t size = uint64_t(st.st_size);
    uint64_t from = std::min(req.body_from_file_offset, size);
    in_size = off_t(std::min(req.body_from_file_length, size - from));
    if (from > 0 && ::lseek(res.in_fd, off_t(from), SEEK_SET) < 0)
      return core::Status::FailedPrecondition("cannot seek in " + req.body_from_file + ": " +
                                              std::strerror(errno));
  }
  if (!req.body_to_file.empty()) {
    // Created (and emptied) before any network traffic, so a stale file never passes for media.
    res.out_fd = ::open(req.body_to_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (res.out_fd < 0)
      return core::Status::FailedPrecondition("cannot create " + req.body_to_file + ": " +
                                              std::strerror(errno));
  }
  res.headers = BuildHeaders(req);

  CURL* curl = static_cast<CURL*>(Acquire());
  if (curl == nullptr) return core::Status::Internal("curl_easy_init failed");
  HttpResponse response;
  Exchange ex{.curl = curl, .response = &response, .out_fd = res.out_fd, .in_fd = res.in_fd,
              .in_left = uint64_t(in_size)};
  char errbuf[CURL_ERROR_SIZE] = {0};
  SetCommonOptions(curl, req, res.headers, errbuf, &ex);
  SetMethodAndBody(curl, req, in_size, &ex);

  CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_off_t micros = 0;
  curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME_T, &micros);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);  // errbuf dies with this frame
  Release(curl);

  response.status = int(code);
  response.duration = std::chrono::milliseconds(micros / 1000);
  if (rc == CURLE_OK) return response;

  // Phase: no complete answer. Leave no partial media behind to be mistaken for a download.
  if (res.out_fd >= 0 && ::ftruncate(res.out_fd, 0) != 0) {
    // Best effort: callers verify media before using it anyway.
  }
  if (ex.write_errno != 0)
    return core::Status::FailedPrecondition("writing " + req.body_to_file + ": " +
                                            std::strerror(ex.write_errno));
  if (ex.read_errno != 0)
    return core::Status::FailedPrecondition("reading " + req.body_from_file + ": " +
                                            std::strerror(ex.read_errno));
  if (ex.body_too_large)
    return core::Status::Unavailable("response body larger than " +
                                     std::to_string(kMaxInMemoryBody) + " bytes");
  std::string msg = std::string("curl: ") + curl_easy_strerror(rc);
  if (errbuf[0] != '\0') msg += std::string(": ") + errbuf;
  return core::Status::Unavailable(std::move(msg));
}

}  // namespace callrec::projector
