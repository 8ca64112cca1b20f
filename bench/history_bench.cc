// history_bench — how replay and the audit CLI scale with the size of the log.
//
//   build/history_bench [--events 1000000] [--repeat 3] [--timelines 1000] [--dir D] [--keep] [--reuse]
//                       [--timeline-only]
//
// --timeline-only (with --reuse) measures only the LoadTimeline latencies: seconds instead of
// minutes, so it can be taken again in a quiet moment.
//
// --reuse measures a store an earlier `--keep` run left in D (same --events) instead of writing
// it again: the generator runs without writing, for the intake ids.
//
// Writes a synthetic history (history_gen.h: overlapping intake lifecycles with realistic
// ~700 B webhook bodies, API envelopes, duplicates and unmatched calls) into a fresh store with
// Durability::kNoSync, then measures in the same run, on the same files:
//   raw iteration      bare RocksDB over the `events` column family (key + value touched): the floor
//   store iteration    EventStore::ForEachFrom: record decode + CRC check
//   rebuild (memory)   Projection::Rebuild: what `callrec replay --verify` does before comparing
//   rebuild + commit   BeginRebuild + Projection::RebuildInto + Commit: the `callrec replay` path
//   callrec replay     the binary as a subprocess (opening the store included)
//   timeline           LoadTimeline for random intakes (median, p99) and `callrec timeline ID`
// Each throughput figure is the median of --repeat runs; ratios are to raw iteration in this run,
// which is what to compare across machines (the absolute numbers move with the load). The
// summary also gives `callrec replay` against raw iteration in CPU time (getrusage of the child
// vs the iterating thread's CPU: robust on a shared machine) and the replay's peak RSS (the
// child's ru_maxrss, i.e. its VmHWM).
// A program, not a test: scripts/bench runs it.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <rocksdb/db.h>

#include "core/event_store.h"
#include "core/timeline.h"
#include "history_gen.h"
#include "projector/projection/projection.h"

using namespace callrec;
using Steady = std::chrono::steady_clock;

namespace {

struct Options {
  uint64_t events = 1'000'000;
  int repeat = 3;
  int timelines = 1000;
  bool timeline_only = false;
  int cli_runs = 5;
  std::string dir;
  bool keep = false;
  bool reuse = false;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "history_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Check(core::Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}
void Check(const core::Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

double Since(Steady::time_point t0) { return std::chrono::duration<double>(Steady::now() - t0).count(); }

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Runs `fn` (returning seconds) `n` times; the median.
template <typename Fn>
double MedianOf(int n, Fn fn) {
  std::vector<double> runs;
  for (int i = 0; i < n; ++i) runs.push_back(fn());
  return Median(runs);
}

struct Generated {
  uint64_t events = 0;
  uint64_t payload_bytes = 0;
  double seconds = 0;
  std::vector<std::string> intake_ids;
};

// The same history without writing it: counts and intake ids of a store a --keep run left.
Generated Regenerate(const Options& o) {
  Generated g;
  bench::HistoryGenerator gen(42);
  gen.Generate(o.events, [&](core::Event e) { g.payload_bytes += e.payload.size(); });
  auto reader = Check(core::EventStore::OpenReader(o.dir), "open reader");
  g.events = reader->LastSeq();
  g.intake_ids = gen.intake_ids();
  return g;
}

Generated Generate(const Options& o) {
  core::SystemClock clock;
  auto store = Check(core::EventStore::Open(o.dir, clock), "open");
  Generated g;
  bench::HistoryGenerator gen(42);
  std::vector<core::Event> batch;
  auto t0 = Steady::now();
  auto flush = [&] {
    Check(store->AppendAll(std::move(batch), core::Durability::kNoSync), "append");
    batch.clear();
  };
  gen.Generate(o.events, [&](core::Event e) {
    g.payload_bytes += e.payload.size();
    batch.push_back(std::move(e));
    if (batch.size() >= 1000) flush();
  });
  if (!batch.empty()) flush();
  g.seconds = Since(t0);
  g.events = store->LastSeq();
  g.intake_ids = gen.intake_ids();
  return g;
}

// Bare RocksDB: every column family must be named to open the DB; only `events` is read.
// Returns the wall seconds of the scan; `cpu_seconds` (when given) gets its thread CPU time.
double RawIteration(const std::string& dir, uint64_t expected, double* cpu_seconds = nullptr) {
  rocksdb::DBOptions db_options;
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies(db_options, dir, &names).ok()) Die("list column families");
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::OpenForReadOnly(db_options, dir, cfs, &handles, &db).ok()) Die("raw open");
  rocksdb::ColumnFamilyHandle* events = nullptr;
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == "events") events = handles[i];
  if (events == nullptr) Die("no events column family");
  auto t0 = Steady::now();
  double cpu0 = ThreadCpuSeconds();
  uint64_t n = 0, bytes = 0;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), events));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    bytes += it->key().size() + it->value().size() + uint8_t(it->value()[it->value().size() / 2]);
    ++n;
  }
  double secs = Since(t0);
  if (cpu_seconds != nullptr) *cpu_seconds = ThreadCpuSeconds() - cpu0;
  if (n != expected || bytes == 0) Die("raw iteration saw " + std::to_string(n) + " events");
  it.reset();
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  return secs;
}

