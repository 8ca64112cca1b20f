// startup_bench — `callrec serve` on a big store: time to ready, and memory before and after more
// calls (issue 8: ready within 1 s, RSS <= 128 MB and flat across 10,000 calls on 1M events).
//
//   build/startup_bench --store DIR [--callrec build/callrec] [--calls 10000] [--clients 8]
//                       [--work /tmp/callrec-startup-bench] [--keep-work]
//
// DIR is a store such as `build/history_bench --keep --dir DIR` leaves (1,000,000 events). It is
// never modified: the bench runs on a copy in --work (SST files hard-linked, the rest copied).
// Then, in one run:
//   ready      fork+exec of `callrec serve` until GET /readyz answers 200 (polled every 2 ms)
//   RSS        VmRSS of the serve process from /proc: at ready, after 1,000 calls (caches warm),
//              after all --calls calls, and its peak (VmHWM); beside each, serve's own memory
//              gauges (heap in use / free, arenas, RocksDB cache, memtables, table readers);
//              and, since one reading lands anywhere in the allocator's trim cycle and the
//              memtables' fill-and-flush (+-10 MB), the flatness figure: the median of VmRSS
//              sampled every 200 ms while calls 1,000-2,000 ran vs while the last 1,000 ran
//   calls      each call is real HTTP on loopback, as a clinic and Telnyx would send it:
//              POST /api/intakes, then Ed25519-signed webhooks call.answered, call.hangup and
//              call.recording.saved (record mode auto, so no Telnyx API call is needed for it; the
//              intake ends `fetched`, with nothing left to do under --storage none)
// The store's backlog (ended intakes) still works against a Telnyx API base that refuses
// connections (127.0.0.1:1): those steps fail fast and back off, as during an outage.
// A program, not a test: `scripts/bench startup` runs it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "../tests/fakes/webhook_signer.h"
#include "core/json.h"
#include "core/time_format.h"

using namespace callrec;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

namespace {

constexpr char kToken[] = "startup-bench-token";

struct Options {
  std::string store;
  std::string callrec = "build/callrec";
  std::string work = "/tmp/callrec-startup-bench";
  int calls = 10000;
  int clients = 8;
  bool keep_work = false;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "startup_bench: %s\n", what.c_str());
  std::exit(1);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--store") o.store = next();
    else if (a == "--callrec") o.callrec = next();
    else if (a == "--work") o.work = next();
    else if (a == "--calls") o.calls = std::stoi(next());
    else if (a == "--clients") o.clients = std::stoi(next());
    else if (a == "--keep-work") o.keep_work = true;
    else Die("unknown flag " + a + " (see the comment at the top of bench/startup_bench.cc)");
  }
  if (o.store.empty() || !fs::exists(fs::path(o.store) / "CURRENT"))
    Die("--store must name a callrec store (build/history_bench --keep --dir DIR makes one)");
  return o;
}

// SST files never change once written, so a hard link is a copy; the rest is small.
void CopyStore(const fs::path& from, const fs::path& to) {
  fs::remove_all(to);
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    fs::path dest = to / entry.path().filename();
    std::error_code ec;
    if (entry.path().extension() == ".sst") fs::create_hard_link(entry.path(), dest, ec);
    if (entry.path().extension() != ".sst" || ec) fs::copy(entry.path(), dest, fs::copy_options::recursive);
  }
}

// kB of a /proc/<pid>/status line ("VmRSS:", "VmHWM:").
long ProcStatusKb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + field.size());
  return -1;
}

