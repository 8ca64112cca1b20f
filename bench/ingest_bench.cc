// ingest_bench — the servers scripts/bench-ingest drives with wrk, and the signed load it sends.
//
//   ingest_bench gen --out-dir DIR --sample data/webhooks/webhook.call.answered.json [--unique N]
//       Makes an Ed25519 key pair (like Telnyx's), writes DIR/public_key.txt, and signs webhook
//       bodies with the current time: DIR/unique.tsv holds N deliveries of the sample
//       call.answered with distinct data.id values, DIR/duplicate.tsv one delivery (sent over and
//       over it measures the redelivery path). Lines are "<timestamp>\t<signature>\t<body>".
//   ingest_bench bare --port-file F
//       Plain httplib::Server configured with ServerTuning's values (TCP_NODELAY, keep-alive
//       count, 64-thread pool, backlog raised), answering every POST with a constant 200.
//   ingest_bench tuned --port-file F
//       TunedServer (callrec's connection handling) answering the same constant 200.
//   ingest_bench service --port-file F --data-dir D --public-key-file K
//       The real HttpService: signature check, simdjson, EventStore::Append(kSync), logs to
//       stderr. On SIGTERM prints "stored=N duplicates=M signature_failures=K requests=R
//       cpu_us=C peak_rss_kb=P": R = N + M + K the deliveries it answered, C the process's CPU
//       time (user + system, getrusage, every thread) from listening to the stop signal, P its
//       peak RSS (ru_maxrss, i.e. VmHWM) under that load.
//   ingest_bench verify --in DIR/unique.tsv --public-key-file K [--bodies 2000] [--rounds 3]
//       One Ed25519 verify, in a tight loop over the same signed deliveries, with OpenSSL 3's
//       EVP_DigestVerify and with libsodium's crypto_sign_verify_detached, alternating (rounds
//       of >= 0.5 s CPU each). Prints "verify_us openssl=X sodium=Y": the median thread CPU
//       time per verify.
// Servers listen on 127.0.0.1 port 0, write the port to --port-file, and stop on SIGTERM/SIGINT.
// A program, not a test.
#include <openssl/evp.h>
#include <signal.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/event_store.h"
#include "core/json.h"
#include "core/log.h"
#include "ingest/http_service.h"
#include "ingest/tuned_server.h"

using namespace callrec;

namespace {

std::map<std::string, std::string> Flags(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 2; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  return flags;
}

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "ingest_bench: %s\n", message.c_str());
  std::exit(1);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) Die("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The sample delivery on one line (wrk's Lua script reads a line per request).
std::string OneLineSample(const std::string& path) {
  std::string body = ReadFile(path);
  std::string out;
  size_t len = 0;
  out.resize(body.size());
  if (simdjson::minify(body.data(), body.size(), out.data(), len)) Die("sample is not JSON");
  out.resize(len);
  return out;
}

int Gen(const std::map<std::string, std::string>& flags) {
  if (!flags.count("--out-dir") || !flags.count("--sample")) Die("--out-dir and --sample are required");
  std::string dir = flags.at("--out-dir");
  size_t unique = flags.count("--unique") ? std::stoul(flags.at("--unique")) : 100000;
  EVP_PKEY* key = nullptr;
  EVP_PKEY_CTX* kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
  if (!kctx || EVP_PKEY_keygen_init(kctx) != 1 || EVP_PKEY_keygen(kctx, &key) != 1) Die("keygen failed");
  EVP_PKEY_CTX_free(kctx);
  unsigned char raw[32];
  size_t raw_len = sizeof raw;
  EVP_PKEY_get_raw_public_key(key, raw, &raw_len);
  std::ofstream(dir + "/public_key.txt") << core::Base64Encode(std::string_view((char*)raw, raw_len)) << "\n";

  std::string ts = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch()).count());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  auto line = [&](const std::string& body) {
    std::string message = ts + "|" + body;
    unsigned char sig[64];
    size_t sig_len = sizeof sig;
    EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key);
    EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char*)message.data(), message.size());
    return ts + "\t" + core::Base64Encode(std::string_view((char*)sig, sig_len)) + "\t" + body + "\n";
  };
  std::string sample = OneLineSample(flags.at("--sample"));
  const std::string kId = "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0";
  size_t at = sample.find(kId);
  std::ofstream out(dir + "/unique.tsv");
  char id[48];
  for (size_t i = 0; i < unique; ++i) {
    std::snprintf(id, sizeof id, "b3c1a8e2-0000-4000-8000-%012zx", i);
    std::string body = sample;
    body.replace(at, kId.size(), id);
    out << line(body);
  }
  std::ofstream(dir + "/duplicate.tsv") << line(sample);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  std::printf("wrote %zu unique and 1 duplicate signed deliveries to %s\n", unique, dir.c_str());
  return 0;
}

