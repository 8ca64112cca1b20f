// e2e_env.h — one end-to-end scene: an in-process telnyx-sim on the real clock, a temp directory
// for the store, the recordings and the logs, and `callrec serve` as a child process pointed at
// the sim. Tests drive it the way a user would: the intake API over HTTP, calls placed on the
// sim, the audit CLI on the store.
//
//   E2eEnv env;
//   ASSERT_TRUE(env.StartServe({"--storage", "fs"}));
//   std::string id = env.CreateIntake("+15550100001");
//   CallIds call = env.PlaceRecordedCall(id, "+15550100001");   // hangs up once recording
//   Json intake = env.WaitForState(id, {"stored"});
//
// Durations are short real ones (answer after 100 ms, 300 ms of recording, recordings visible
// 200 ms after hangup, fetch delay/interval 300 ms); every wait polls with a generous deadline
// so a loaded machine is slower, not flaky.
//
// Thread-safety: one test thread, except Api(), which may be called from any thread.
#pragma once

#include <openssl/evp.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "e2e/serve_process.h"
#include "fakes/run_command.h"
#include "fakes/temp_dir.h"
#include "telnyx_sim/server.h"
#include "matchers/status_matchers.h"

namespace callrec::testing::e2e {

using telnyx_sim::CallIds;
using telnyx_sim::CallSpec;
using telnyx_sim::SimConfig;
using telnyx_sim::TelnyxSim;

inline constexpr const char* kAdminToken = "e2e-admin-token";
inline constexpr Millis kDeadline = std::chrono::seconds(15);

// Parsed JSON that owns its text and parser, so elements stay valid while it lives.
class Json {
 public:
  Json() = default;
  explicit Json(std::string text) : text_(std::make_shared<std::string>(std::move(text))),
                                    parser_(std::make_shared<simdjson::dom::parser>()) {
    auto r = core::ParseJson(*parser_, *text_);
    ok_ = r.ok();
    if (ok_) root_ = *r;
  }
  bool ok() const { return ok_; }
  const std::string& text() const { return *text_; }
  simdjson::dom::element root() const { return root_; }
  std::string Str(std::string_view pointer) const {
    return ok_ ? std::string(core::JsonString(root_, pointer).value_or("<absent>")) : "<not json>";
  }
  int64_t Int(std::string_view pointer) const {
    return ok_ ? core::JsonInt(root_, pointer).value_or(-999) : -999;
  }
  std::optional<bool> Bool(std::string_view pointer) const {
    bool b = false;
    if (!ok_ || root_.at_pointer(pointer).get_bool().get(b)) return std::nullopt;
    return b;
  }
  // The value at `pointer` as minified JSON ("" when absent).
  std::string Raw(std::string_view pointer) const {
    simdjson::dom::element e;
    if (!ok_ || root_.at_pointer(pointer).get(e)) return "";
    return simdjson::minify(e);
  }
  bool IsNull(std::string_view pointer) const {
    simdjson::dom::element e;
    return ok_ && !root_.at_pointer(pointer).get(e) && e.is_null();
  }
  // The strings of the array at `pointer` (empty when it is not an array of strings).
  std::vector<std::string> Strings(std::string_view pointer) const {
    std::vector<std::string> out;
    simdjson::dom::array a;
    if (!ok_ || root_.at_pointer(pointer).get_array().get(a)) return out;
    for (auto v : a) {
      std::string_view s;
      if (!v.get_string().get(s)) out.emplace_back(s);
    }
    return out;
  }

 private:
  std::shared_ptr<std::string> text_ = std::make_shared<std::string>();
  std::shared_ptr<simdjson::dom::parser> parser_;
  simdjson::dom::element root_;
  bool ok_ = false;
};

// One event of a timeline (GET /api/intakes/{id}/timeline or `callrec timeline --json`).
struct TimelineEvent {
  uint64_t seq = 0;
  std::string type, source, summary, payload;
};
std::vector<TimelineEvent> ParseTimeline(const std::string& json);

inline std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

// Polls `done` every 20 ms until it is true or `timeout` passes; returns its last value.
inline bool Eventually(const std::function<bool()>& done, Millis timeout = kDeadline) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(Millis(20));
  }
  return true;
}

struct ApiAnswer {
  int status = 0;  // 0: no answer
  std::string body;
};

