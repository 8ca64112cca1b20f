// steady_state_bench — live calls on a months-old store while a backlog drains (issue 8).
//
//   build/steady_state_bench [--events 1000000] [--backlog 5000] [--calls 100] [--rate 2]
//                            [--fetch-delay 2s] [--serve-arg ARG]... [--keep]
//                            [--no-latency] [--empty-only]
//
// --no-latency --empty-only --fetch-delay 0s --calls 1000: hangup -> stored over 1,000 calls
// with zero configured delays (issue 11), i.e. callrec's own share of the path.
//
// Runs the same scenario twice, on an empty store and on a history of --events events
// (history_gen.h) plus --backlog intakes with due work (half ended with their first recordings
// query due, half fetched with the copy due; their recordings exist at the sim), and prints one
// table. Each run:
//   1. starts `callrec serve --storage fs` (a subprocess) against telnyx-sim (in this process,
//      the same code as build/telnyx-sim, so the backlog's recordings can be seeded into it) with
//      realistic latency: API 50-150 ms, media downloads 1-3 s;
//   2. measures exec -> /readyz 200 and the RSS;
//   3. places --calls calls at --rate per second: POST /api/intakes, then a sim call that is
//      answered after 50 ms and hangs up 300 ms later, sending no call.recording.saved (the
//      recording is found by the recordings query, after --fetch-delay);
//   4. waits until every live intake is stored or failed (or a deadline), stops serve, and reads
//      its event log: call.answered -> record_start sent, call.hangup -> recording.matched,
//      call.hangup -> copy stored, live intakes stored, and the backlog's copies and queries
//      finished per second meanwhile.
// Stops by itself; kills serve and removes its temp dirs (unless --keep) on every exit path.
// A program, not a test: `scripts/bench steady-state` runs it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "core/clock.h"
#include "core/event_store.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time_format.h"
#include "history_gen.h"
#include "telnyx_sim/server.h"

using namespace callrec;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct Options {
  uint64_t events = 1'000'000;
  int backlog = 5000;
  int calls = 100;
  double rate = 2;
  std::string fetch_delay = "2s";
  int64_t fetch_delay_ms = 2000;
  std::vector<std::string> serve_args;
  bool keep = false;
  bool no_latency = false;  // the sim answers at once (API and media) and lists a recording at hangup
  bool empty_only = false;  // skip the history run
};

pid_t g_serve = 0;                       // killed by Die
std::vector<std::string> g_dirs;         // removed by Die and at the end
bool g_keep = false;

void Cleanup() {
  if (g_serve > 0) {
    ::kill(g_serve, SIGKILL);
    ::waitpid(g_serve, nullptr, 0);
    g_serve = 0;
  }
  if (!g_keep)
    for (const auto& d : g_dirs) std::filesystem::remove_all(d);
}

// SIGINT/SIGTERM (Ctrl-C, `timeout`): the serve child and the temp dirs go too.
void OnSignal(int sig) {
  Cleanup();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "steady_state_bench: %s\n", what.c_str());
  Cleanup();
  std::exit(1);
}

double Since(Steady::time_point t0) { return std::chrono::duration<double>(Steady::now() - t0).count(); }

// A string / integer of a JSON document by JSON pointer; "" / 0 when absent or unreadable.
std::string Str(std::string_view json, std::string_view pointer) {
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, json);
  if (!root.ok()) return "";
  return std::string(core::JsonString(*root, pointer).value_or(""));
}
int64_t Int(std::string_view json, std::string_view pointer) {
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, json);
  return root.ok() ? core::JsonInt(*root, pointer).value_or(0) : 0;
}

// ---- the backlog: intakes whose calls happened at the sim, written straight into the store ----

core::Event Ev(std::string type, std::string_view source, std::string intake, int64_t at, std::string payload,
               std::string key = "") {
  core::Event e;
  e.type = std::move(type);
  e.source = std::string(source);
  e.intake_id = std::move(intake);
  e.recorded_at_ms = at;
  e.payload = std::move(payload);
  e.idempotency_key = std::move(key);
  return e;
}