// Blocks SIGTERM/SIGINT in every thread (call before starting any), then waits for one.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}
void WaitForStopSignal(const sigset_t& set) {
  int sig = 0;
  sigwait(&set, &sig);
}

void WritePort(const std::map<std::string, std::string>& flags, int port) {
  if (!flags.count("--port-file")) Die("--port-file is required");
  std::string tmp = flags.at("--port-file") + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::filesystem::rename(tmp, flags.at("--port-file"));
}

void ConstantRoutes(httplib::Server& s) {
  s.Post("/api/webhooks/telnyx/call-events", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"received":true,"seq":1,"duplicate":false})", "application/json");
  });
}

int Bare(const std::map<std::string, std::string>& flags) {
  sigset_t signals = BlockStopSignals();
  ingest::ServerTuning t;  // the same values, through the library's own API
  httplib::Server s;
  s.set_tcp_nodelay(t.tcp_nodelay);
  s.set_keep_alive_max_count(t.keep_alive_max_count);
  s.set_keep_alive_timeout(t.keep_alive_timeout.count() / 1000);
  s.set_read_timeout(t.read_timeout);
  s.set_write_timeout(t.write_timeout);
  s.new_task_queue = [n = t.worker_threads] { return new httplib::ThreadPool(n); };
  int listen_fd = -1;
  s.set_socket_options([&](socket_t fd) {
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    listen_fd = fd;
  });
  ConstantRoutes(s);
  int port = s.bind_to_any_port("127.0.0.1");
  if (port <= 0 || ::listen(listen_fd, t.listen_backlog) != 0) Die("bind failed");
  std::thread listener([&] { s.listen_after_bind(); });
  while (!s.is_running()) std::this_thread::yield();
  WritePort(flags, port);
  WaitForStopSignal(signals);
  s.stop();
  listener.join();
  return 0;
}

int Tuned(const std::map<std::string, std::string>& flags) {
  sigset_t signals = BlockStopSignals();
  ingest::TunedServer s(ingest::ServerTuning{}, nullptr);
  ConstantRoutes(s);
  auto port = s.Bind("127.0.0.1", 0);
  if (!port.ok()) Die(port.status().ToString());
  std::thread listener([&] { s.Listen(); });
  while (!s.is_running()) std::this_thread::yield();
  WritePort(flags, *port);
  WaitForStopSignal(signals);
  s.BeginStop();
  listener.join();
  return 0;
}

// CPU time (user + system) of the whole process, every thread, in seconds.
double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return double(tv.tv_sec) + double(tv.tv_usec) / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

struct SignedDelivery {
  std::string message;    // "<timestamp>|<body>", the signed bytes
  std::string signature;  // the 64 raw bytes
};

std::vector<SignedDelivery> ReadDeliveries(const std::string& path, size_t max) {
  std::ifstream in(path);
  if (!in) Die("cannot read " + path);
  std::vector<SignedDelivery> out;
  for (std::string line; out.size() < max && std::getline(in, line);) {
    size_t t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    if (t1 == std::string::npos || t2 == std::string::npos) Die("malformed line in " + path);
    auto sig = core::Base64Decode(std::string_view(line).substr(t1 + 1, t2 - t1 - 1));
    if (!sig.ok() || sig->size() != 64) Die("bad signature in " + path);
    out.push_back({line.substr(0, t1) + "|" + line.substr(t2 + 1), *sig});
  }
  if (out.empty()) Die(path + " holds no deliveries");
  return out;
}