// One request with the admin token to a serve listening on 127.0.0.1:`port` (GET, else a JSON POST).
inline ApiAnswer AdminRequest(int port, const std::string& method, const std::string& path, const std::string& body,
                              std::chrono::seconds read_timeout) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(read_timeout.count());
  httplib::Headers headers = {{"Authorization", std::string("Bearer ") + kAdminToken}};
  auto res = method == "GET" ? client.Get(path, headers) : client.Post(path, headers, body, "application/json");
  if (!res) return {};
  return {res->status, res->body};
}

class E2eEnv {
 public:
  static SimConfig DefaultSimConfig() {
    SimConfig c;
    c.faults.recording_delay_ms = 200;
    c.webhook_retry_delay = Millis(300);
    c.server_threads = 8;
    return c;
  }

  explicit E2eEnv(SimConfig config = DefaultSimConfig()) {
    core::SetLogLevel(core::LogLevel::kWarn);  // the in-process sim's lines would bury the failures
    auto sim = TelnyxSim::Start(std::move(config), clock_);
    EXPECT_OK(sim);
    if (sim.ok()) sim_ = std::move(sim).value();
  }
  ~E2eEnv() {
    // A failed test leaves what serve logged in the test output: the first thing one reads.
    if (::testing::Test::HasFailure() && serve_.pid() > 0)
      std::cerr << "---- callrec serve stderr (last 6000 bytes) ----\n" << Tail(serve_.Stderr(), 6000) << "\n";
    core::SetLogLevel(core::LogLevel::kInfo);
  }

  TelnyxSim& sim() { return *sim_; }
  // Serve verifies webhooks with this key instead of the sim's (for tests that sign their own).
  void set_public_key(std::string base64) { public_key_ = std::move(base64); }
  ServeProcess& serve() { return serve_; }
  std::string data_dir() const { return dir_.Sub("store"); }
  std::string storage_dir() const { return dir_.Sub("recordings"); }
  std::string log_dir() const { return dir_.path(); }

