#include "telnyx_sim/cli.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <httplib.h>

#include <cstdio>
#include <iostream>

#include "cli/command_line.h"
#include "core/log.h"
#include "core/time_format.h"
#include "telnyx_sim/server.h"

namespace callrec::telnyx_sim {
namespace {

constexpr const char* kDescription = R"(telnyx-sim: a local simulator of Telnyx Call Control, the Telnyx recordings API and
Supabase Storage, for tests, the demo and anyone without a Telnyx account.

  telnyx-sim serve --listen 127.0.0.1:0 --port-file /tmp/sim.port \
      --signing-key data/demo-keys/telnyx-sim-private.pem
  telnyx-sim call --sim http://127.0.0.1:PORT --to +15550123456 \
      --webhook-url http://127.0.0.1:8080/api/webhooks/telnyx/call-events

`serve` answers /v2/calls/{id}/actions/record_start, /v2/recordings[/{id}], presigned /media/...
downloads and /storage/v1/object/...; calls placed with `call` (or POST /sim/calls) send signed
webhooks. Faults: flags below at start, or POST /sim/faults at runtime (GET /sim/faults,
GET /sim/stats). See docs/telnyx-sim.md.)";

struct ServeFlags {
  std::string listen = "127.0.0.1:0";
  std::string port_file;
  std::string public_key_file;
  std::string url_expiry = "600s";
  std::string media_cap = "10s";
  std::string recording_delay = "1s";
  std::string latency = "0ms";
  std::string latency_max = "0ms";
  std::string media_latency = "0ms";
  std::string media_latency_max = "0ms";
  std::string retry_delay = "1s";
  std::string webhook_timeout = "5s";
  std::string media_duration = "0s";
  std::string tus_expiry = "1h";
  std::vector<std::string> buckets;
  std::vector<std::string> private_buckets;
  SimConfig config;
};

struct CallFlags {
  std::string sim;
  std::string answer_after = "200ms";
  std::string hangup_after = "2s";
  std::string recording_delay;
  bool no_answer = false;
  bool no_hangup = false;
  bool no_recording_saved = false;
  std::string client_state;
  CallSpec spec;
};

struct KeyFlags {
  std::string signing_key;
  std::string private_out;
  std::string public_out;
};

// Parses a duration flag; prints the problem and returns false on a bad value.
bool Duration(const char* flag, const std::string& text, std::chrono::milliseconds& out) {
  auto d = core::ParseDuration(text);
  if (!d.ok()) {
    std::cerr << "telnyx-sim: " << flag << ": " << d.status().message() << "\n";
    return false;
  }
  out = *d;
  return true;
}

// Writes `text` to `path` via a temporary file and rename, so a script polling the file never
// reads it half-written.
bool WriteFileAtomically(const std::string& path, const std::string& text, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
  ok = ::close(fd) == 0 && ok;
  if (ok) ok = ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) ::unlink(tmp.c_str());
  return ok;
}