core::Event Webhook(const char* type, const telnyx_sim::CallIds& c, const std::string& to, int64_t at) {
  core::JsonWriter w;
  std::string id = std::string(type) + "-" + c.call_leg_id;
  w.BeginObject().Key("data").BeginObject();
  w.Key("event_type").String(type).Key("id").String(id);
  w.Key("occurred_at").String(core::FormatRfc3339Millis(at));
  w.Key("payload").BeginObject();
  w.Key("call_control_id").String(c.call_control_id).Key("call_leg_id").String(c.call_leg_id);
  w.Key("call_session_id").String(c.call_session_id).Key("client_state").Null();
  w.Key("connection_id").String("1684641123236054244");
  if (std::string_view(type) == "call.answered") w.Key("direction").String("outgoing");
  w.Key("from").String("+15550100200").Key("to").String(to);
  if (std::string_view(type) == "call.hangup") w.Key("hangup_cause").String("normal_clearing").Key("hangup_source").String("callee");
  w.EndObject().Key("record_type").String("event").EndObject();
  w.Key("meta").BeginObject().Key("attempt").Int(1).EndObject().EndObject();
  return Ev("telnyx.webhook", core::source::kTelnyxWebhook, "", at, w.Take(), "telnyx:" + id);
}

// One backlog intake: created, answered, recording, hung up; then the first query due (ended)
// or the recording matched (fetched, the copy due). Its recording is seeded in the sim.
void AddBacklogIntake(telnyx_sim::TelnyxSim& sim, int i, int64_t t, std::vector<core::Event>& out) {
  char id[32], phone[32];
  std::snprintf(id, sizeof id, "backlog-%05d", i);
  std::snprintf(phone, sizeof phone, "+1557%07d", i);
  telnyx_sim::CallSpec spec;
  spec.to = phone;
  spec.answer_after_ms = -1;
  spec.hangup_after_ms = -1;
  spec.send_recording_saved = false;
  auto ids = sim.PlaceCall(spec);
  if (!ids.ok()) Die("sim call: " + ids.status().ToString());
  telnyx_sim::RecordStartParams params{"wav", "dual", id, std::string("seed-") + id, std::nullopt, 0};
  if (!sim.AnswerCall(ids->call_control_id).ok() || sim.world().RecordStart(ids->call_control_id, params) ||
      !sim.HangupCall(ids->call_control_id).ok())
    Die("sim: could not seed a recording");
  std::string call_json = sim.world().CallJson(ids->call_control_id).value_or("");
  const std::string key = "\"recording_ids\":[\"";
  size_t at = call_json.find(key);
  if (at == std::string::npos) Die("sim: seeded call has no recording");
  at += key.size();
  std::string rec_id = call_json.substr(at, call_json.find('"', at) - at);

  core::JsonWriter created;
  created.BeginObject().Key("id").String(id).Key("patient_phone").String(phone).Key("patient_id").Null().EndObject();
  out.push_back(Ev("intake.created", core::source::kApi, id, t, created.Take(), std::string("intake.created:") + id));
  out.push_back(Webhook("call.answered", *ids, phone, t + 5000));
  out.push_back(Ev("telnyx.record_start", core::source::kTelnyxApi, id, t + 5100,
                   R"({"request":{"method":"POST","path":"/v2/calls/x/actions/record_start"},"status":200,)"
                   R"("duration_ms":90,"outcome":"ok","error":null,"retry_at":null,"body":{"data":{"result":"ok"}}})"));
  out.push_back(Webhook("call.hangup", *ids, phone, t + 65'000));
  core::JsonWriter sched;
  sched.BeginObject().Key("query").Int(1).Key("fetch_attempts").Int(0);
  sched.Key("due_at").String(core::FormatRfc3339Millis(t + 185'000)).Key("reason").String("after hangup").EndObject();
  out.push_back(Ev("recording.fetch_scheduled", core::source::kScheduler, id, t + 65'100, sched.Take()));
  if (i % 2 == 0) return;  // ended: the query is due
  core::JsonWriter m;
  m.BeginObject().Key("recording_id").String(rec_id);
  m.Key("recording_url_telnyx").String(sim.base_url() + "/media/expired.wav");
  m.Key("recording_duration").Double(60).Key("recording_created_at").String(core::FormatRfc3339Millis(t + 66'000));
  m.Key("channels").String("dual").Key("verified_ids").BeginArray().String(rec_id).EndArray();
  m.Key("via").String("poll").EndObject();
  out.push_back(Ev("recording.matched", core::source::kScheduler, id, t + 186'000, m.Take()));
}

struct Store {
  uint64_t events = 0;  // in the log before serve started
};

Store WriteStore(const Options& o, const std::string& dir, telnyx_sim::TelnyxSim& sim, bool with_history) {
  Store s;
  if (!with_history) return s;
  core::SystemClock clock;
  auto store = core::EventStore::Open(dir, clock);
  if (!store.ok()) Die("open store: " + store.status().ToString());
  std::vector<core::Event> batch;
  auto flush = [&] {
    if (!(*store)->AppendAll(std::move(batch), core::Durability::kNoSync).ok()) Die("append");
    batch.clear();
  };
  bench::HistoryGenerator gen(42);
  gen.Generate(o.events, [&](core::Event e) {
    batch.push_back(std::move(e));
    if (batch.size() >= 1000) flush();
  });
  // The backlog happened during the last hour (an outage): its recordings are at the sim.
  if (!sim.SetFaults(R"({"recording_delay_ms":0})").ok()) Die("sim faults");
  int64_t t0 = clock.WallMillis() - 3'600'000;
  for (int i = 0; i < o.backlog; ++i) {
    AddBacklogIntake(sim, i, t0 + int64_t(i) * 300, batch);
    if (batch.size() >= 1000) flush();
  }
  flush();
  if (!sim.SetFaults(R"({"recording_delay_ms":1000})").ok()) Die("sim faults");
  s.events = (*store)->LastSeq();
  return s;
}

// ---- serve as a subprocess ----

int64_t RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  return 0;
}

std::string CallrecPath() {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "callrec").string();
}

pid_t StartServe(const Options& o, const std::string& dir, telnyx_sim::TelnyxSim& sim) {
  std::vector<std::string> argv = {CallrecPath(), "serve", "--data-dir", dir + "/store",
                                   "--listen", "127.0.0.1:0", "--port-file", dir + "/port",
                                   "--telnyx-api-base", sim.base_url(),
                                   "--telnyx-public-key", sim.public_key_base64(),
                                   "--storage", "fs", "--storage-dir", dir + "/recordings",
                                   "--fetch-delay", o.fetch_delay};
  argv.insert(argv.end(), o.serve_args.begin(), o.serve_args.end());
  pid_t pid = ::fork();
  if (pid == 0) {
    std::FILE* log = std::fopen((dir + "/serve.log").c_str(), "w");
    if (log) {
      ::dup2(::fileno(log), 1);
      ::dup2(::fileno(log), 2);
    }
    ::setenv("TELNYX_API_KEY", "KEYbench", 1);
    ::setenv("CALLREC_ADMIN_TOKEN", "bench-token", 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int WaitReady(const std::string& dir, pid_t pid) {
  for (auto t0 = Steady::now(); Since(t0) < 120;) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      g_serve = 0;
      Die("serve exited at start; see " + dir + "/serve.log");
    }
    std::ifstream in(dir + "/port");
    int port = 0;
    if (in >> port && port > 0) {
      httplib::Client c("127.0.0.1", port);
      if (auto r = c.Get("/readyz"); r && r->status == 200) return port;
    }
    std::this_thread::sleep_for(5ms);
  }
  Die("serve not ready after 120 s");
}

// ---- one run ----

struct Figures {
  uint64_t store_events = 0;
  double ready_s = 0;
  int64_t rss_ready_kb = 0, rss_after_kb = 0;
  std::vector<double> record_start_ms, attached_ms, stored_ms;
  int stored = 0, calls = 0;
  int lost_call_over = 0, lost_other = 0;  // live intakes not stored, by why
  double copies_per_s = 0, queries_per_s = 0;
  std::string depth_start, depth_end;
};

std::string LaneDepths(httplib::Client& c) {
  auto r = c.Get("/metrics");
  std::string out;
  for (const char* lane : {"live", "query", "copy"}) {
    std::string key = std::string("callrec_lane_queue_depth{lane=\"") + lane + "\"} ";
    size_t at = r ? r->body.find(key) : std::string::npos;
    out += (out.empty() ? "" : "/") + (at == std::string::npos ? std::string("?") : std::to_string(std::atoll(r->body.c_str() + at + key.size())));
  }
  return out;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

Figures RunOnce(const Options& o, telnyx_sim::TelnyxSim& sim, bool with_history) {
  std::string dir = (std::filesystem::temp_directory_path() /
                     ("callrec-steady-" + std::to_string(::getpid()) + (with_history ? "-history" : "-empty"))).string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  g_dirs.push_back(dir);
  Figures f;
  std::fprintf(stderr, "steady_state_bench: %s store: writing...\n", with_history ? "history" : "empty");
  f.store_events = WriteStore(o, dir + "/store", sim, with_history).events;
  if (with_history) {  // a months-old store has its derived data: replay builds it
    std::string cmd = CallrecPath() + " replay --data-dir " + dir + "/store >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) Die("callrec replay failed");
  }
  std::fprintf(stderr, "steady_state_bench: starting serve on %llu events\n", (unsigned long long)f.store_events);
  auto t_exec = Steady::now();
  g_serve = StartServe(o, dir, sim);
  int port = WaitReady(dir, g_serve);
  f.ready_s = Since(t_exec);
  f.rss_ready_kb = RssKb(g_serve);
  int64_t wall_ready = core::SystemClock().WallMillis();
  httplib::Client api("127.0.0.1", port);
  api.set_bearer_token_auth("bench-token");
  f.depth_start = LaneDepths(api);

  // Live calls at --rate per second.
  std::map<std::string, std::string> intake_of_ccid;
  std::vector<std::string> live;
  std::string hook = "http://127.0.0.1:" + std::to_string(port) + "/api/webhooks/telnyx/call-events";
  auto t_calls = Steady::now();
  for (int i = 0; i < o.calls; ++i) {
    std::this_thread::sleep_until(t_calls + std::chrono::milliseconds(int64_t(1000.0 * i / o.rate)));
    char id[40], phone[32];
    std::snprintf(id, sizeof id, "live-%s-%04d", with_history ? "h" : "e", i);
    std::snprintf(phone, sizeof phone, "+1556%07d", i);
    std::string body = std::string(R"({"id":")") + id + R"(","patient_phone":")" + phone + "\"}";
    auto r = api.Post("/api/intakes", body, "application/json");
    if (!r || r->status != 201) Die("POST /api/intakes: " + (r ? std::to_string(r->status) + " " + r->body : "no answer"));
    telnyx_sim::CallSpec spec;
    spec.to = phone;
    spec.webhook_url = hook;
    spec.answer_after_ms = 50;
    spec.hangup_after_ms = 300;
    spec.send_recording_saved = false;
    auto ids = sim.PlaceCall(spec);
    if (!ids.ok()) Die("sim call: " + ids.status().ToString());
    intake_of_ccid[ids->call_control_id] = id;
    live.push_back(id);
  }
  // Until every live intake is stored or failed, or the deadline.
  std::set<std::string> open(live.begin(), live.end());
  auto deadline = Steady::now() + std::chrono::milliseconds(o.fetch_delay_ms) + 60s;
  while (!open.empty() && Steady::now() < deadline) {
    for (auto it = open.begin(); it != open.end();) {
      auto r = api.Get("/api/intakes/" + *it);
      std::string state = r ? Str(r->body, "/state") : "";
      it = (state == "stored" || state == "failed") ? open.erase(it) : std::next(it);
    }
    std::this_thread::sleep_for(250ms);
  }
  f.rss_after_kb = RssKb(g_serve);
  f.depth_end = LaneDepths(api);
  int64_t wall_end = core::SystemClock().WallMillis();
  ::kill(g_serve, SIGTERM);
  ::waitpid(g_serve, nullptr, 0);
  g_serve = 0;

  // The figures, from the event log as serve wrote it.
  core::SystemClock clock;
  auto store = core::EventStore::Open(dir + "/store", clock);
  if (!store.ok()) Die("reopen store: " + store.status().ToString());
  std::set<std::string> live_set(live.begin(), live.end());
  std::map<std::string, int64_t> answered, hangup, sent, attached, stored_at;
  std::set<std::string> stored, call_over;
  uint64_t copies = 0, queries = 0;
  auto read = (*store)->ForEachFrom(f.store_events + 1, [&](const core::Event& e) {
    if (e.type == "telnyx.webhook") {
      auto it = intake_of_ccid.find(Str(e.payload, "/data/payload/call_control_id"));
      std::string type = Str(e.payload, "/data/event_type");
      if (it != intake_of_ccid.end() && type == "call.answered") answered.emplace(it->second, e.recorded_at_ms);
      if (it != intake_of_ccid.end() && type == "call.hangup") hangup.emplace(it->second, e.recorded_at_ms);
      return true;
    }
    bool is_live = live_set.count(e.intake_id) > 0;
    bool in_window = e.recorded_at_ms >= wall_ready && e.recorded_at_ms <= wall_end;
    if (e.type == "telnyx.record_start" && is_live)
      sent.emplace(e.intake_id, e.recorded_at_ms - Int(e.payload, "/duration_ms"));
    // 422 90018: the request reached the sim after the call had ended (it lasts 300 ms).
    if (e.type == "telnyx.record_start" && is_live && e.payload.find("\"90018\"") != std::string::npos)
      call_over.insert(e.intake_id);
    if (e.type == "recording.matched" && is_live) attached.emplace(e.intake_id, e.recorded_at_ms);
    bool ok_upload = e.type == "storage.upload" && Str(e.payload, "/outcome") == "ok";
    if (ok_upload && is_live) stored.insert(e.intake_id);
    if (ok_upload && is_live) stored_at.emplace(e.intake_id, e.recorded_at_ms);
    if (!is_live && in_window && e.type == "storage.upload") ++copies;
    if (!is_live && in_window && e.type == "telnyx.recordings_list") ++queries;
    return true;
  });
  if (!read.ok()) Die("read log: " + read.ToString());
  for (auto& [id, at] : answered)
    if (sent.count(id)) f.record_start_ms.push_back(double(sent[id] - at));
  for (auto& [id, at] : hangup)
    if (attached.count(id)) f.attached_ms.push_back(double(attached[id] - at));
  for (auto& [id, at] : hangup)
    if (stored_at.count(id)) f.stored_ms.push_back(double(stored_at[id] - at));
  f.calls = o.calls;
  f.stored = int(stored.size());
  for (const std::string& id : live)
    if (!stored.count(id)) (call_over.count(id) ? f.lost_call_over : f.lost_other)++;
  double window_s = std::max(1.0, double(wall_end - wall_ready) / 1000.0);
  f.copies_per_s = double(copies) / window_s;
  f.queries_per_s = double(queries) / window_s;
  return f;
}

void Print(const Options& o, const Figures& empty, const Figures& full) {
  auto row = [&](const char* what, const std::string& a, const std::string& b) {
    std::printf("  %-44s %18s %24s\n", what, a.c_str(), o.empty_only ? "" : b.c_str());
  };
  auto num = [](const char* fmt, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, fmt, v);
    return std::string(buf);
  };
  auto pair = [&](const std::vector<double>& v) {
    return num("%.0f", Percentile(v, 0.5)) + " / " + num("%.0f ms", Percentile(v, 0.99));
  };
  std::printf("steady-state: %d live calls at %.1f/s (answer 50 ms, hang up 300 ms later), %s, "
              "--fetch-delay %s\n", o.calls, o.rate,
              o.no_latency ? "no configured latency" : "API 50-150 ms, media 1-3 s", o.fetch_delay.c_str());
  char hist[64];
  std::snprintf(hist, sizeof hist, "%llu events", (unsigned long long)full.store_events);
  row("store", "empty", hist);
  row("ready (exec -> /readyz 200)", num("%.2f s", empty.ready_s), num("%.2f s", full.ready_s));
  row("RSS at ready / after the calls", num("%.0f", empty.rss_ready_kb / 1024.0) + " / " + num("%.0f MB", empty.rss_after_kb / 1024.0),
      num("%.0f", full.rss_ready_kb / 1024.0) + " / " + num("%.0f MB", full.rss_after_kb / 1024.0));
  row("call.answered -> record_start sent p50 / p99", pair(empty.record_start_ms), pair(full.record_start_ms));
  row("call.hangup -> recording attached p50 / p99", pair(empty.attached_ms), pair(full.attached_ms));
  row("call.hangup -> copy stored p50 / p99", pair(empty.stored_ms), pair(full.stored_ms));
  row("live calls stored", std::to_string(empty.stored) + " of " + std::to_string(empty.calls),
      std::to_string(full.stored) + " of " + std::to_string(full.calls));
  row("not stored: record_start after the hangup / other", std::to_string(empty.lost_call_over) + " / " + std::to_string(empty.lost_other),
      std::to_string(full.lost_call_over) + " / " + std::to_string(full.lost_other));
  row("backlog copies / queries finished per s", num("%.1f", empty.copies_per_s) + " / " + num("%.1f", empty.queries_per_s),
      num("%.1f", full.copies_per_s) + " / " + num("%.1f", full.queries_per_s));
  row("due steps live/query/copy: at ready", empty.depth_start, full.depth_start);
  row("due steps live/query/copy: at the end", empty.depth_end, full.depth_end);
  std::printf("targets: record_start p99 <= 250 ms, hangup -> attached p99 <= fetch delay + 2 s (%lld ms), "
              "%d of %d stored\n", (long long)(o.fetch_delay_ms + 2000), o.calls, o.calls);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--events") o.events = std::strtoull(value().c_str(), nullptr, 10);
    else if (flag == "--backlog") o.backlog = std::atoi(value().c_str());
    else if (flag == "--calls") o.calls = std::max(1, std::atoi(value().c_str()));
    else if (flag == "--rate") o.rate = std::max(0.1, std::atof(value().c_str()));
    else if (flag == "--fetch-delay") o.fetch_delay = value();
    else if (flag == "--serve-arg") o.serve_args.push_back(value());
    else if (flag == "--keep") o.keep = true;
    else if (flag == "--no-latency") o.no_latency = true;
    else if (flag == "--empty-only") o.empty_only = true;
    else Die("unknown flag " + flag + " (--events N --backlog N --calls N --rate R --fetch-delay D --serve-arg A "
             "--keep --no-latency --empty-only)");
  }
  auto d = core::ParseDuration(o.fetch_delay);
  if (!d.ok()) Die("--fetch-delay: " + d.status().message());
  o.fetch_delay_ms = d->count();
  if (o.events < 100) Die("--events must be at least 100");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  g_keep = o.keep;
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGINT, OnSignal);
  ::signal(SIGTERM, OnSignal);
  core::SetLogLevel(core::LogLevel::kWarn);  // the sim's lines would drown the table
  core::SystemClock clock;
  telnyx_sim::SimConfig config;
  config.server_threads = 64;
  if (o.no_latency) {
    config.faults.recording_delay_ms = 0;  // (Telnyx: about a second after the hangup)
  } else {
    config.faults.latency_ms = 50;
    config.faults.latency_max_ms = 150;
    config.faults.media_latency_ms = 1000;
    config.faults.media_latency_max_ms = 3000;
  }
  auto sim = telnyx_sim::TelnyxSim::Start(config, clock);
  if (!sim.ok()) Die("telnyx-sim: " + sim.status().ToString());
  Figures empty = RunOnce(o, **sim, false);
  Figures full = o.empty_only ? Figures{} : RunOnce(o, **sim, true);
  (*sim)->Stop();
  Print(o, empty, full);
  Cleanup();
  return 0;
}
