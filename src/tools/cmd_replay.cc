// `callrec replay [--verify]`: rebuilds every derived structure from the log.
//
// Replay builds a new generation of derived data aside (EventStore::BeginRebuild) and swaps it in
// with one synced write, so a crash mid-replay leaves the old projection in place. It applies
// events with the same pure Projection::Apply the service uses and never builds an HTTP client:
// no Telnyx or storage call can happen. --verify rebuilds in memory and compares with the live
// derived data instead, listing each intake that differs and the fields.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>

#include "core/derived_keys.h"
#include "core/event_store.h"
#include "core/json.h"
#include "projector/projection/projection.h"
#include "tools/cli.h"
#include "tools/replica_sync.h"

namespace callrec::tools {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct ReplayOptions {
  std::string data_dir;
  std::string event_log;
  bool verify = false;
};

// Progress on stderr: a redrawn bar on a terminal, a plain line every 2 s otherwise.
class Progress {
 public:
  explicit Progress(uint64_t total) : total_(total), tty_(::isatty(STDERR_FILENO) == 1) {}
  void Update(uint64_t done) {
    auto now = SteadyClock::now();
    if (now - last_ < (tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(2000)) && done < total_)
      return;
    last_ = now;
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? double(done) / secs : 0;
    double eta = rate > 0 ? double(total_ - std::min(done, total_)) / rate : 0;
    int pct = total_ ? int(100.0 * double(done) / double(total_)) : 100;
    if (tty_) {
      int filled = pct / 4;
      std::fprintf(stderr, "\r[%.*s%.*s] %3d%%  %llu/%llu events  %.0f ev/s  ETA %.0fs ", filled,
                   "#########################", 25 - filled, ".........................", pct,
                   (unsigned long long)done, (unsigned long long)total_, rate, eta);
    } else {
      std::fprintf(stderr, "replay: %llu/%llu events (%d%%), %.0f events/s, ETA %.0fs\n",
                   (unsigned long long)done, (unsigned long long)total_, pct, rate, eta);
    }
  }
  void Finish() {
    if (tty_) std::fprintf(stderr, "\n");
  }
  double Seconds() const { return std::chrono::duration<double>(SteadyClock::now() - start_).count(); }

