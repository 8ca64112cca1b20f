// `callrec serve`: parses the flags, takes the signals, and runs a Service (service.h), which
// builds the real clock, store, transport and clients and wires the modules.
//
// Cluster mode (--event-log postgres://...): the Service's store is a ClusterStore over this
// node's replica and only the leader runs the actor (serve_cluster.h); a deposed leader stops as
// on SIGTERM and exits 1, for its supervisor to restart it as a follower.
// Shutdown on SIGTERM/SIGINT: stop accepting and answer in-flight requests, stop starting steps
// (running ones finish), let the projector apply what was appended, close the store, exit 0.
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "core/heap.h"
#include "core/log.h"
#include "core/mask.h"
#include "tools/cli.h"
#include "tools/serve_options.h"
#include "tools/service.h"

namespace callrec::tools {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

int RunServe(const ServeOptions& o) {
  auto settings = ResolveServeSettings(o);
  if (!settings.ok()) {
    std::cerr << "callrec serve: " << core::MaskSecrets(settings.status().message()) << "\n";
    return kExitUsage;
  }
  // Signals are taken by sigwait() below, never by a handler on a random thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // Before any thread (RocksDB's included) exists: arenas made before the cap would stay.
  core::LimitMallocArenas(core::kServeMallocArenas);
  int exit_code = kExitOk;
  std::unique_ptr<Service> service = Service::Create(o, *settings, exit_code);
  if (!service) return exit_code;
  core::Status listening = service->Start();
  if (!listening.ok()) {
    core::LogError("serve.start_failed", {{"error", listening.message()}});
    service->Stop(/*catch_up=*/false);
    return Fail(listening.message());
  }
  if (!o.port_file.empty()) std::ofstream(o.port_file) << service->port() << "\n";
  core::LogInfo("serve.listening",
                {{"host", settings->host}, {"port", service->port()}, {"data_dir", o.data_dir},
                 {"telnyx_api_base", o.telnyx_api_base}, {"record_mode", o.record_mode},
                 {"storage", o.storage}, {"postgres", !o.postgres_url.empty()},
                 {"cluster", !o.event_log.empty()},
                 {"telnyx_api_key_set", !Env("TELNYX_API_KEY").empty()}});

  int sig = 0;
  sigwait(&signals, &sig);
  core::LogInfo("serve.stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
  service->Stop(/*catch_up=*/true);
  core::LogInfo("serve.stopped", {{"last_seq", service->store().LastSeq()}, {"deposed", service->deposed()}});
  return service->deposed() ? kExitFailure : kExitOk;
}

}  // namespace

void AddServeCommand(CLI::App& app, Action& action) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Run the service: Telnyx webhooks, the intake API, the recording pipeline");
  AddDataDirOption(*cmd, o->data_dir);
  AddServeFlags(*cmd, *o);
  cmd->footer("Environment: TELNYX_API_KEY (never logged), CALLREC_ADMIN_TOKEN (Bearer token for "
              "/api/intakes*), SUPABASE_SERVICE_ROLE_KEY.");
  cmd->callback([o, &action] { action = [o] { return RunServe(*o); }; });
}

}  // namespace callrec::tools
