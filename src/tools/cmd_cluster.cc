// `callrec migrate-log` and `callrec check --event-log`: moving an embedded store's log into the
// shared log of cluster mode (INTERFACE §8), and checking the two agree.
#include <filesystem>
#include <iostream>
#include <memory>

#include "cluster/migrate.h"
#include "cluster/pg_event_log.h"
#include "core/event_store.h"
#include "core/mask.h"
#include "tools/cli.h"

namespace callrec::tools {
namespace {

struct MigrateOptions {
  std::string data_dir;
  std::string event_log;
  size_t batch = 1000;
};

bool HasStore(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec);
}

int RunMigrate(const MigrateOptions& o) {
  // A reader: the embedded `serve` may keep running while the bulk is copied.
  if (!HasStore(o.data_dir)) return Fail("no callrec store in " + o.data_dir);
  auto store = core::EventStore::OpenReader(o.data_dir);
  if (!store.ok()) return Fail(store.status().message());
  core::SystemClock clock;
  auto log = cluster::PgEventLog::Connect(o.event_log, clock);
  if (!log.ok()) return Fail(log.status().message());
  auto report = cluster::MigrateLog(**store, **log, o.batch, [](uint64_t done, uint64_t total) {
    std::cerr << "migrate-log: " << done << "/" << total << " events copied\n";
  });
  if (!report.ok()) return Fail(report.status().message());
  if (report->copied == 0) {
    std::cout << "the shared log at " << (*log)->masked_url() << " already holds all " << report->last_seq
              << " events of " << o.data_dir << ": nothing to copy\n";
  } else {
    std::cout << "copied " << report->copied << " events (seqs " << report->first_seq << ".." << report->last_seq
              << ") from " << o.data_dir << " into the shared log at " << (*log)->masked_url() << "\n";
  }
  std::cerr << "callrec: a `serve` still running on " << o.data_dir << " keeps appending there: stop it, run "
            << "migrate-log once more, then start the nodes with --event-log\n";
  return kExitOk;
}

}  // namespace

int RunClusterCheck(const std::string& data_dir, const std::string& event_log) {
  core::SystemClock clock;
  auto log = cluster::PgEventLog::Connect(event_log, clock);
  if (!log.ok()) return Fail(log.status().message());
  auto report = (*log)->Check();
  if (!report.ok()) return Fail(report.status().ToString());
  if (!report->ok()) {
    std::cerr << "callrec: check FAILED: the shared log at seq " << report->first_bad_seq << ": " << report->problem
              << " (" << report->events << " events verified before it)\n";
    return kExitFailure;
  }
  std::cout << "ok: the shared log at " << (*log)->masked_url() << ": " << report->events << " events, seqs 1.."
            << report->events << " contiguous, checksums agree\n";
  if (!HasStore(data_dir)) return kExitOk;
  auto store = core::EventStore::OpenReader(data_dir);
  if (!store.ok()) return Fail(store.status().message());
  auto cmp = cluster::CompareLogs(**store, **log);
  if (!cmp.ok()) return Fail(cmp.status().ToString());
  if (cmp->first_diff != 0) {
    std::cerr << "callrec: check FAILED: " << data_dir << " and the shared log differ at seq " << cmp->first_diff
              << " (seqs 1.." << cmp->compared << " agree)\n";
    return kExitFailure;
  }
  if (cmp->local_last > cmp->shared_last) {
    std::cerr << "callrec: check FAILED: " << data_dir << " has " << cmp->local_last - cmp->shared_last
              << " events the shared log lacks (seqs " << cmp->shared_last + 1 << ".." << cmp->local_last
              << "; run `callrec migrate-log` to copy them)\n";
    return kExitFailure;
  }
  std::cout << "ok: " << data_dir << " agrees with the shared log byte for byte on seqs 1.." << cmp->compared;
  if (cmp->shared_last > cmp->local_last)
    std::cout << " (a replica " << cmp->shared_last - cmp->local_last << " events behind: the next read catches up)";
  std::cout << "\n";
  return kExitOk;
}

void AddClusterCommands(CLI::App& app, Action& action) {
  auto o = std::make_shared<MigrateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "migrate-log", "Copy an embedded store's log into the shared log in PostgreSQL (same seqs, same bytes)");
  AddDataDirOption(*cmd, o->data_dir);
  AddEventLogOption(*cmd, o->event_log, "The shared log to copy into, postgres://... (the store is --data-dir)")
      ->required();
  cmd->add_option("--batch", o->batch, "Events per transaction (a transaction also ends at 64 MiB of events)")->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->footer(
      "Resumable and idempotent: it continues after the shared log's last seq, once it has checked\n"
      "that the shared log is a prefix of this store, so running it again copies only what is new.\n"
      "Works while the embedded `serve` runs; to move an installation into cluster mode: run it, stop\n"
      "`serve`, run it again, `callrec check --event-log URL --data-dir D`, start the nodes.");
  cmd->callback([o, &action] { action = [o] { return RunMigrate(*o); }; });
}

}  // namespace callrec::tools