pid_t StartServe(const Options& o, const fs::path& data, const fs::path& port_file,
                 const std::string& public_key) {
  pid_t pid = fork();
  if (pid < 0) Die("fork failed");
  if (pid > 0) return pid;
  std::string log = (fs::path(o.work) / "serve.log").string();
  if (!std::freopen(log.c_str(), "w", stderr)) _exit(127);
  setenv("CALLREC_ADMIN_TOKEN", kToken, 1);
  setenv("TELNYX_API_KEY", "startup-bench", 1);
  setenv("CALLREC_LOG_LEVEL", "warn", 1);
  std::vector<std::string> args = {o.callrec, "serve", "--data-dir", data.string(), "--listen", "127.0.0.1:0",
                                   "--port-file", port_file.string(), "--telnyx-public-key", public_key,
                                   "--record-mode", "auto", "--telnyx-api-base", "http://127.0.0.1:1"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  _exit(127);
}

// Seconds from `start` until /readyz answers 200 (the port file appears first).
double WaitReady(pid_t pid, const fs::path& port_file, Steady::time_point start, int& port) {
  while (Steady::now() - start < std::chrono::seconds(600)) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) Die("serve exited early (see serve.log)");
    std::ifstream in(port_file);
    if (in >> port && port > 0) {
      httplib::Client c("127.0.0.1", port);
      c.set_connection_timeout(0, 200000);
      if (auto r = c.Get("/readyz"); r && r->status == 200)
        return std::chrono::duration<double>(Steady::now() - start).count();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  Die("serve was not ready within 600 s");
}

std::string Webhook(const std::string& type, int call, int64_t at_ms) {
  std::string n = std::to_string(call);
  core::JsonWriter w;
  w.BeginObject().Key("data").BeginObject();
  w.Key("event_type").String(type);
  w.Key("id").String("startup-bench-" + type + "-" + n);
  w.Key("occurred_at").String(core::FormatRfc3339Millis(at_ms));
  w.Key("record_type").String("event");
  w.Key("payload").BeginObject();
  w.Key("call_control_id").String("v3:startup-bench-" + n);
  w.Key("call_leg_id").String("leg-startup-bench-" + n);
  w.Key("call_session_id").String("session-startup-bench-" + n);
  w.Key("connection_id").String("1684641123236054244");
  w.Key("direction").String("outgoing");
  w.Key("from").String("+15550100200");
  w.Key("to").String("+1556" + std::to_string(1000000 + call));
  if (type == "call.hangup") w.Key("hangup_cause").String("normal_clearing");
  if (type == "call.recording.saved") {
    w.Key("recording_id").String("rec-startup-bench-" + n);
    w.Key("recording_started_at").String(core::FormatRfc3339Millis(at_ms - 60000));
    w.Key("recording_ended_at").String(core::FormatRfc3339Millis(at_ms - 1000));
    w.Key("channels").String("dual");
    w.Key("recording_urls").BeginObject();
    w.Key("wav").String("https://recordings.example/startup-bench-" + n + "-1763651052.wav");
    w.EndObject();
  }
  w.EndObject().EndObject();
  w.Key("meta").BeginObject().Key("attempt").Int(1).EndObject();
  w.EndObject();
  return w.Take();
}

bool PostWebhook(httplib::Client& c, const testing::WebhookSigner& signer, const std::string& body) {
  std::string ts = std::to_string(std::time(nullptr));
  httplib::Headers h = {{"telnyx-timestamp", ts}, {"telnyx-signature-ed25519", signer.Sign(ts, body)}};
  auto r = c.Post("/api/webhooks/telnyx/call-events", h, body, "application/json");
  return r && r->status == 200;
}

// One call: the intake, then its answer, hangup and saved recording. False on any non-success.
bool PlaceCall(httplib::Client& c, const testing::WebhookSigner& signer, int call) {
  std::string phone = "+1556" + std::to_string(1000000 + call);
  std::string intake = R"({"id":"startup-bench-)" + std::to_string(call) + R"(","patient_phone":")" + phone + "\"}";
  auto r = c.Post("/api/intakes", {{"Authorization", std::string("Bearer ") + kToken}}, intake, "application/json");
  if (!r || (r->status != 201 && r->status != 202)) return false;
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  return PostWebhook(c, signer, Webhook("call.answered", call, now)) &&
         PostWebhook(c, signer, Webhook("call.hangup", call, now + 1)) &&
         PostWebhook(c, signer, Webhook("call.recording.saved", call, now + 2));
}

std::atomic<int> g_calls_done{0};  // calls finished so far, for the RSS sampler

// Places calls [from, to) from `clients` threads; returns the failures.
int PlaceCalls(int port, const testing::WebhookSigner& signer, int from, int to, int clients) {
  std::atomic<int> next{from}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&] {
      httplib::Client c("127.0.0.1", port);
      c.set_keep_alive(true);
      c.set_read_timeout(30, 0);
      for (int i = next++; i < to; i = next++) {
        if (!PlaceCall(c, signer, i)) ++failed;
        ++g_calls_done;
      }
    });
  }
  for (auto& t : threads) t.join();
  return failed.load();
}

// A gauge's value from /metrics ("name value" line), or -1.
double Metric(int port, const std::string& name) {
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get("/metrics");
  if (!r) return -1;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + " ", 0) == 0) return std::atof(line.c_str() + name.size() + 1);
  return -1;
}