void AddServe(CLI::App& app, ServeFlags& f) {
  SimConfig& c = f.config;
  SimFaults& x = c.faults;
  app.add_option("--listen", f.listen, "HOST:PORT to serve on; port 0 picks a free one")->capture_default_str();
  app.add_option("--port-file", f.port_file, "write the chosen port (digits only) to this file");
  app.add_option("--api-key", c.api_key, "Bearer key /v2 requests must carry (default: none checked)")
      ->envname("TELNYX_SIM_API_KEY");
  app.add_option("--signing-key", c.signing_key_pem_path,
                 "Ed25519 private key (PEM) for webhook signatures; default: an ephemeral key");
  app.add_option("--public-key-file", f.public_key_file,
                 "write the webhook public key (base64 of 32 raw bytes) to this file");
  app.add_option("--public-base-url", c.public_base_url, "base of download URLs (default http://HOST:PORT)");
  app.add_option("--account", c.account, "account id in media paths")->capture_default_str();
  app.add_option("--connection-id", c.connection_id, "default connection_id of calls")->capture_default_str();
  app.add_option("--webhook-url", c.default_webhook_url, "webhook URL for calls that name none");
  app.add_option("--url-expiry", f.url_expiry, "X-Amz-Expires of download URLs")->capture_default_str();
  app.add_option("--media-cap", f.media_cap, "served audio is at most this long")->capture_default_str();
  app.add_option("--webhook-max-attempts", c.webhook_max_attempts, "deliveries per event answered non-2xx")->capture_default_str();
  app.add_option("--webhook-retry-delay", f.retry_delay, "wait before redelivering")->capture_default_str();
  app.add_option("--webhook-timeout", f.webhook_timeout, "per delivery")->capture_default_str();
  app.add_option("--storage-key", c.storage_service_key,
                 "service key Supabase Storage requests must carry (default: any)")
      ->envname("TELNYX_SIM_STORAGE_KEY");
  app.add_option("--bucket", f.buckets, "public storage bucket (repeatable; default call-recordings)");
  app.add_option("--private-bucket", f.private_buckets, "private storage bucket (repeatable)");
  app.add_option("--storage-max-bytes", c.storage_max_bytes,
                 "single-request upload limit; larger answer 400 statusCode 413 (Supabase's default)")
      ->capture_default_str();
  app.add_option("--tus-max-bytes", c.storage_tus_max_bytes,
                 "largest resumable (TUS) upload; larger answer 413")->capture_default_str();
  app.add_option("--tus-chunk-bytes", c.storage_tus_chunk_bytes,
                 "size every TUS PATCH but the last must have (Supabase: 6 MB)")->capture_default_str();
  app.add_option("--tus-expiry", f.tus_expiry, "TUS upload URLs answer 410 after this")->capture_default_str();
  app.add_option("--media-duration", f.media_duration,
                 "served audio is this long whatever the recording's length (0s: its own, capped by --media-cap)")
      ->capture_default_str();
  // Faults (also POST /sim/faults at runtime).
  app.add_option("--rate-limit-next", x.rate_limit_next, "fault: next N /v2 requests answer 429 (code 10011)");
  app.add_option("--rate-limit-limit", x.rate_limit_limit, "x-ratelimit-limit of those 429s")->capture_default_str();
  app.add_option("--rate-limit-reset", x.rate_limit_reset_s, "x-ratelimit-reset seconds")->capture_default_str();
  app.add_option("--retry-after", x.retry_after_s, "Retry-After seconds on 429s (default: header absent)");
  app.add_option("--server-errors", x.server_error_next, "fault: next N /v2 requests answer a 5xx");
  app.add_option("--server-error-status", x.server_error_status, "that 5xx")->capture_default_str();
  app.add_option("--latency", f.latency, "fault: added to every /v2 answer")->capture_default_str();
  app.add_option("--latency-max", f.latency_max,
                 "fault: when above --latency, each /v2 answer waits uniformly in [--latency, this]")
      ->capture_default_str();
  app.add_option("--media-latency", f.media_latency, "fault: added to every /media download")
      ->capture_default_str();
  app.add_option("--media-latency-max", f.media_latency_max,
                 "fault: when above --media-latency, each download waits uniformly in between")
      ->capture_default_str();
  app.add_option("--recording-delay", f.recording_delay, "recordings appear this long after hangup")->capture_default_str();
  app.add_flag("--missing-recordings", x.recordings_missing, "fault: recordings never appear");
  app.add_option("--foreign-recordings", x.foreign_recordings,
                 "fault: N other calls' newer recordings listed with each recording");
  app.add_option("--record-start-90020", x.record_start_90020_next,
                 "fault: next N record_start answer 422 code 90020");
  app.add_option("--storage-errors", x.storage_error_next, "fault: next N storage requests answer a 5xx");
  app.add_option("--storage-error-status", x.storage_error_status, "that 5xx")->capture_default_str();
  app.add_option("--tus-break-next", x.storage_tus_break_next,
                 "fault: next N TUS PATCHes keep only --tus-break-after bytes and answer 503");
  app.add_option("--tus-break-after", x.storage_tus_break_after, "bytes those PATCHes keep")
      ->capture_default_str();
}

