#include "fakes/scripted_transport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace callrec::testing {

using projector::HttpRequest;
using projector::HttpResponse;

HttpResponse ScriptedTransport::Reply(int status, std::string body, Headers headers) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  for (auto& [k, v] : headers) {
    std::string name = k;
    for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace_back(std::move(name), v);
  }
  return r;
}

HttpResponse ScriptedTransport::Json(int status, std::string body, Headers headers) {
  headers.emplace_back("content-type", "application/json");
  return Reply(status, std::move(body), std::move(headers));
}

ScriptedTransport::Answer ScriptedTransport::NoAnswer(std::string message) {
  return core::Status::Unavailable(std::move(message));
}

ScriptedTransport& ScriptedTransport::Add(Matcher match, std::string description, Answer answer,
                                          bool repeat) {
  std::lock_guard lock(mu_);
  rules_.push_back(Rule{std::move(match), std::move(description), std::move(answer), repeat});
  return *this;
}

namespace {
ScriptedTransport::Matcher MethodAndUrl(std::string method, std::string url_part) {
  return [method = std::move(method), url_part = std::move(url_part)](const HttpRequest& r) {
    return (method.empty() || r.method == method) && r.url.find(url_part) != std::string::npos;
  };
}
}  // namespace

ScriptedTransport& ScriptedTransport::On(std::string method, std::string url_part, Answer answer) {
  std::string d = method + " *" + url_part + "*";
  return Add(MethodAndUrl(std::move(method), std::move(url_part)), d, std::move(answer), false);
}

ScriptedTransport& ScriptedTransport::Always(std::string method, std::string url_part,
                                             Answer answer) {
  std::string d = method + " *" + url_part + "* (always)";
  return Add(MethodAndUrl(std::move(method), std::move(url_part)), d, std::move(answer), true);
}

ScriptedTransport& ScriptedTransport::OnMatch(Matcher match, std::string description,
                                              Answer answer) {
  return Add(std::move(match), std::move(description), std::move(answer), false);
}

void ScriptedTransport::ExpectNoCalls() {
  std::lock_guard lock(mu_);
  no_calls_ = true;
}

void ScriptedTransport::ExpectAllServed() const {
  std::lock_guard lock(mu_);
  for (const Rule& r : rules_)
    if (!r.repeat && !r.used) ADD_FAILURE() << "scripted answer never requested: " << r.description;
}

void ScriptedTransport::SetLatency(ManualClock* clock, std::chrono::milliseconds latency) {
  std::lock_guard lock(mu_);
  clock_ = clock;
  latency_ = latency;
}

std::vector<HttpRequest> ScriptedTransport::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

size_t ScriptedTransport::request_count() const {
  std::lock_guard lock(mu_);
  return requests_.size();
}

size_t ScriptedTransport::pending() const {
  std::lock_guard lock(mu_);
  return size_t(std::count_if(rules_.begin(), rules_.end(),
                              [](const Rule& r) { return !r.repeat && !r.used; }));
}

core::Result<HttpResponse> ScriptedTransport::Send(const HttpRequest& request) {
  HttpRequest recorded = request;
  if (!request.body_from_file.empty()) {
    std::ifstream in(request.body_from_file, std::ios::binary);
    if (!in) return core::Status::FailedPrecondition("cannot read " + request.body_from_file);
    std::ostringstream content;
    content << in.rdbuf();
    // Only the region asked for (a TUS chunk), as CurlTransport sends it.
    const std::string all = content.str();
    const size_t from = size_t(std::min<uint64_t>(request.body_from_file_offset, all.size()));
    recorded.body = all.substr(from, size_t(std::min<uint64_t>(request.body_from_file_length,
                                                                all.size() - from)));
  }
  // Like curl: the download file exists and is empty before anything arrives.
  if (!request.body_to_file.empty()) {
    std::ofstream out(request.body_to_file, std::ios::binary | std::ios::trunc);
    if (!out) return core::Status::FailedPrecondition("cannot create " + request.body_to_file);
  }

  Answer answer = core::Status::Unavailable("ScriptedTransport: unexpected request");
  std::chrono::milliseconds latency{0};
  {
    std::lock_guard lock(mu_);
    requests_.push_back(std::move(recorded));
    latency = latency_;
    if (clock_ != nullptr) clock_->Advance(latency);
    if (no_calls_) {
      ADD_FAILURE() << "request after ExpectNoCalls(): " << request.method << " " << request.url;
      return answer;
    }
    auto rule = std::find_if(rules_.begin(), rules_.end(), [&](const Rule& r) {
      return (r.repeat || !r.used) && r.match(request);
    });
    if (rule == rules_.end()) {
      ADD_FAILURE() << "unscripted request: " << request.method << " " << request.url;
      return answer;
    }
    rule->used = true;
    answer = rule->answer;
  }
  if (!answer.ok()) return answer;

  HttpResponse response = std::move(answer).value();
  response.duration = latency;
  response.body_bytes = response.body.size();
  bool to_file = !request.body_to_file.empty() && response.status >= 200 && response.status < 300;
  if (to_file) {
    std::ofstream out(request.body_to_file, std::ios::binary | std::ios::trunc);
    out.write(response.body.data(), std::streamsize(response.body.size()));
    if (!out) return core::Status::FailedPrecondition("writing " + request.body_to_file);
    response.body.clear();
  } else if (!request.body_to_file.empty() && response.body.size() > (64u << 10)) {
    response.body.resize(64u << 10);  // CurlTransport keeps only the start of an error body
  }
  return response;
}

}  // namespace callrec::testing