// RSS, and where serve says its memory is (memory_upkeep.h: refreshed every few seconds).
void PrintRss(const char* when, pid_t pid, int port) {
  constexpr double kMb = 1024.0 * 1024.0;
  std::printf("%-28s RSS %7.1f MB   resident intakes %6.0f   applied seq %9.0f\n", when,
              ProcStatusKb(pid, "VmRSS:") / 1024.0, Metric(port, "callrec_projector_resident_intakes"),
              Metric(port, "callrec_projector_applied_seq"));
  std::printf("%-28s heap in use %.1f / free %.1f MB, %.0f arenas; RocksDB cache %.1f (memtables %.1f), "
              "table readers %.1f MB\n", "", Metric(port, "callrec_heap_bytes{kind=\"in_use\"}") / kMb,
              Metric(port, "callrec_heap_bytes{kind=\"free\"}") / kMb, Metric(port, "callrec_heap_arenas"),
              Metric(port, "callrec_store_memory_bytes{kind=\"cache\"}") / kMb,
              Metric(port, "callrec_store_memory_bytes{kind=\"memtables\"}") / kMb,
              Metric(port, "callrec_store_memory_bytes{kind=\"table_readers\"}") / kMb);
}

// VmRSS every 200 ms with the number of calls finished at that moment, until stopped.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid)
      : thread_([this, pid] {
          while (!stop_) {
            samples_.emplace_back(g_calls_done.load(), ProcStatusKb(pid, "VmRSS:"));
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
          }
        }) {}
  // Stops sampling; then the median RSS (kB) of the samples taken while calls [from, to) ran.
  long MedianKb(int from, int to) {
    Stop();
    std::vector<long> in;
    for (auto [done, kb] : samples_)
      if (done >= from && done < to && kb > 0) in.push_back(kb);
    if (in.empty()) return -1;
    std::nth_element(in.begin(), in.begin() + in.size() / 2, in.end());
    return in[in.size() / 2];
  }
  ~RssSampler() { Stop(); }

 private:
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::atomic<bool> stop_{false};
  std::vector<std::pair<int, long>> samples_;  // written by thread_ only until Stop()
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  fs::path work(o.work), data = work / "store", port_file = work / "port";
  std::printf("copying %s to %s (SSTs hard-linked)\n", o.store.c_str(), data.c_str());
  CopyStore(o.store, data);
  fs::remove(port_file);
  testing::WebhookSigner signer;

  Steady::time_point start = Steady::now();
  pid_t pid = StartServe(o, data, port_file, signer.PublicKeyBase64());
  int port = 0;
  double ready_s = WaitReady(pid, port_file, start, port);
  std::printf("exec -> /readyz 200           %.3f s\n", ready_s);
  PrintRss("at ready", pid, port);

  int warm = std::min(1000, o.calls);
  Steady::time_point calls_start = Steady::now();
  RssSampler sampler(pid);
  int failed = PlaceCalls(port, signer, 0, warm, o.clients);
  PrintRss(("after " + std::to_string(warm) + " calls").c_str(), pid, port);
  long rss_warm = ProcStatusKb(pid, "VmRSS:");
  failed += PlaceCalls(port, signer, warm, o.calls, o.clients);
  double calls_s = std::chrono::duration<double>(Steady::now() - calls_start).count();
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let the projector and actor settle
  PrintRss(("after " + std::to_string(o.calls) + " calls").c_str(), pid, port);
  long rss_end = ProcStatusKb(pid, "VmRSS:");
  std::printf("peak RSS (VmHWM)             %7.1f MB\n", ProcStatusKb(pid, "VmHWM:") / 1024.0);
  std::printf("%d calls (4 requests each) in %.1f s, %d failed\n", o.calls, calls_s, failed);
  if (rss_warm > 0)
    std::printf("RSS change from %d to %d calls: %+.1f %%\n", warm, o.calls,
                100.0 * double(rss_end - rss_warm) / double(rss_warm));

  if (o.calls >= 2 * warm && warm > 0) {
    long first = sampler.MedianKb(warm, 2 * warm), last = sampler.MedianKb(o.calls - warm, o.calls);
    if (first > 0 && last > 0)
      std::printf("RSS median while calls %d-%d / %d-%d ran: %.1f / %.1f MB, change %+.1f %% (target +-10 %%)\n",
                  warm, 2 * warm, o.calls - warm, o.calls, first / 1024.0, last / 1024.0,
                  100.0 * double(last - first) / double(first));
  }

  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!o.keep_work) fs::remove_all(work);
  return failed == 0 ? 0 : 1;
}
