// storage_rss_bench — memory of copying one long recording: download from Telnyx's URL, the
// audio check, and the resumable upload to Supabase Storage, as callrec's StepRunner::Store
// does it (DownloadMedia -> VerifyMedia -> SupabaseStorage::Store, over CurlTransport).
//
//   build/storage_rss_bench [--minutes 60] [--repeat 3]
// Starts build/telnyx-sim as a child process (so the sim's own memory is not counted) serving a
// dual-channel 8 kHz 16-bit WAV of --minutes (60: 115.2 MB), places one auto-recorded call,
// then copies its recording --repeat times. For each copy it prints the RSS before, the peak
// RSS during it (VmHWM, reset through /proc/self/clear_refs) and the growth, the time per
// phase and MB/s; then the median growth and its ratio to the file size. The goal: growth
// <= 16 MB for a 60-minute call, whatever the length. A program, not a test: scripts/bench runs it.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "projector/clients/curl_transport.h"
#include "projector/clients/media.h"
#include "projector/clients/recording_storage.h"

extern char** environ;

using namespace callrec;
using namespace callrec::projector;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "storage_rss_bench: %s\n", why.c_str());
  std::exit(1);
}

// A field of /proc/self/status in kB ("VmRSS", "VmHWM").
long StatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0 && line[std::strlen(field)] == ':')
      return std::atol(line.c_str() + std::strlen(field) + 1);
  return -1;
}

// Makes VmHWM start again from the current RSS (Linux: "5" to clear_refs).
bool ResetPeak() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return bool(out);
}

double Seconds(Steady::time_point from) {
  return std::chrono::duration<double>(Steady::now() - from).count();
}

class SimProcess {
 public:
  SimProcess(const std::string& binary, int minutes, const std::string& dir) {
    const std::string port_file = dir + "/sim.port";
    std::vector<std::string> args = {binary, "serve", "--listen", "127.0.0.1:0", "--port-file",
                                     port_file, "--media-duration", std::to_string(minutes) + "m",
                                     "--recording-delay", "0s", "--storage-key", "sb_secret_bench"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, (dir + "/sim.log").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ) != 0)
      Die("cannot start " + binary);
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < 500 && port_.empty(); ++i) {
      std::ifstream in(port_file);
      std::getline(in, port_);
      if (port_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (port_.empty()) Die("telnyx-sim did not start; see " + dir + "/sim.log");
  }
  ~SimProcess() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  std::string base() const { return "http://127.0.0.1:" + port_; }

 private:
  pid_t pid_ = -1;
  std::string port_;
};

HttpResponse Call(HttpTransport& t, const std::string& method, const std::string& url,
                  const std::string& body = "") {
  HttpRequest r;
  r.method = method;
  r.url = url;
  r.body = body;
  if (!body.empty()) r.headers.emplace_back("content-type", "application/json");
  r.total_timeout = std::chrono::minutes(2);
  auto res = t.Send(r);
  if (!res.ok()) Die(method + " " + url + ": " + res.status().ToString());
  return *res;
}

// Places an auto-recorded call on the sim and returns its recording's WAV download URL.
std::string RecordingUrl(HttpTransport& t, const std::string& base) {
  Call(t, "POST", base + "/sim/calls",
       R"({"to":"+15550100999","auto_record":true,"answer_after_ms":0,"hangup_after_ms":50,)"
       R"("send_recording_saved":false})");
  for (int i = 0; i < 200; ++i) {
    HttpResponse list = Call(t, "GET", base + "/v2/recordings");
    simdjson::dom::parser parser;
    auto root = core::ParseJson(parser, list.body);
    if (root.ok()) {
      if (auto url = core::JsonString(*root, "/data/0/download_urls/wav")) return std::string(*url);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Die("the sim's recording never appeared");
}

struct Copy {
  long rss_before_kb, peak_kb, rss_after_kb;
  double download_s, verify_s, upload_s;
  uint64_t bytes;
};

// One copy, the way StepRunner::Store makes it.
Copy CopyOnce(HttpTransport& t, SupabaseStorage& storage, const std::string& url,
              const std::string& temp) {
  Copy c{};
  if (!ResetPeak()) Die("cannot reset VmHWM through /proc/self/clear_refs");
  c.rss_before_kb = StatusKb("VmRSS");
  auto start = Steady::now();
  DownloadResult d = DownloadMedia(t, url, temp);
  if (!d.ok()) Die("download: " + d.error);
  c.download_s = Seconds(start);
  start = Steady::now();
  auto info = VerifyMedia(temp, MediaFormat::kWav);
  if (!info.ok()) Die("verify: " + info.status().ToString());
  c.verify_s = Seconds(start);
  start = Steady::now();
  auto stored = storage.Store("bench_intake", temp, "wav", info->sha256);
  if (!stored.ok()) Die("store: " + stored.status().ToString());
  c.upload_s = Seconds(start);
  c.bytes = stored->bytes;
  c.peak_kb = StatusKb("VmHWM");
  c.rss_after_kb = StatusKb("VmRSS");
  fs::remove(temp);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  int minutes = 60, repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--minutes") minutes = std::atoi(argv[i + 1]);
    else if (flag == "--repeat") repeat = std::atoi(argv[i + 1]);
    else Die("usage: storage_rss_bench [--minutes N] [--repeat N]");
  }
  if (minutes < 1 || repeat < 1) Die("--minutes and --repeat must be >= 1");
  core::SetLogLevel(core::LogLevel::kWarn);  // one line per copy below, not three
  const fs::path self = fs::read_symlink("/proc/self/exe");
  const std::string dir = (fs::temp_directory_path() / ("storage_rss_bench." + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  {
    SimProcess sim((self.parent_path() / "telnyx-sim").string(), minutes, dir);
    CurlTransport transport;  // warmed by the calls below, as a running service's is
    std::string url = RecordingUrl(transport, sim.base());
    core::SystemClock clock;
    SupabaseStorage storage(transport, clock, sim.base(), "call-recordings", "sb_secret_bench");
    std::printf("storage_rss_bench: %d-minute dual-channel 8 kHz 16-bit WAV, download -> verify -> "
                "resumable upload (6 MB chunks) via telnyx-sim\n", minutes);
    std::vector<long> growth;
    for (int i = 0; i < repeat; ++i) {
      Copy c = CopyOnce(transport, storage, url, dir + "/recording.part");
      double mb = double(c.bytes) / 1e6;
      double total = c.download_s + c.verify_s + c.upload_s;
      growth.push_back(c.peak_kb - c.rss_before_kb);
      std::printf("copy %d: %.1f MB  RSS before %ld kB, peak %ld kB (+%ld kB), after %ld kB  "
                  "download %.2fs verify %.2fs upload %.2fs  total %.2fs (%.0f MB/s)\n",
                  i + 1, mb, c.rss_before_kb, c.peak_kb, c.peak_kb - c.rss_before_kb,
                  c.rss_after_kb, c.download_s, c.verify_s, c.upload_s, total, mb / total);
      std::fflush(stdout);
    }
    std::sort(growth.begin(), growth.end());
    long median = growth[growth.size() / 2], worst = growth.back();
    std::printf("peak RSS growth: median %ld kB, worst %ld kB = %.2f MB (limit 16 MB: %s); "
                "worst / file size = %.4f\n",
                median, worst, worst / 1024.0, worst <= 16 * 1024 ? "ok" : "OVER",
                worst * 1024.0 / (double(minutes) * 60 * 8000 * 2 * 2 + 44));
  }
  fs::remove_all(dir);
  return 0;
}
