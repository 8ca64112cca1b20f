// `callrec pg-sync --postgres-url URL [--once]`: brings PostgreSQL up to date from the store's
// projection, once or continuously (the same sync `serve --postgres-url` runs in process).
#include <csignal>
#include <iostream>
#include <memory>
#include <thread>

#include "core/event_store.h"
#include "core/log.h"
#include "projector/clients/pg_sync.h"
#include "tools/cli.h"

namespace callrec::tools {
namespace {

struct PgSyncOptions {
  std::string data_dir;
  std::string url;
  std::string merge_into;
  bool once = false;
  bool take_over = false;
  double interval_s = 2;
};

volatile std::sig_atomic_t g_stop = 0;

int RunPgSync(const PgSyncOptions& o) {
  auto store = core::EventStore::OpenReader(o.data_dir);
  if (!store.ok()) return Fail(store.status().message());
  auto sync = projector::PgSync::Connect(o.url, o.merge_into);
  if (!sync.ok()) return Fail(sync.status().message());
  if (o.take_over) {
    core::Status taken = (*sync)->TakeOver(**store);
    if (!taken.ok()) return Fail(taken.message());
  }
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  while (true) {
    core::Status caught_up = (*store)->CatchUp();
    if (!caught_up.ok()) return Fail(caught_up.ToString());
    auto report = (*sync)->SyncOnce(**store);
    if (o.once) {
      if (!report.ok()) return Fail(report.status().message());
      std::cout << "{\"rows\":" << report->rows << ",\"checkpoint\":" << report->checkpoint
                << ",\"nul_replaced\":" << report->nul_replaced << ",\"skipped\":" << report->skipped << "}\n";
      return kExitOk;
    }
    // Another store's checkpoint stays another store's until an operator decides: stop and say so.
    if (report.status().code() == core::StatusCode::kFailedPrecondition) return Fail(report.status().message());
    if (!report.ok()) core::LogWarn("pg_sync.failed", {{"error", report.status().message()}});
    for (int i = 0; i < int(o.interval_s * 10) && !g_stop; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (g_stop) return kExitOk;
  }
}

}  // namespace

void AddPgSyncCommand(CLI::App& app, Action& action) {
  auto o = std::make_shared<PgSyncOptions>();
  CLI::App* cmd = app.add_subcommand(
      "pg-sync", "Bring PostgreSQL up to date from the log's projection (table callrec_intakes)");
  AddDataDirOption(*cmd, o->data_dir);
  cmd->add_option("--postgres-url", o->url, "postgresql://user:pass@host:port/db")
      ->envname("CALLREC_POSTGRES_URL")
      ->required();
  cmd->add_option("--pg-merge-into", o->merge_into,
                  "Also merge the recording metadata keys into this table's metadata JSONB by id");
  cmd->add_flag("--take-over", o->take_over,
                "Make this store the owner of the database's checkpoint (after a reinstall, a restored "
                "backup or a move) and resynchronise every intake from it");
  cmd->add_flag("--once", o->once, "Sync once, print {\"rows\",\"checkpoint\"} and exit");
  cmd->add_option("--interval", o->interval_s, "Seconds between syncs when continuous")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->callback([o, &action] { action = [o] { return RunPgSync(*o); }; });
}

}  // namespace callrec::tools