struct Spawned {
  double seconds = 0;
  double cpu_seconds = 0;  // user + system of the child
  long max_rss_kb = 0;     // the child's peak RSS (VmHWM)
  int exit_code = -1;
  std::string out;
};

// Runs argv with stdin and stderr on /dev/null, capturing stdout; wall time from spawn to exit,
// the child's CPU time and peak RSS from wait4. posix_spawn, not fork: a forked child's peak RSS
// starts at this (large) process's and survives execve, so ru_maxrss reported ours, not replay's.
Spawned Run(const std::vector<std::string>& argv) {
  Spawned r;
  int out[2];
  if (::pipe(out) != 0) Die("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto t0 = Steady::now();
  pid_t pid = 0;
  int spawned = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) Die("spawn " + argv[0]);
  ::close(out[1]);
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) r.out.append(buf, size_t(n));
  ::close(out[0]);
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  r.seconds = Since(t0);
  auto secs = [](const timeval& tv) { return double(tv.tv_sec) + double(tv.tv_usec) / 1e6; };
  r.cpu_seconds = secs(ru.ru_utime) + secs(ru.ru_stime);
  r.max_rss_kb = ru.ru_maxrss;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string CallrecPath() {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "callrec").string();
}

void Row(const char* what, uint64_t events, double seconds, double raw_seconds) {
  std::printf("  %-38s %12.0f %9.2f %9.1fx\n", what, double(events) / seconds, seconds, seconds / raw_seconds);
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--events") o.events = std::strtoull(value().c_str(), nullptr, 10);
    else if (flag == "--repeat") o.repeat = std::max(1, std::atoi(value().c_str()));
    else if (flag == "--timelines") o.timelines = std::max(1, std::atoi(value().c_str()));
    else if (flag == "--dir") o.dir = value();
    else if (flag == "--keep") o.keep = true;
    else if (flag == "--reuse") o.reuse = o.keep = true;
    else if (flag == "--timeline-only") o.timeline_only = true;
    else Die("unknown flag " + flag + " (--events N --repeat R --timelines K --dir D --keep --reuse --timeline-only)");
  }
  if (o.events < 100) Die("--events must be at least 100");
  if (o.dir.empty()) o.dir = (std::filesystem::temp_directory_path() / "callrec-history-bench").string();
  return o;
}

// Store iteration, in-memory rebuild and rebuild + commit, in this process on one open store.
struct InProcess {
  double store_iter = 0, rebuild = 0, rebuild_commit = 0;
};

InProcess MeasureInProcess(const Options& o, uint64_t events) {
  InProcess m;
  core::SystemClock clock;
  auto store = Check(core::EventStore::Open(o.dir, clock), "open");
  m.store_iter = MedianOf(o.repeat, [&] {
    uint64_t bytes = 0;
    auto t = Steady::now();
    Check(store->ForEachFrom(1, [&](const core::Event& e) {
      bytes += e.payload.size();
      return true;
    }), "iterate");
    if (bytes == 0) Die("no payload bytes");
    return Since(t);
  });
  m.rebuild = MedianOf(o.repeat, [&] {
    auto t = Steady::now();
    auto p = Check(projector::Projection::Rebuild(*store), "rebuild");
    double s = Since(t);
    if (p.last_seq() != events) Die("rebuild stopped early");
    return s;
  });
  m.rebuild_commit = MedianOf(o.repeat, [&] {
    auto t = Steady::now();
    auto out = Check(store->BeginRebuild(), "begin rebuild");
    auto p = Check(projector::Projection::RebuildInto(*store, *out), "rebuild into");
    Check(out->Commit(), "commit");
    return Since(t);
  });
  return m;
}

