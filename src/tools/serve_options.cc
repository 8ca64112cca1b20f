#include "tools/serve_options.h"

#include <charconv>
#include <cstdlib>

#include "core/time_format.h"
#include "ingest/signature.h"
#include "tools/cli.h"

namespace callrec::tools {
namespace {

// CLI11 validator: "" when `text` is a duration (core::ParseDuration), else the reason.
const CLI::Validator kDuration(
    [](std::string& text) {
      auto d = core::ParseDuration(text);
      return d.ok() ? std::string() : d.status().message();
    },
    "DURATION");

std::chrono::milliseconds Duration(const std::string& text) { return *core::ParseDuration(text); }

}  // namespace

void AddServeFlags(CLI::App& cmd, ServeOptions& o) {
  cmd.add_option("--listen", o.listen, "HTTP address HOST:PORT; port 0 picks a free port and logs it")
      ->envname("CALLREC_LISTEN")->capture_default_str();
  cmd.add_option("--port-file", o.port_file, "Write the bound port to this file once listening");
  cmd.add_option("--telnyx-api-base", o.telnyx_api_base, "Telnyx API root; paths are /v2/...")
      ->envname("TELNYX_API_BASE")->capture_default_str();
  cmd.add_option("--telnyx-public-key", o.telnyx_public_key,
                 "Base64 of the raw 32-byte Ed25519 key from the Telnyx portal (PEM accepted)")
      ->envname("TELNYX_PUBLIC_KEY");
  cmd.add_flag("--insecure-skip-signature", o.insecure_skip_signature,
               "Accept unsigned webhooks (local testing only; logged loudly)");
  cmd.add_option("--signature-tolerance", o.signature_tolerance, "Max age/skew of telnyx-timestamp")
      ->check(kDuration)->capture_default_str();
  cmd.add_option("--match-window", o.match_window, "How far back call.answered looks for its intake")
      ->check(kDuration)->capture_default_str();
  cmd.add_option("--match-header", o.match_header,
                 "Custom SIP header (Telnyx custom_headers) whose value is the intake id, e.g. set "
                 "by LiveKit's SIP participant headers; matched case-insensitively")
      ->check(CLI::Validator(
          [](std::string& v) {
            bool ok = !v.empty() && v.size() <= 128;
            for (char c : v)
              ok = ok && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.');
            return ok ? std::string() : std::string("a SIP header name: letters, digits, '-', '_', '.'");
          },
          "HEADER"))
      ->capture_default_str();
  cmd.add_option("--record-mode", o.record_mode,
                 "manual: record_start on answer; auto: Telnyx records by itself")
      ->check(CLI::IsMember({"manual", "auto"}))->capture_default_str();
  cmd.add_option("--record-format", o.record_format, "record_start format")
      ->check(CLI::IsMember({"wav", "mp3"}))->capture_default_str();
  cmd.add_option("--record-channels", o.record_channels, "record_start channels")
      ->check(CLI::IsMember({"single", "dual"}))->capture_default_str();
  cmd.add_option("--record-trim", o.record_trim, "record_start trim (\"\" for none)")
      ->check(CLI::IsMember({"", "trim-silence"}))->capture_default_str();
  cmd.add_option("--fetch-delay", o.fetch_delay, "Wait after hangup before the first recordings query")
      ->check(kDuration)->capture_default_str();
  cmd.add_option("--fetch-interval", o.fetch_interval, "Wait between \"not found yet\" queries")
      ->check(kDuration)->capture_default_str();
  cmd.add_option("--fetch-max-attempts", o.fetch_max_attempts,
                 "\"Not found\" answers before the intake fails as recording_not_found")
      ->check(CLI::Range(1, 1000))->capture_default_str();
  cmd.add_option("--max-call-duration", o.max_call_duration,
                 "A call with no call.hangup this long after call.answered is checked with "
                 "GET /v2/calls/{id}; not alive: treated as ended and its recording fetched")
      ->check(kDuration)->capture_default_str();
  cmd.add_option("--storage", o.storage, "Where a copy of the audio goes: none, fs or supabase")
      ->check(CLI::IsMember({"none", "fs", "supabase"}))->capture_default_str();
  cmd.add_option("--storage-dir", o.storage_dir, "For fs: <dir>/<intake_id>/recording.<ext>")
      ->capture_default_str();
  cmd.add_option("--supabase-url", o.supabase_url, "For supabase (key in SUPABASE_SERVICE_ROLE_KEY)")
      ->envname("SUPABASE_URL");
  cmd.add_option("--supabase-bucket", o.supabase_bucket, "For supabase")->capture_default_str();
  cmd.add_flag("--delete-after-upload", o.delete_after_upload,
               "DELETE the recording at Telnyx once the copy is stored and verified");
  cmd.add_option("--postgres-url", o.postgres_url, "Also keep the projection in PostgreSQL")
      ->envname("CALLREC_POSTGRES_URL");
  cmd.add_option("--pg-merge-into", o.pg_merge_into,
                 "Also merge the recording metadata keys into this table's metadata JSONB by id");
  AddEventLogOption(cmd, o.event_log,
                    "Cluster mode: the shared log, postgres://...; --data-dir is then this node's replica "
                    "(README \"Running a cluster\"); unset: the embedded store");
  cmd.add_option("--leader-lease", o.leader_lease,
                 "Cluster mode: how long a leader's lease lasts; another node takes over this long after "
                 "the leader stops renewing it (it renews every third of it)")
      ->check(kDuration)->capture_default_str();
  cmd.add_option("--node-id", o.node_id,
                 "Cluster mode: this node's name in the leader row and logs: 1-64 letters, digits, '.', '_', '-' "
                 "(default host-pid)");
  cmd.add_option("--max-body-bytes", o.max_body_bytes, "Largest webhook body accepted (413 above)")
      ->check(CLI::Range(size_t(1024), size_t(64) << 20))->capture_default_str();
  cmd.add_option("--workers", o.workers,
                 "Threads of the query and copy lanes each, unless --workers-query/--workers-copy say")
      ->check(CLI::Range(1, 64))->capture_default_str();
  cmd.add_option("--workers-live", o.workers_live,
                 "Threads sending record_start (never wait behind queries or copies)")
      ->check(CLI::Range(1, 64))->capture_default_str();
  cmd.add_option("--workers-query", o.workers_query,
                 "Threads running recordings queries and fetch decisions (default: --workers)")
      ->check(CLI::Range(1, 64));
  cmd.add_option("--workers-copy", o.workers_copy,
                 "Threads downloading, storing and deleting recordings (default: --workers)")
      ->check(CLI::Range(1, 64));
}

core::Result<ServeSettings> ResolveServeSettings(const ServeOptions& o) {
  ServeSettings s;
  size_t colon = o.listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    std::string_view p(o.listen.data() + colon + 1, o.listen.size() - colon - 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (ec != std::errc() || end != p.data() + p.size()) port = -1;
  }
  if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535)
    return core::Status::InvalidArgument("--listen: expected HOST:PORT (e.g. 127.0.0.1:8080), got '" +
                                         o.listen + "'");
  s.leader_lease = Duration(o.leader_lease);
  if (s.leader_lease < std::chrono::milliseconds(300))
    return core::Status::InvalidArgument("--leader-lease: at least 300ms, got '" + o.leader_lease + "'");
  // The id is shown in logs, /readyz and the leader row: a name, not free text.
  if (!o.node_id.empty() &&
      (o.node_id.size() > 64 || o.node_id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                            "0123456789._-") != std::string::npos))
    return core::Status::InvalidArgument("--node-id: 1 to 64 letters, digits, '.', '_' or '-' (e.g. a host name)");
  s.host = o.listen.substr(0, colon);
  s.port = port;
  if (o.telnyx_public_key.empty() && !o.insecure_skip_signature)
    return core::Status::InvalidArgument(
        "--telnyx-public-key: no key (set it or TELNYX_PUBLIC_KEY to the base64 key from the Telnyx "
        "portal; --insecure-skip-signature runs without one, for local testing only)");
  // Checked here, not only when the HTTP service is built: by then the store is open and
  // `service.started` appended for a service that never runs.
  if (!o.insecure_skip_signature) {
    auto key = ingest::WebhookVerifier::FromPublicKey(o.telnyx_public_key, std::chrono::seconds(0));
    if (!key.ok()) return core::Status::InvalidArgument("--telnyx-public-key: " + key.status().message());
  }
  if (o.storage == "supabase" && (o.supabase_url.empty() || !std::getenv("SUPABASE_SERVICE_ROLE_KEY")))
    return core::Status::InvalidArgument(
        "--storage supabase: needs --supabase-url (or SUPABASE_URL) and SUPABASE_SERVICE_ROLE_KEY");
  if (o.delete_after_upload && o.storage == "none")
    return core::Status::InvalidArgument(
        "--delete-after-upload: needs --storage fs or supabase (nothing would keep a copy)");
  if (Duration(o.max_call_duration).count() <= 0)
    return core::Status::InvalidArgument("--max-call-duration: must be more than 0, got '" +
                                         o.max_call_duration + "'");
  s.signature_tolerance = Duration(o.signature_tolerance);
  s.match_window = Duration(o.match_window);
  projector::PipelineConfig& p = s.pipeline;
  p.manual_record = o.record_mode == "manual";
  p.record_format = o.record_format;
  p.record_channels = o.record_channels;
  p.record_trim = o.record_trim;
  p.fetch_delay = Duration(o.fetch_delay);
  p.fetch_interval = Duration(o.fetch_interval);
  p.fetch_max_attempts = o.fetch_max_attempts;
  p.max_call_duration = Duration(o.max_call_duration);
  p.storage = o.storage == "fs"         ? projector::StorageKind::kFs
              : o.storage == "supabase" ? projector::StorageKind::kSupabase
                                        : projector::StorageKind::kNone;
  p.delete_after_upload = o.delete_after_upload;
  s.workers_live = o.workers_live;
  s.workers_query = o.workers_query > 0 ? o.workers_query : o.workers;
  s.workers_copy = o.workers_copy > 0 ? o.workers_copy : o.workers;
  // Downloads land beside the copies (same file system, owner-only like them).
  p.temp_dir = o.storage_dir + "/.incoming";
  return s;
}

}  // namespace callrec::tools