void AddCall(CLI::App& app, CallFlags& f) {
  CallSpec& s = f.spec;
  app.add_option("--sim", f.sim, "base URL of a running telnyx-sim, e.g. http://127.0.0.1:4100")->required();
  app.add_option("--to", s.to, "number called (+E.164)")->required();
  app.add_option("--from", s.from, "caller (+E.164)")->capture_default_str();
  app.add_option("--direction", s.direction, "outgoing | incoming")->capture_default_str();
  app.add_option("--webhook-url", s.webhook_url, "where the call's webhooks go (default: the sim's --webhook-url)");
  app.add_option("--client-state", f.client_state, "base64 client_state carried by the webhooks");
  app.add_option("--connection-id", s.connection_id, "connection_id (default: the sim's)");
  app.add_option("--answer-after", f.answer_after, "answer this long after initiation")->capture_default_str();
  app.add_option("--hangup-after", f.hangup_after, "hang up this long after answer")->capture_default_str();
  app.add_flag("--no-answer", f.no_answer, "never answer by itself (POST /sim/calls/{id}/answer does)");
  app.add_flag("--no-hangup", f.no_hangup, "never hang up by itself (POST /sim/calls/{id}/hangup does)");
  app.add_flag("--no-recording-saved", f.no_recording_saved, "send no call.recording.saved");
  app.add_flag("--duplicate-webhooks", s.duplicate_webhooks, "deliver every event twice");
  app.add_flag("--hangup-before-answered", s.hangup_before_answered, "deliver call.answered after call.hangup");
  app.add_flag("--auto-record", s.auto_record, "record from answer without record_start (record-mode auto)");
  app.add_option("--hangup-cause", s.hangup_cause, "hangup_cause of call.hangup")->capture_default_str();
  app.add_option("--hangup-source", s.hangup_source, "hangup_source of call.hangup")->capture_default_str();
  app.add_option("--recording-delay", f.recording_delay, "this call's recordings appear this long after hangup");
  app.add_flag("--recording-missing", s.recording_missing, "this call's recordings never appear");
  app.add_flag("--recording-error", s.recording_error, "send call.recording.error instead of a recording");
  app.add_flag("--drop-hangup-webhook", s.drop_hangup_webhook,
               "the call ends but its call.hangup webhook is never sent (GET /v2/calls says is_alive false)");
}

// Fills the durations and buckets of `f.config`; false (message printed) on a bad value.
bool FinishServeFlags(ServeFlags& f) {
  SimConfig& c = f.config;
  size_t colon = f.listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    try {
      port = std::stoi(f.listen.substr(colon + 1));
    } catch (const std::exception&) {
      port = -1;
    }
  }
  if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535) {
    std::cerr << "telnyx-sim: --listen: expected HOST:PORT, got \"" << f.listen << "\"\n";
    return false;
  }
  c.host = f.listen.substr(0, colon);
  c.port = port;
  std::chrono::milliseconds expiry, cap, delay, latency, latency_max, media_latency, media_latency_max;
  if (!Duration("--url-expiry", f.url_expiry, expiry) || !Duration("--media-cap", f.media_cap, cap) ||
      !Duration("--recording-delay", f.recording_delay, delay) ||
      !Duration("--latency", f.latency, latency) ||
      !Duration("--latency-max", f.latency_max, latency_max) ||
      !Duration("--media-latency", f.media_latency, media_latency) ||
      !Duration("--media-latency-max", f.media_latency_max, media_latency_max) ||
      !Duration("--webhook-retry-delay", f.retry_delay, c.webhook_retry_delay) ||
      !Duration("--webhook-timeout", f.webhook_timeout, c.webhook_timeout) ||
      !Duration("--media-duration", f.media_duration, c.media_duration) ||
      !Duration("--tus-expiry", f.tus_expiry, c.storage_tus_expiry))
    return false;
  c.url_expiry = std::chrono::duration_cast<std::chrono::seconds>(expiry);
  c.media_cap = std::chrono::duration_cast<std::chrono::seconds>(cap);
  c.faults.recording_delay_ms = delay.count();
  c.faults.latency_ms = int(std::min<int64_t>(latency.count(), INT32_MAX));
  c.faults.latency_max_ms = int(std::min<int64_t>(latency_max.count(), INT32_MAX));
  c.faults.media_latency_ms = int(std::min<int64_t>(media_latency.count(), INT32_MAX));
  c.faults.media_latency_max_ms = int(std::min<int64_t>(media_latency_max.count(), INT32_MAX));
  if (!f.buckets.empty() || !f.private_buckets.empty()) {
    c.buckets.clear();
    for (const auto& b : f.buckets) c.buckets.push_back({b, true});
    for (const auto& b : f.private_buckets) c.buckets.push_back({b, false});
  }
  return true;
}

