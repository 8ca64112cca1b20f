// sim_test_support.h — helpers for the telnyx-sim tests: a sim on port 0 with a ManualClock,
// a webhook receiver that records what arrives, JSON access and Ed25519 verification.
#pragma once

#include <httplib.h>
#include <openssl/evp.h>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"
#include "fakes/manual_clock.h"
#include "telnyx_sim/server.h"
#include "matchers/status_matchers.h"

namespace callrec::testing {

using telnyx_sim::CallIds;
using telnyx_sim::CallSpec;
using telnyx_sim::SimConfig;
using telnyx_sim::TelnyxSim;

inline std::unique_ptr<TelnyxSim> StartSim(core::Clock& clock, SimConfig config = {}) {
  auto sim = TelnyxSim::Start(std::move(config), clock);
  EXPECT_OK(sim);
  return sim.ok() ? std::move(sim).value() : nullptr;
}

// A call that waits for the test: answered and hung up only by AnswerCall/HangupCall.
inline CallSpec ManualCall(std::string to = "+15550123456") {
  CallSpec spec;
  spec.to = std::move(to);
  spec.answer_after_ms = -1;
  spec.hangup_after_ms = -1;
  return spec;
}

// Percent-encodes the ':' of "v3:..." as a client must in a path.
inline std::string EncodeId(const std::string& call_control_id) {
  std::string out;
  for (char c : call_control_id) out += c == ':' ? std::string("%3A") : std::string(1, c);
  return out;
}

inline std::string RecordStartPath(const std::string& call_control_id) {
  return "/v2/calls/" + EncodeId(call_control_id) + "/actions/record_start";
}

// Parsed JSON that owns its parser, so elements stay valid as long as this lives.
class Json {
 public:
  explicit Json(const std::string& text) : text_(text) {
    auto r = core::ParseJson(parser_, text_);
    ok_ = r.ok();
    if (ok_) root_ = *r;
  }
  bool ok() const { return ok_; }
  simdjson::dom::element root() const { return root_; }
  std::string Str(std::string_view pointer) const {
    return std::string(core::JsonString(root_, pointer).value_or("<absent>"));
  }
  int64_t Int(std::string_view pointer) const { return core::JsonInt(root_, pointer).value_or(-999); }
  bool IsNull(std::string_view pointer) const {
    simdjson::dom::element e;
    return !root_.at_pointer(pointer).get(e) && e.is_null();
  }
  size_t Size(std::string_view pointer) const {
    simdjson::dom::array a;
    if (root_.at_pointer(pointer).get_array().get(a)) return size_t(-1);
    return a.size();
  }
  // Keys of the object at `pointer`, in document order.
  std::vector<std::string> Keys(std::string_view pointer) const {
    std::vector<std::string> keys;
    simdjson::dom::object o;
    if (root_.at_pointer(pointer).get_object().get(o)) return keys;
    for (auto [k, v] : o) keys.emplace_back(k);
    return keys;
  }

 private:
  std::string text_;
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
  bool ok_ = false;
};

inline bool VerifyEd25519(const std::string& public_raw, const std::string& message,
                          const std::string& signature) {
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(public_raw.data()),
      public_raw.size());
  if (key == nullptr) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(),
                             reinterpret_cast<const unsigned char*>(message.data()),
                             message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

// Receives webhooks on 127.0.0.1:<port>/hook and keeps them in arrival order. Answers each
// request with the next status from `statuses` (then 200).
class WebhookReceiver {
 public:
  struct Delivery {
    std::string body;
    std::string timestamp;
    std::string signature;  // base64
    std::string content_type;
  };

  WebhookReceiver() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      got_.push_back({req.body, req.get_header_value("telnyx-timestamp"),
                      req.get_header_value("telnyx-signature-ed25519"),
                      req.get_header_value("Content-Type")});
      int status = 200;
      if (!statuses_.empty()) {
        status = statuses_.front();
        statuses_.pop_front();
      }
      if (always_fail_) status = 500;
      res.status = status;
      res.set_content(R"({"received":true})", "application/json");
      cv_.notify_all();
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // httplib's stop() does nothing before the accept loop runs: wait for it, or a receiver
    // destroyed at once would never stop.
    for (int i = 0; i < 5000 && !server_.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~WebhookReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  void AnswerNext(std::vector<int> statuses) {
    std::lock_guard lock(mu_);
    statuses_.assign(statuses.begin(), statuses.end());
  }
  void AlwaysFail() {
    std::lock_guard lock(mu_);
    always_fail_ = true;
  }
  // Waits (up to 5 s of real time) until at least `n` deliveries arrived; returns them all.
  std::vector<Delivery> WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return got_.size() >= n; });
    return got_;
  }
  std::vector<Delivery> Got() {
    std::lock_guard lock(mu_);
    return got_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Delivery> got_;
  std::deque<int> statuses_;
  bool always_fail_ = false;
};

}  // namespace callrec::testing
