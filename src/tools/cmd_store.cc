// `callrec events` and `callrec check`: the log itself, read through a reader instance so they
// work while `serve` runs, on a stopped store and on a copied directory.
#include <iostream>
#include <memory>

#include <simdjson.h>

#include "core/event_store.h"
#include "core/json.h"
#include "tools/cli.h"

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
  uint64_t from = 1;
  std::string intake;
};

int RunEvents(const EventsOptions& o) {
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

int RunCheck(const std::string& data_dir) {
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
  ev->add_option("--from", events->from, "First seq to print")->check(CLI::PositiveNumber);
  ev->add_option("--intake", events->intake, "Only events appended with this intake id");
  ev->callback([events, &action] { action = [events] { return RunEvents(*events); }; });

  auto check_dir = std::make_shared<std::string>();
  CLI::App* ck = app.add_subcommand(
      "check", "Verify the log: contiguous seqs, checksums, indexes agree (exit 1 on damage)");
  AddDataDirOption(*ck, *check_dir);
  ck->callback([check_dir, &action] { action = [check_dir] { return RunCheck(*check_dir); }; });
}

}  // namespace callrec::tools