int RunServe(ServeFlags& f) {
  if (!FinishServeFlags(f)) return cli::kExitUsage;
  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  core::SystemClock clock;
  auto sim = TelnyxSim::Start(f.config, clock);
  if (!sim.ok()) {
    core::LogError("sim.start_failed", {{"error", sim.status().ToString()}});
    return sim.status().code() == core::StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (!f.port_file.empty() &&
      !WriteFileAtomically(f.port_file, std::to_string((*sim)->port()) + "\n", 0644)) {
    core::LogError("sim.port_file_failed", {{"path", f.port_file}});
    return cli::kExitFailure;
  }
  if (!f.public_key_file.empty() &&
      !WriteFileAtomically(f.public_key_file, (*sim)->public_key_base64() + "\n", 0644)) {
    core::LogError("sim.public_key_file_failed", {{"path", f.public_key_file}});
    return cli::kExitFailure;
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  core::LogInfo("sim.stopping", {{"signal", sig}});
  (*sim)->Stop();
  return cli::kExitOk;
}

int RunCall(CallFlags& f) {
  std::chrono::milliseconds answer, hangup, delay;
  if (!Duration("--answer-after", f.answer_after, answer) ||
      !Duration("--hangup-after", f.hangup_after, hangup))
    return cli::kExitUsage;
  if (!f.recording_delay.empty()) {
    if (!Duration("--recording-delay", f.recording_delay, delay)) return cli::kExitUsage;
    f.spec.recording_delay_ms = delay.count();
  }
  f.spec.answer_after_ms = f.no_answer ? -1 : answer.count();
  f.spec.hangup_after_ms = f.no_hangup ? -1 : hangup.count();
  f.spec.send_recording_saved = !f.no_recording_saved;
  if (!f.client_state.empty()) f.spec.client_state = f.client_state;
  std::string body = CallSpecToJson(f.spec);
  if (auto checked = ParseCallSpecJson(body); !checked.ok()) {
    std::cerr << "telnyx-sim call: " << checked.status().message() << "\n";
    return cli::kExitUsage;
  }
  httplib::Client client(f.sim);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(10, 0);
  auto res = client.Post("/sim/calls", body, "application/json");
  if (!res) {
    std::cerr << "telnyx-sim call: no answer from " << f.sim << ": " << httplib::to_string(res.error())
              << "\n";
    return cli::kExitFailure;
  }
  if (res->status != 201) {
    std::cerr << "telnyx-sim call: HTTP " << res->status << ": " << res->body << "\n";
    return cli::kExitFailure;
  }
  std::cout << res->body << "\n";
  return cli::kExitOk;
}

int RunKeygen(const KeyFlags& f) {
  auto signer = Ed25519Signer::Generate();
  if (!signer.ok()) return cli::kExitFailure;
  auto pem = (*signer)->PrivateKeyPem();
  if (!pem.ok() || !WriteFileAtomically(f.private_out, *pem, 0600) ||
      !WriteFileAtomically(f.public_out, (*signer)->public_key_base64() + "\n", 0644)) {
    std::cerr << "telnyx-sim keygen: cannot write the key files\n";
    return cli::kExitFailure;
  }
  std::cout << (*signer)->public_key_base64() << "\n";
  return cli::kExitOk;
}

int RunPublicKey(const KeyFlags& f) {
  auto signer = Ed25519Signer::FromPemFile(f.signing_key);
  if (!signer.ok()) {
    std::cerr << "telnyx-sim public-key: --signing-key: " << signer.status().message() << "\n";
    return cli::kExitUsage;
  }
  std::cout << (*signer)->public_key_base64() << "\n";
  return cli::kExitOk;
}

}  // namespace

int TelnyxSimMain(int argc, char** argv) {
  CLI::App app(kDescription, "telnyx-sim");
  app.require_subcommand(1);
  ServeFlags serve;
  CallFlags call;
  KeyFlags keys;
  CLI::App* serve_cmd = app.add_subcommand("serve", "run the simulator until SIGINT/SIGTERM");
  AddServe(*serve_cmd, serve);
  CLI::App* call_cmd = app.add_subcommand("call", "place a simulated call on a running sim; prints its ids as JSON");
  AddCall(*call_cmd, call);
  CLI::App* keygen_cmd = app.add_subcommand("keygen", "write a new Ed25519 key pair (PEM + base64 public key)");
  keygen_cmd->add_option("--private-out", keys.private_out, "PEM private key path")->required();
  keygen_cmd->add_option("--public-out", keys.public_out, "base64 public key path")->required();
  CLI::App* pub_cmd = app.add_subcommand("public-key", "print the base64 public key of a PEM private key");
  pub_cmd->add_option("--signing-key", keys.signing_key, "PEM private key")->required();
  if (auto exit_code = cli::ParseCommandLine(app, argc, argv)) return *exit_code;
  if (serve_cmd->parsed()) return RunServe(serve);
  if (call_cmd->parsed()) return RunCall(call);
  if (keygen_cmd->parsed()) return RunKeygen(keys);
  return RunPublicKey(keys);
}

}  // namespace callrec::telnyx_sim
