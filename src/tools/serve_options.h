// serve_options.h — the flags of `callrec serve` (README "Configuration"), parsed and checked.
//
// Precedence: flag, then environment variable, then default. A bad value stops the program at
// start with a message naming the flag (exit 2), before anything is opened.
#pragma once

#include <chrono>
#include <string>

#include <CLI/CLI.hpp>

#include "core/status.h"
#include "projector/actor/pipeline_config.h"

namespace callrec::tools {

struct ServeOptions {
  std::string data_dir;
  std::string listen = "127.0.0.1:8080";
  std::string port_file;  // written once listening: how scripts learn a port-0 choice
  std::string telnyx_api_base = "https://api.telnyx.com";
  std::string telnyx_public_key;
  bool insecure_skip_signature = false;
  std::string signature_tolerance = "300s";
  std::string match_window = "10m";
  std::string match_header = "X-Intake-Id";  // SIP header (Telnyx custom_headers) naming the intake
  std::string record_mode = "manual";
  std::string record_format = "wav";
  std::string record_channels = "dual";
  std::string record_trim = "trim-silence";
  std::string fetch_delay = "2m";
  std::string fetch_interval = "1m";
  int fetch_max_attempts = 10;
  std::string max_call_duration = "4h";
  std::string storage = "none";
  std::string storage_dir = "data/recordings";
  std::string supabase_url;
  std::string supabase_bucket = "call-recordings";
  bool delete_after_upload = false;
  std::string postgres_url;
  std::string event_log;     // cluster mode (serve_cluster.h): the shared log's URL
  std::string leader_lease = "5s";
  std::string node_id;       // "": <hostname>-<pid>
  std::string pg_merge_into;
  size_t max_body_bytes = 1u << 20;
  int workers = 4;        // default size of the query and copy lanes
  int workers_live = 2;   // record_start
  int workers_query = 0;  // 0: --workers
  int workers_copy = 0;   // 0: --workers
};

// Registers every flag on `cmd`, bound to `o`.
void AddServeFlags(CLI::App& cmd, ServeOptions& o);

// The values ready to use; durations parsed. Only called after CLI11 validated the flags.
struct ServeSettings {
  std::string host;
  int port = 0;
  std::chrono::milliseconds signature_tolerance{0};
  std::chrono::milliseconds match_window{0};
  projector::PipelineConfig pipeline;
  std::chrono::milliseconds leader_lease{5000};  // cluster mode only
  // Worker threads of the actor's lanes (step_scheduler.h): live, query, copy.
  int workers_live = 2;
  int workers_query = 4;
  int workers_copy = 4;
};

// kInvalidArgument naming the flag for anything CLI11 cannot check alone (listen address,
// storage prerequisites).
core::Result<ServeSettings> ResolveServeSettings(const ServeOptions& o);

}  // namespace callrec::tools