// CPU microseconds per verify over >= 0.5 s of thread CPU; dies if any signature fails.
template <typename VerifyFn>
double VerifyRound(const std::vector<SignedDelivery>& deliveries, VerifyFn verify) {
  double t0 = ThreadCpuSeconds(), elapsed = 0;
  size_t n = 0;
  while (elapsed < 0.5) {
    for (const auto& d : deliveries) {
      if (!verify(d)) Die("a signature did not verify");
    }
    n += deliveries.size();
    elapsed = ThreadCpuSeconds() - t0;
  }
  return elapsed * 1e6 / double(n);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Verify(const std::map<std::string, std::string>& flags) {
  if (!flags.count("--in") || !flags.count("--public-key-file")) Die("--in and --public-key-file are required");
  size_t bodies = flags.count("--bodies") ? std::stoul(flags.at("--bodies")) : 2000;
  int rounds = flags.count("--rounds") ? std::stoi(flags.at("--rounds")) : 3;
  auto deliveries = ReadDeliveries(flags.at("--in"), bodies);
  auto raw = core::Base64Decode(ReadFile(flags.at("--public-key-file")).substr(0, 44));
  if (!raw.ok() || raw->size() != 32) Die("public key file: expected base64 of 32 raw bytes");
  const auto* pk = reinterpret_cast<const unsigned char*>(raw->data());
  if (sodium_init() < 0) Die("sodium_init failed");
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pk, 32);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (key == nullptr || ctx == nullptr) Die("OpenSSL key setup failed");
  auto openssl = [&](const SignedDelivery& d) {  // as callrec did before libsodium
    EVP_MD_CTX_reset(ctx);
    return EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
           EVP_DigestVerify(ctx, (const unsigned char*)d.signature.data(), d.signature.size(),
                            (const unsigned char*)d.message.data(), d.message.size()) == 1;
  };
  auto sodium = [&](const SignedDelivery& d) {
    return crypto_sign_verify_detached((const unsigned char*)d.signature.data(),
                                       (const unsigned char*)d.message.data(), d.message.size(), pk) == 0;
  };
  std::vector<double> o, s;
  for (int r = 0; r < rounds; ++r) {  // alternating, so both see the same machine load
    o.push_back(VerifyRound(deliveries, openssl));
    s.push_back(VerifyRound(deliveries, sodium));
  }
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  std::printf("verify_us openssl=%.1f sodium=%.1f bodies=%zu rounds=%d\n", Median(o), Median(s),
              deliveries.size(), rounds);
  return 0;
}

int Service(const std::map<std::string, std::string>& flags) {
  sigset_t signals = BlockStopSignals();
  if (!flags.count("--data-dir") || !flags.count("--public-key-file")) {
    Die("--data-dir and --public-key-file are required");
  }
  core::SystemClock clock;
  auto store = core::EventStore::Open(flags.at("--data-dir"), clock);
  if (!store.ok()) Die(store.status().ToString());
  core::Metrics metrics;
  ingest::HttpServiceConfig config;
  config.listen_port = 0;
  config.telnyx_public_key = ReadFile(flags.at("--public-key-file"));
  auto service = ingest::HttpService::Create(config, **store, clock, metrics, nullptr);
  if (!service.ok()) Die(service.status().ToString());
  core::Status started = (*service)->Start();
  if (!started.ok()) Die(started.ToString());
  WritePort(flags, (*service)->port());
  double cpu_at_ready = ProcessCpuSeconds();
  WaitForStopSignal(signals);
  double cpu_us = (ProcessCpuSeconds() - cpu_at_ready) * 1e6;
  (*service)->Stop();
  uint64_t duplicates = metrics.GetCounter("callrec_webhook_duplicates_total", "")->value();
  uint64_t bad_sig = 0;
  for (const char* reason : {"missing_header", "bad_timestamp", "timestamp_too_old", "timestamp_in_future",
                             "malformed_signature", "mismatch"}) {
    bad_sig += metrics.GetCounter("callrec_webhook_signature_failures_total", "", {{"reason", reason}})->value();
  }
  uint64_t requests = (*store)->LastSeq() + duplicates + bad_sig;  // every delivery it answered
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("stored=%llu duplicates=%llu signature_failures=%llu requests=%llu cpu_us=%.0f peak_rss_kb=%ld\n",
              (unsigned long long)(*store)->LastSeq(), (unsigned long long)duplicates,
              (unsigned long long)bad_sig, (unsigned long long)requests, cpu_us, ru.ru_maxrss);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  auto flags = Flags(argc, argv);
  if (mode == "gen") return Gen(flags);
  if (mode == "bare") return Bare(flags);
  if (mode == "tuned") return Tuned(flags);
  if (mode == "service") return Service(flags);
  if (mode == "verify") return Verify(flags);
  std::fprintf(stderr, "usage: ingest_bench gen|bare|tuned|service|verify [flags]; see the file comment\n");
  return 2;
}
