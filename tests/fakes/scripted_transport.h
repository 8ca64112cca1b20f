// scripted_transport.h — an HttpTransport that answers from a script, for tests.
//
// A script is a list of rules. Each rule matches requests (by method and a URL substring, or by
// any predicate) and holds one canned answer: an HttpResponse, or a no-answer Status (timeout,
// refused). A request is served by the first rule, in the order added, that matches and is not
// used up; On() rules serve once, Always() rules forever. So several On() calls with the same
// matcher answer successive requests in order. A request no rule serves fails the test
// (ADD_FAILURE) and gets kUnavailable; after ExpectNoCalls(), every request fails the test.
// Every request is recorded (requests()), with a body_from_file upload's content (the region
// body_from_file_offset/length names) copied into the recorded request's `body`.
//
// Streaming is mirrored from CurlTransport: body_to_file is created/truncated on every request;
// a 2xx answer's body is written there (HttpResponse::body left empty, body_bytes set), any
// other status's body stays in HttpResponse::body and the file stays empty. A body_from_file
// that cannot be read is kFailedPrecondition, as with curl.
//
// SetLatency(clock, d) advances a ManualClock by `d` inside each Send() and reports `d` as the
// response duration, so code measuring with Clock::SteadyNow sees a deterministic time.
//
// Thread-safety: every method may be called from any thread.
//
//   ScriptedTransport t;
//   t.On("GET", "/v2/recordings", ScriptedTransport::Json(200, R"({"data":[]})"))
//    .On("GET", "/v2/recordings", ScriptedTransport::NoAnswer());
//   ... code under test ...
//   EXPECT_EQ(t.requests().size(), 2u);
//   t.ExpectAllServed();
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "fakes/manual_clock.h"
#include "projector/clients/http_transport.h"

namespace callrec::testing {

class ScriptedTransport final : public projector::HttpTransport {
 public:
  using Answer = core::Result<projector::HttpResponse>;
  using Matcher = std::function<bool(const projector::HttpRequest&)>;
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // A response with `status` and `body`; header names are lower-cased for you.
  static projector::HttpResponse Reply(int status, std::string body = "", Headers headers = {});
  // Reply with "content-type: application/json".
  static projector::HttpResponse Json(int status, std::string body, Headers headers = {});
  // No HTTP answer (what CurlTransport returns for a timeout or a refused connection).
  static Answer NoAnswer(std::string message = "curl: Timeout was reached");

  // Serves `answer` once to a request whose method equals `method` ("" = any) and whose URL
  // contains `url_part` ("" = any).
  ScriptedTransport& On(std::string method, std::string url_part, Answer answer);
  // Serves `answer` to every such request, once earlier rules are used up.
  ScriptedTransport& Always(std::string method, std::string url_part, Answer answer);
  // Serves `answer` once to a request `match` accepts; `description` names it in failures.
  ScriptedTransport& OnMatch(Matcher match, std::string description, Answer answer);

  // From now on any Send() fails the test.
  void ExpectNoCalls();
  // Fails the test, naming them, if On()/OnMatch() answers were never served.
  void ExpectAllServed() const;
  // Each Send() advances `clock` by `latency` (nullptr: no advance).
  void SetLatency(ManualClock* clock, std::chrono::milliseconds latency);

  core::Result<projector::HttpResponse> Send(const projector::HttpRequest& request) override;

  std::vector<projector::HttpRequest> requests() const;  // copies, in arrival order
  size_t request_count() const;
  size_t pending() const;  // On()/OnMatch() answers not yet served

 private:
  struct Rule {
    Matcher match;
    std::string description;
    Answer answer;
    bool repeat = false;
    bool used = false;
  };
  ScriptedTransport& Add(Matcher match, std::string description, Answer answer, bool repeat);

  mutable std::mutex mu_;
  std::vector<Rule> rules_;                       // guarded by mu_
  std::vector<projector::HttpRequest> requests_;  // guarded by mu_
  bool no_calls_ = false;                         // guarded by mu_
  ManualClock* clock_ = nullptr;                  // guarded by mu_
  std::chrono::milliseconds latency_{0};          // guarded by mu_
};

}  // namespace callrec::testing