// LoadTimeline latencies, read as the CLI and the API do, in two passes over one reader: the
// first --timelines random intakes right after opening it (cold block cache: what `callrec
// timeline` sees, a fresh process each time) and the next --timelines (warm: what the API sees in
// a running `serve`). Each call's thread CPU time is taken as well: on a shared machine the wall
// p99 of a 0.1 ms call is mostly the scheduler; the CPU p99 is what the call itself costs.
struct Latencies {
  std::vector<double> wall_us, cpu_us;  // sorted
  double P(const std::vector<double>& v, int pct) const { return v[v.size() * pct / 100]; }
};
struct TimelineFigures {
  Latencies cold, warm;
  double events_each = 0;
};

double ThreadCpuUs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

TimelineFigures MeasureTimelines(const Options& o, const std::vector<std::string>& ids) {
  TimelineFigures f;
  auto reader = Check(core::EventStore::OpenReader(o.dir), "open reader");
  std::mt19937_64 rng(7);
  size_t events = 0;
  for (Latencies* pass : {&f.cold, &f.warm}) {
    for (int i = 0; i < o.timelines; ++i) {
      const std::string& id = ids[rng() % ids.size()];
      auto t = Steady::now();
      double cpu = ThreadCpuUs();
      auto entries = Check(core::LoadTimeline(*reader, id), "timeline");
      pass->cpu_us.push_back(ThreadCpuUs() - cpu);
      pass->wall_us.push_back(Since(t) * 1e6);
      events += entries.size();
    }
    std::sort(pass->wall_us.begin(), pass->wall_us.end());
    std::sort(pass->cpu_us.begin(), pass->cpu_us.end());
  }
  f.events_each = double(events) / double(2 * o.timelines);
  return f;
}

