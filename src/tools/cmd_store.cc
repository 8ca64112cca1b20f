// `callrec events` and `callrec check`: the log itself, read through a reader instance so they
// work while `serve` runs, on a stopped store and on a copied directory.
#include <iostream>
#include <memory>

#include <simdjson.h>

#include "core/event_store.h"
#include "core/json.h"
#include "tools/cli.h"
#include "tools/replica_sync.h"

namespace callrec::tools {
namespace {

// One event, one line, always: a JSON payload (a webhook body may come pretty-printed, spread
// over many lines) is re-serialised without insignificant whitespace, its bytes otherwise as
// stored; a payload that is not JSON goes out as an escaped JSON string (base64 object when not
// UTF-8), as core::JsonWriter::Payload writes it.
std::string EventLine(const core::Event& e) {
  if (!core::IsValidJson(e.payload)) return core::EventToJson(e);
  core::Event compact = e;
  compact.payload.resize(e.payload.size());
  size_t len = 0;
  if (simdjson::minify(e.payload.data(), e.payload.size(), compact.payload.data(), len)) {
    return core::EventToJson(e);  // cannot happen for valid JSON; the stored bytes as a string
  }
  compact.payload.resize(len);
  return core::EventToJson(compact);
}

struct EventsOptions {
  std::string data_dir;
  std::string event_log;
  uint64_t from = 1;
  std::string intake;
};

int RunEvents(const EventsOptions& o) {
  if (core::Status synced = SyncReplica(o.data_dir, o.event_log); !synced.ok()) return Fail(synced.message());
  auto store = core::EventStore::OpenReader(o.data_dir);
  if (!store.ok()) return Fail(store.status().message());
  auto print = [](const core::Event& e) {
    std::cout << EventLine(e) << '\n';
    return bool(std::cout);  // stop when stdout closes (e.g. piped into head)
  };
  core::Status s = o.intake.empty() ? (*store)->ForEachFrom(o.from, print)
                                    : (*store)->ForEachOfIntake(o.intake, [&](const core::Event& e) {
                                        return e.seq < o.from ? true : print(e);
                                      });
  std::cout.flush();
  if (!s.ok()) return Fail(s.ToString() + " (run `callrec check`)");
  return kExitOk;
}

int RunCheck(const std::string& data_dir, const std::string& event_log) {
  if (!event_log.empty()) return RunClusterCheck(data_dir, event_log);
  auto store = core::EventStore::OpenReader(data_dir);
  if (!store.ok()) return Fail(store.status().message());
  auto report = (*store)->Check();
  if (!report.ok()) return Fail(report.status().ToString());
  if (!report->ok()) {
    std::cerr << "callrec: check FAILED at seq " << report->first_bad_seq << ": " << report->problem
              << " (" << report->events << " events verified before it)\n";
    return kExitFailure;
  }
  std::cout << "ok: " << report->events << " events, seqs 1.." << report->events
            << " contiguous, checksums and indexes agree\n";
  return kExitOk;
}

}  // namespace

void AddStoreCommands(CLI::App& app, Action& action) {
  auto events = std::make_shared<EventsOptions>();
  CLI::App* ev = app.add_subcommand("events", "Print the event log as JSON lines");
  AddDataDirOption(*ev, events->data_dir);
  AddEventLogOption(*ev, events->event_log);
  ev->add_option("--from", events->from, "First seq to print")->check(CLI::PositiveNumber);
  ev->add_option("--intake", events->intake, "Only events appended with this intake id");
  ev->callback([events, &action] { action = [events] { return RunEvents(*events); }; });

  auto check_dir = std::make_shared<std::string>();
  auto check_log = std::make_shared<std::string>();
  CLI::App* ck = app.add_subcommand(
      "check", "Verify the log: contiguous seqs, checksums, indexes agree (exit 1 on damage)");
  AddDataDirOption(*ck, *check_dir);
  AddEventLogOption(*ck, *check_log);
  ck->footer("With --event-log: verifies the shared log in PostgreSQL, then compares it with the store in\n"
             "--data-dir when there is one (a replica, or the embedded store `migrate-log` copied).");
  ck->callback([check_dir, check_log, &action] {
    action = [check_dir, check_log] { return RunCheck(*check_dir, *check_log); };
  });
}

}  // namespace callrec::tools
