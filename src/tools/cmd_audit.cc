// The audit CLI: `callrec timeline ID`, `callrec show ID`, `callrec intakes [--state S]`.
// They read the store through a reader instance, so they work while `serve` runs, on a stopped
// store and on a copied directory; they never write.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/derived_keys.h"
#include "core/event_store.h"
#include "core/event_types.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time_format.h"
#include "core/timeline.h"
#include "tools/cli.h"
#include "tools/replica_sync.h"

namespace callrec::tools {
namespace {

constexpr const char* kStates[] = {"created", "answered", "recording", "ended",
                                   "fetched", "stored",   "failed"};

struct Colors {
  bool on = false;
  const char* dim() const { return on ? "\x1b[2m" : ""; }
  const char* bold() const { return on ? "\x1b[1m" : ""; }
  const char* red() const { return on ? "\x1b[31m" : ""; }
  const char* green() const { return on ? "\x1b[32m" : ""; }
  const char* cyan() const { return on ? "\x1b[36m" : ""; }
  const char* reset() const { return on ? "\x1b[0m" : ""; }
};

// "+0.084s", "+59.990s", "+5m02.3s", "+2h04m".
std::string Offset(int64_t ms) {
  char buf[32];
  if (ms < 60'000) std::snprintf(buf, sizeof buf, "+%.3fs", double(ms) / 1000);
  else if (ms < 3'600'000) std::snprintf(buf, sizeof buf, "+%lldm%04.1fs", (long long)(ms / 60'000), double(ms % 60'000) / 1000);
  else std::snprintf(buf, sizeof buf, "+%lldh%02lldm", (long long)(ms / 3'600'000), (long long)(ms % 3'600'000 / 60'000));
  return buf;
}

// Columns a terminal gives `s`: UTF-8 continuation bytes take none (a masked phone "…3456" is 5
// columns but 7 bytes, which printf's %-8s would pad wrongly).
size_t DisplayWidth(std::string_view s) {
  size_t n = 0;
  for (char ch : s) n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
  return n;
}

std::string PadRight(std::string s, size_t width) {
  size_t w = DisplayWidth(s);
  if (w < width) s.append(width - w, ' ');
  return s;
}

// In cluster mode (`--event-log`) the replica in `dir` is brought up to date first.
core::Result<std::unique_ptr<core::EventStore>> OpenForReading(const std::string& dir, const std::string& event_log) {
  CALLREC_RETURN_IF_ERROR(SyncReplica(dir, event_log));
  return core::EventStore::OpenReader(dir);
}

// The intake's §4 JSON, or a failure naming the id.
core::Result<std::string> IntakeJson(core::EventStore& store, const std::string& id) {
  CALLREC_ASSIGN_OR_RETURN(auto json, store.GetDerived(core::keys::IntakeKey(id)));
  if (!json) return core::Status::NotFound("no intake with id '" + id + "' in " + store.dir());
  return *json;
}

struct IdOptions {
  std::string data_dir;
  std::string event_log;
  std::string id;
  bool json = false;
};

int RunTimeline(const IdOptions& o) {
  auto store = OpenForReading(o.data_dir, o.event_log);
  if (!store.ok()) return Fail(store.status().message());
  auto intake = IntakeJson(**store, o.id);
  if (!intake.ok()) return Fail(intake.status().message());
  auto entries = core::LoadTimeline(**store, o.id);
  if (!entries.ok()) return Fail(entries.status().ToString());
  if (o.json) {
    std::cout << core::TimelineJson(o.id, *entries) << "\n";
    return kExitOk;
  }
  Colors c{::isatty(STDOUT_FILENO) == 1};
  int64_t first = entries->empty() ? 0 : entries->front().event.recorded_at_ms;
  for (const auto& entry : *entries) {
    const core::Event& e = entry.event;
    const char* tint = e.type == core::event_type::kIntakeFailed                                  ? c.red()
                       : e.type == core::event_type::kRecordingMatched || e.type == core::event_type::kStorageUpload ? c.green()
                       : e.source == core::source::kTelnyxWebhook                             ? c.cyan()
                                                                                  : "";
    std::printf("%s%s %10s%s  #%-6llu %-14s %s%s%s\n", c.dim(),
                core::FormatRfc3339Millis(e.recorded_at_ms).c_str(),
                Offset(e.recorded_at_ms - first).c_str(), c.reset(),
                static_cast<unsigned long long>(e.seq), e.source.c_str(), tint,
                entry.summary.c_str(), c.reset());
  }
  return kExitOk;
}

// One value as `show` prints it: strings bare, anything else as compact JSON.
std::string FieldText(simdjson::dom::element value) {
  if (value.is_string()) return std::string(value.get_string().value());
  return simdjson::minify(value);
}

int RunShow(const IdOptions& o) {
  auto store = OpenForReading(o.data_dir, o.event_log);
  if (!store.ok()) return Fail(store.status().message());
  auto intake = IntakeJson(**store, o.id);
  if (!intake.ok()) return Fail(intake.status().message());
  if (o.json) {
    std::cout << *intake << "\n";
    return kExitOk;
  }
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, *intake);
  if (!root.ok()) return Fail("stored intake is not JSON (run `callrec replay`)");
  simdjson::dom::object obj;
  if (root->get_object().get(obj)) return Fail("stored intake is not a JSON object");
  // metadata holds ~25 keys (recording ids, URLs, times): one line each ("metadata.recording_id"),
  // not one long JSON line, so a person can find the one they need.
  std::vector<std::pair<std::string, std::string>> rows;
  for (auto field : obj) {
    std::string key(field.key);
    simdjson::dom::object meta;
    if (key == "metadata" && !field.value.get_object().get(meta) && meta.size() > 0) {
      for (auto m : meta) rows.emplace_back("metadata." + std::string(m.key), FieldText(m.value));
    } else {
      rows.emplace_back(std::move(key), FieldText(field.value));
    }
  }
  size_t width = 0;
  for (const auto& row : rows) width = std::max(width, DisplayWidth(row.first));
  for (const auto& [key, value] : rows) std::printf("%s  %s\n", PadRight(key, width).c_str(), value.c_str());
  return kExitOk;
}

struct ListOptions {
  std::string data_dir;
  std::string event_log;
  std::string state;
  bool json = false;
};

// The human form of `intakes`: an aligned table, one row per id (an id whose record cannot be
// read is skipped, as the JSON form does).
void PrintIntakeTable(core::EventStore& store, const std::vector<std::string>& ids) {
  simdjson::dom::parser parser;
  // Rows are built first so the ID column fits the longest id (up to 64 characters).
  std::vector<std::vector<std::string>> rows = {
      {"ID", "STATE", "PHONE", "UPDATED", "FETCHES", "RECORDING / FAILURE"}};
  for (const auto& id : ids) {
    auto json = IntakeJson(store, id);
    if (!json.ok()) continue;
    auto root = core::ParseJson(parser, *json);
    if (!root.ok()) continue;
    auto str = [&](const char* p) { return std::string(core::JsonString(*root, p).value_or("")); };
    std::string detail = str("/state") == "failed" ? str("/failure_reason") + ": " + str("/last_error")
                                                    : str("/metadata/recording_id");
    rows.push_back({id, str("/state"), core::MaskPhone(str("/patient_phone")), str("/updated_at"),
                    std::to_string(core::JsonInt(*root, "/fetch_attempts").value_or(0)), detail});
  }
  std::vector<size_t> widths(rows[0].size() - 1, 0);  // the last column is not padded
  for (const auto& row : rows)
    for (size_t c = 0; c < widths.size(); ++c) widths[c] = std::max(widths[c], DisplayWidth(row[c]));
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < widths.size(); ++c) line += PadRight(row[c], widths[c]) + "  ";
    line += row.back();
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
}

int RunIntakes(const ListOptions& o) {
  auto store = OpenForReading(o.data_dir, o.event_log);
  if (!store.ok()) return Fail(store.status().message());
  std::vector<std::string> ids;
  core::Status s;
  if (o.state.empty()) {
    s = (*store)->ScanDerived(core::keys::kIntake, [&](std::string_view key, std::string_view) {
      ids.emplace_back(key.substr(7));
      return true;
    });
  } else {
    std::string prefix = core::keys::StatePrefix(o.state);
    s = (*store)->ScanDerived(prefix, [&](std::string_view key, std::string_view) {
      ids.emplace_back(key.substr(prefix.size()));
      return true;
    });
  }
  if (!s.ok()) return Fail(s.ToString());
  if (o.json) {
    std::cout << "{\"intakes\":[";
    bool first = true;
    for (const auto& id : ids) {
      auto json = IntakeJson(**store, id);
      if (!json.ok()) continue;
      std::cout << (first ? "" : ",") << *json;
      first = false;
    }
    std::cout << "]}\n";
    return kExitOk;
  }
  PrintIntakeTable(**store, ids);
  std::fprintf(stderr, "%zu intake(s)\n", ids.size());
  return kExitOk;
}

}  // namespace

void AddAuditCommands(CLI::App& app, Action& action) {
  auto timeline = std::make_shared<IdOptions>();
  CLI::App* tl = app.add_subcommand("timeline", "One line per event of an intake: time, +offset, "
                                                "seq, source and what happened");
  AddDataDirOption(*tl, timeline->data_dir);
  AddEventLogOption(*tl, timeline->event_log);
  tl->add_option("id", timeline->id, "Intake id")->required()->check(IntakeIdValidator());
  tl->add_flag("--json", timeline->json, "The same events as GET /api/intakes/{id}/timeline");
  tl->callback([timeline, &action] { action = [timeline] { return RunTimeline(*timeline); }; });

  auto show = std::make_shared<IdOptions>();
  CLI::App* sh = app.add_subcommand("show", "The intake as every reader shows it (README \"HTTP\")");
  AddDataDirOption(*sh, show->data_dir);
  AddEventLogOption(*sh, show->event_log);
  sh->add_option("id", show->id, "Intake id")->required()->check(IntakeIdValidator());
  sh->add_flag("--json", show->json, "Print the intake JSON");
  sh->callback([show, &action] { action = [show] { return RunShow(*show); }; });

  auto list = std::make_shared<ListOptions>();
  CLI::App* ls = app.add_subcommand("intakes", "List intakes as an aligned table (by id)");
  AddDataDirOption(*ls, list->data_dir);
  AddEventLogOption(*ls, list->event_log);
  ls->add_option("--state", list->state, "Only intakes in this state")
      ->check(CLI::IsMember(std::vector<std::string>(std::begin(kStates), std::end(kStates))));
  ls->add_flag("--json", list->json, "Print {\"intakes\":[...]}");
  ls->callback([list, &action] { action = [list] { return RunIntakes(*list); }; });
}

}  // namespace callrec::tools