void PrintTimelines(const Options& o, const TimelineFigures& f) {
  std::printf("  LoadTimeline, random intakes (%.1f events each), wall (CPU) in us:\n", f.events_each);
  for (auto [name, l] : {std::pair{"first", &f.cold}, std::pair{"next", &f.warm}}) {
    std::printf("    %-5s %4d after opening: median %4.0f (%4.0f)  p99 %5.0f (%5.0f)  max %6.0f\n", name, o.timelines,
                l->P(l->wall_us, 50), l->P(l->cpu_us, 50), l->P(l->wall_us, 99), l->P(l->cpu_us, 99),
                l->wall_us.back());
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseOptions(argc, argv);
  if (!o.reuse) std::filesystem::remove_all(o.dir);
  std::printf("history_bench: %llu events %s %s (kNoSync, AppendAll x1000)\n", (unsigned long long)o.events,
              o.reuse ? "already in" : "into", o.dir.c_str());
  std::fflush(stdout);
  Generated g = o.reuse ? Regenerate(o) : Generate(o);
  std::printf("  generated %llu events (%zu intakes, avg %.0f B payload, %.1f MB) in %.1f s (%.0f events/s)\n",
              (unsigned long long)g.events, g.intake_ids.size(), double(g.payload_bytes) / double(g.events),
              double(g.payload_bytes) / 1e6, g.seconds, double(g.events) / g.seconds);
  std::fflush(stdout);
  if (o.timeline_only) {
    PrintTimelines(o, MeasureTimelines(o, g.intake_ids));
    return 0;
  }

  // ---- opening and iterating ----
  // The first open after the writer closed replays its write-ahead log (as after `serve` stops).
  auto t_fresh = Steady::now();
  Check(core::EventStore::OpenReader(o.dir), "open reader");
  double open_fresh = Since(t_fresh);
  RawIteration(o.dir, g.events);  // warms the page cache so every phase below reads the same way
  std::vector<double> raw_cpu_runs;
  double raw = MedianOf(o.repeat, [&] {
    double cpu = 0, wall = RawIteration(o.dir, g.events, &cpu);
    raw_cpu_runs.push_back(cpu);
    return wall;
  });
  double raw_cpu = Median(raw_cpu_runs);
  InProcess in = MeasureInProcess(o, g.events);

  // ---- the binary ----
  const std::string callrec = CallrecPath();
  std::string summary;
  std::vector<double> replay_cpu_runs, replay_rss_mb;
  double replay = MedianOf(o.repeat, [&] {
    Spawned r = Run({callrec, "replay", "--data-dir", o.dir});
    if (r.exit_code != 0) Die("callrec replay failed");
    summary = r.out;
    replay_cpu_runs.push_back(r.cpu_seconds);
    replay_rss_mb.push_back(double(r.max_rss_kb) / 1024.0);
    return r.seconds;
  });
  double replay_cpu = Median(replay_cpu_runs);
  Spawned verify = Run({callrec, "replay", "--verify", "--data-dir", o.dir});
  if (verify.exit_code != 0) Die("callrec replay --verify found differences:\n" + verify.out);
  double open_settled = MedianOf(o.repeat, [&] {
    auto t = Steady::now();
    Check(core::EventStore::OpenReader(o.dir), "open reader");
    return Since(t);
  });

  // ---- timelines ----
  TimelineFigures timelines = MeasureTimelines(o, g.intake_ids);
  std::vector<double> cli_ms;
  for (int i = 0; i < o.cli_runs; ++i) {
    Spawned r = Run({callrec, "timeline", g.intake_ids[(i * 7919) % g.intake_ids.size()], "--data-dir", o.dir});
    if (r.exit_code != 0) Die("callrec timeline failed");
    cli_ms.push_back(r.seconds * 1e3);
  }

  // ---- report ----
  std::string header = "phase (median of " + std::to_string(o.repeat) + ")";
  std::printf("\n  %-38s %12s %9s %10s\n", header.c_str(), "events/s", "seconds", "vs raw");
  Row("raw RocksDB iteration (events CF)", g.events, raw, raw);
  Row("EventStore::ForEachFrom (decode+CRC)", g.events, in.store_iter, raw);
  Row("Projection::Rebuild (in memory)", g.events, in.rebuild, raw);
  Row("RebuildInto + Commit (replay path)", g.events, in.rebuild_commit, raw);
  Row("`callrec replay` (process, wall)", g.events, replay, raw);
  std::printf("  %-38s %22.2f s\n", "`callrec replay --verify` (wall)", verify.seconds);
  std::printf("  %-38s %22.2f s\n", "OpenReader, first after the writer", open_fresh);
  std::printf("  %-38s %22.2f s\n", "OpenReader, settled", open_settled);
  std::printf("\n");
  PrintTimelines(o, timelines);
  std::printf("  `callrec timeline ID` x%d (process, wall): median %.1f ms\n", o.cli_runs, Median(cli_ms));
  std::printf("  last replay said: %s", summary.c_str());

  std::printf("\n  summary (issue 11 targets), medians of %d\n", o.repeat);
  std::printf("  %-52s %8.3fx  (%.0f vs %.0f events/s; target >= 0.1x)\n",
              "`callrec replay` / raw iteration, wall events/s", raw / replay, double(g.events) / replay,
              double(g.events) / raw);
  std::printf("  %-52s %8.3fx  (%.2f s vs %.2f s CPU)\n", "`callrec replay` / raw iteration, CPU time",
              raw_cpu / replay_cpu, replay_cpu, raw_cpu);
  const Latencies& cold = timelines.cold;
  const Latencies& warm = timelines.warm;
  std::printf("  %-52s %8.2f ms (CPU %.2f ms; target <= 1 ms)\n", "LoadTimeline p99, first after opening",
              cold.P(cold.wall_us, 99) / 1e3, cold.P(cold.cpu_us, 99) / 1e3);
  std::printf("  %-52s %8.2f ms (CPU %.2f ms; target <= 1 ms)\n", "LoadTimeline p99, warm",
              warm.P(warm.wall_us, 99) / 1e3, warm.P(warm.cpu_us, 99) / 1e3);
  std::printf("  %-52s %8.0f MB\n", "peak RSS of `callrec replay` (VmHWM)", Median(replay_rss_mb));
  if (!o.keep) std::filesystem::remove_all(o.dir);
  return 0;
}