 private:
  uint64_t total_;
  bool tty_;
  SteadyClock::time_point start_ = SteadyClock::now();
  SteadyClock::time_point last_{};
};

void PrintSummary(const projector::Projection& p, double seconds) {
  std::map<std::string, int> by_state;
  int intakes = 0;
  p.ForEachIntake([&](const projector::IntakeState& s) {
    ++by_state[std::string(projector::StateName(s.state))];
    ++intakes;
  });
  std::printf("replayed %llu events in %.2f s (%.0f events/s): %d intakes", (unsigned long long)p.last_seq(),
              seconds, seconds > 0 ? double(p.last_seq()) / seconds : 0.0, intakes);
  for (const auto& [state, n] : by_state) std::printf(", %d %s", n, state.c_str());
  std::printf(", %llu unmatched webhooks\n", (unsigned long long)p.unmatched_total());
}

// Top-level and metadata fields whose values differ between two intake JSONs.
std::vector<std::string> DifferingFields(std::string_view live, std::string_view rebuilt) {
  simdjson::dom::parser pa, pb;
  auto a = core::ParseJson(pa, live);
  auto b = core::ParseJson(pb, rebuilt);
  if (!a.ok() || !b.ok()) return {"(unparseable)"};
  std::map<std::string, std::pair<std::string, std::string>> fields;
  auto collect = [&](simdjson::dom::element root, bool first) {
    simdjson::dom::object obj;
    if (root.get_object().get(obj)) return;
    for (auto f : obj) {
      std::string key(f.key);
      if (key == "metadata") {
        simdjson::dom::object meta;
        if (!f.value.get_object().get(meta))
          for (auto m : meta) {
            auto& slot = fields["metadata." + std::string(m.key)];
            (first ? slot.first : slot.second) = simdjson::minify(m.value);
          }
        continue;
      }
      auto& slot = fields[key];
      (first ? slot.first : slot.second) = simdjson::minify(f.value);
    }
  };
  collect(*a, true);
  collect(*b, false);
  std::vector<std::string> out;
  for (const auto& [k, v] : fields)
    if (v.first != v.second) out.push_back(k + ": live " + (v.first.empty() ? "(absent)" : v.first) +
                                           ", rebuilt " + (v.second.empty() ? "(absent)" : v.second));
  return out;
}

int Verify(core::EventStore& store) {
  Progress progress(store.LastSeq());
  auto rebuilt = projector::Projection::Rebuild(store, [&](uint64_t n, uint64_t) { progress.Update(n); });
  progress.Finish();
  if (!rebuilt.ok()) return Fail(rebuilt.status().ToString());
  std::map<std::string, std::string> expected;
  core::DerivedBatch batch = rebuilt->Flush();
  for (const auto& op : batch.ops())
    if (!op.is_delete) expected[op.key] = op.value;
  std::map<std::string, std::string> live;
  core::Status s = store.ScanDerived("", [&](std::string_view k, std::string_view v) {
    live.emplace(std::string(k), std::string(v));
    return true;
  });
  if (!s.ok()) return Fail(s.ToString());
  int differences = 0;
  auto report = [&](const std::string& key, const std::string* l, const std::string* r) {
    ++differences;
    if (key.rfind(core::keys::kIntake, 0) == 0) {
      std::printf("intake %s differs:\n", key.substr(core::keys::kIntake.size()).c_str());
      if (!l || !r) std::printf("  %s\n", l ? "missing from the rebuild" : "missing from the live projection");
      else
        for (const auto& f : DifferingFields(*l, *r)) std::printf("  %s\n", f.c_str());
    } else {
      std::printf("derived key %s: %s\n", key.c_str(), !l ? "missing live" : !r ? "not in the rebuild" : "differs");
    }
  };
  for (const auto& [k, v] : expected) {
    auto it = live.find(k);
    if (it == live.end()) report(k, nullptr, &v);
    else if (it->second != v) report(k, &it->second, &v);
  }
  for (const auto& [k, v] : live)
    if (!expected.count(k)) report(k, &v, nullptr);
  if (differences) {
    std::printf("verify FAILED: %d difference(s) between the live projection and a rebuild from %llu events\n",
                differences, (unsigned long long)store.LastSeq());
    return kExitFailure;
  }
  std::printf("verified: the live projection equals a rebuild from %llu events (%zu derived keys)\n",
              (unsigned long long)store.LastSeq(), expected.size());
  return kExitOk;
}

int RunReplay(const ReplayOptions& o) {
  if (core::Status synced = SyncReplica(o.data_dir, o.event_log); !synced.ok()) return Fail(synced.message());
  // EventStore::Open creates a missing store; a mistyped --data-dir must not get an empty one.
  // The test is the one EventStore::OpenReader makes. Not OpenReader itself: right after `serve`
  // stops, opening replays the write-ahead log, and replay would pay that twice (2-3 s at 1M
  // events, bench/history_bench.cc).
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(o.data_dir) / "CURRENT", ec))
    return Fail("no callrec store in " + o.data_dir);
  core::SystemClock clock;  // only for the store's API: replay appends nothing
  auto store = core::EventStore::Open(o.data_dir, clock);
  if (!store.ok()) {
    if (store.status().code() == core::StatusCode::kFailedPrecondition)
      return Fail(store.status().message() + "; replay needs the store to itself: stop `serve` first");
    return Fail(store.status().message());
  }
  if (o.verify) return Verify(**store);
  auto rebuild = (*store)->BeginRebuild();
  if (!rebuild.ok()) return Fail(rebuild.status().ToString());
  Progress progress((*store)->LastSeq());
  auto projection = projector::Projection::RebuildInto(
      **store, **rebuild, [&](uint64_t n, uint64_t) { progress.Update(n); });
  progress.Finish();
  if (!projection.ok()) return Fail(projection.status().ToString() + " (the old projection is unchanged)");
  core::Status committed = (*rebuild)->Commit();
  if (!committed.ok()) return Fail(committed.ToString() + " (the old projection is unchanged)");
  PrintSummary(*projection, progress.Seconds());
  return kExitOk;
}

}  // namespace

void AddReplayCommand(CLI::App& app, Action& action) {
  auto o = std::make_shared<ReplayOptions>();
  CLI::App* cmd = app.add_subcommand(
      "replay", "Rebuild every projection from the log (refused while `serve` holds the store)");
  AddDataDirOption(*cmd, o->data_dir);
  AddEventLogOption(*cmd, o->event_log);
  cmd->add_flag("--verify", o->verify,
                "Rebuild aside and compare with the live projection; exit 1 on any difference");
  cmd->callback([o, &action] { action = [o] { return RunReplay(*o); }; });
}

}  // namespace callrec::tools