  // `callrec serve` with the scene's flags plus `extra`. --fetch-delay and --fetch-interval in
  // `extra` replace the scene's (CLI11 refuses a repeated flag); others must not repeat.
  std::vector<std::string> ServeArgs(const std::vector<std::string>& extra) const {
    std::vector<std::string> args = {"serve", "--data-dir", data_dir(), "--telnyx-api-base", sim_->base_url(),
                                     "--telnyx-public-key", public_key_.empty() ? sim_->public_key_base64() : public_key_,
                                     "--storage-dir", storage_dir()};
    auto has = [&](const char* flag) { return std::find(extra.begin(), extra.end(), flag) != extra.end(); };
    if (!has("--fetch-delay")) args.insert(args.end(), {"--fetch-delay", "300ms"});
    if (!has("--fetch-interval")) args.insert(args.end(), {"--fetch-interval", "300ms"});
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  bool StartServe(const std::vector<std::string>& extra = {}, std::vector<std::string> env = {}) {
    if (!sim_) return false;  // the constructor already failed the test
    env.push_back(std::string("CALLREC_ADMIN_TOKEN=") + kAdminToken);
    return serve_.Start(BinaryPath("callrec"), ServeArgs(extra), env, log_dir());
  }
  // SIGTERM and the exit code (-1 when it did not exit within the deadline).
  int StopServe() {
    serve_.Signal(SIGTERM);
    return serve_.WaitExit(kDeadline);
  }

  // One request to serve, with the admin token.
  ApiAnswer Api(const std::string& method, const std::string& path, const std::string& body = "") {
    return AdminRequest(serve_.port(), method, path, body, std::chrono::seconds(15));
  }

  // POST /api/intakes; expects 201 and returns the id ("" on failure, with a test failure).
  std::string CreateIntake(const std::string& phone, const std::string& id = "") {
    std::string body = "{\"patient_phone\":\"" + phone + "\"" + (id.empty() ? "" : ",\"id\":\"" + id + "\"") + "}";
    ApiAnswer a = Api("POST", "/api/intakes", body);
    EXPECT_EQ(a.status, 201) << a.body;
    return Json(a.body).Str("/id");
  }

  Json GetIntake(const std::string& id) { return Json(Api("GET", "/api/intakes/" + id).body); }

  // Polls GET /api/intakes/{id} until its state is one of `states`; a test failure naming the
  // last state seen otherwise. Returns the last intake seen.
  Json WaitForState(const std::string& id, const std::set<std::string>& states, Millis timeout = kDeadline) {
    Json last;
    bool reached = Eventually([&] {
      last = GetIntake(id);
      return states.count(last.Str("/state")) > 0;
    }, timeout);
    EXPECT_TRUE(reached) << "intake " << id << " never reached the expected state; last: " << last.text();
    return last;
  }

  std::vector<TimelineEvent> Timeline(const std::string& id) {
    return ParseTimeline(Api("GET", "/api/intakes/" + id + "/timeline").body);
  }
  bool TimelineHas(const std::string& id, const std::string& type) {
    for (const auto& e : Timeline(id))
      if (e.type == type) return true;
    return false;
  }

  // A call to `to` whose webhooks go to serve; `tweak` adjusts the spec.
  CallIds PlaceCall(const std::string& to, const std::function<void(CallSpec&)>& tweak = {}) {
    CallSpec spec;
    spec.to = to;
    spec.webhook_url = serve_.webhook_url();
    spec.answer_after_ms = 100;
    spec.hangup_after_ms = 400;
    spec.send_recording_saved = false;  // found by polling, the path that must work
    if (tweak) tweak(spec);
    auto ids = sim_->PlaceCall(spec);
    EXPECT_OK(ids);
    return ids.ok() ? *ids : CallIds{};
  }

  // A call that stays up until HangUpWhileRecording(): on a loaded machine a scripted hangup
  // could beat record_start, which is another scenario (record_start_failed).
  CallIds PlaceHeldCall(const std::string& to, const std::function<void(CallSpec&)>& tweak = {}) {
    return PlaceCall(to, [&](CallSpec& s) {
      s.hangup_after_ms = -1;
      if (tweak) tweak(s);
    });
  }
  // Waits until the intake is `recording` (record_start answered 200), lets the call talk for
  // `talk`, then hangs up.
  void HangUpWhileRecording(const std::string& id, const CallIds& call, Millis talk = Millis(300)) {
    Json intake = WaitForState(id, {"recording"});
    if (intake.Str("/state") != "recording") return;
    std::this_thread::sleep_for(talk);
    auto hung_up = sim_->HangupCall(call.call_control_id);
    EXPECT_OK(hung_up);
  }
  CallIds PlaceRecordedCall(const std::string& id, const std::string& to,
                            const std::function<void(CallSpec&)>& tweak = {}) {
    CallIds call = PlaceHeldCall(to, tweak);
    HangUpWhileRecording(id, call);
    return call;
  }

  // The sim's view of a call (GET /sim/calls/{id}).
  Json SimCall(const std::string& call_control_id) {
    auto json = sim_->world().CallJson(call_control_id);
    return Json(json.value_or(""));
  }

  // `callrec <args> --data-dir <store>` (the store flag added for commands that take it).
  CommandResult Callrec(std::vector<std::string> args, bool with_data_dir = true) {
    args.insert(args.begin(), BinaryPath("callrec"));
    if (with_data_dir) args.insert(args.end(), {"--data-dir", data_dir()});
    return RunCommand(args, {std::string("CALLREC_ADMIN_TOKEN=") + kAdminToken});
  }

  static std::string Tail(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(s.size() - n); }

 private:
  core::SystemClock clock_;
  TempDir dir_;
  std::unique_ptr<TelnyxSim> sim_;
  ServeProcess serve_;
  std::string public_key_;
};

// The value of a Prometheus counter or gauge in /metrics text, summed over its label sets; -1
// when absent.
inline double MetricValue(const std::string& text, const std::string& name) {
  double total = -1;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + start, nl - start);
    start = nl + 1;
    if (!line.starts_with(name) || line.size() <= name.size()) continue;
    char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    size_t space = line.rfind(' ');
    total = (total < 0 ? 0 : total) + std::atof(std::string(line.substr(space + 1)).c_str());
  }
  return total;
}

inline std::vector<TimelineEvent> ParseTimeline(const std::string& json) {
  std::vector<TimelineEvent> out;
  Json doc(json);
  simdjson::dom::array events;
  if (!doc.ok() || doc.root().at_pointer("/events").get_array().get(events)) return out;
  for (auto e : events) {
    TimelineEvent t;
    t.seq = core::JsonInt(e, "/seq").value_or(0);
    t.type = std::string(core::JsonString(e, "/type").value_or(""));
    t.source = std::string(core::JsonString(e, "/source").value_or(""));
    t.summary = std::string(core::JsonString(e, "/summary").value_or(""));
    simdjson::dom::element p;
    if (!e.at_pointer("/payload").get(p)) t.payload = simdjson::minify(p);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace callrec::testing::e2e
