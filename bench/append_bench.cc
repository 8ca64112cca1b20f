// append_bench — durable (fsync'd) append rate of EventStore at several writer counts.
//
//   build/append_bench [--seconds S] [--writers 1,8,64] [--dir /tmp/x]
// Prints one line per writer count: appends/s and median/p99 latency, and the ratio to the
// single-writer rate (the gain from group commit). A program, not a test: scripts/bench runs it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <rocksdb/db.h>

#include "core/event_store.h"

using namespace callrec;
using Clock = std::chrono::steady_clock;

namespace {

struct Run {
  double per_second;
  double p50_us;
  double p99_us;
};

// The floor to compare with: bare RocksDB Put(sync=true) of the same bytes, no seq, no index.
Run MeasureRaw(const std::string& dir, int writers, double seconds, const std::string& payload) {
  std::filesystem::remove_all(dir);
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::Open(o, dir, &db).ok()) std::exit(1);
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(writers);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  rocksdb::WriteOptions wo;
  wo.sync = true;
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&, w] {
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        auto t0 = Clock::now();
        if (!db->Put(wo, std::to_string(w) + "-" + std::to_string(i), payload).ok()) std::exit(1);
        latencies[w].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  delete db;
  std::vector<double> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  return Run{double(all.size()) / elapsed, all[all.size() / 2], all[all.size() * 99 / 100]};
}

Run Measure(const std::string& dir, int writers, double seconds, const std::string& payload) {
  std::filesystem::remove_all(dir);
  core::SystemClock clock;
  auto store = std::move(core::EventStore::Open(dir, clock).value());
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(writers);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&, w] {
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        core::Event e;
        e.type = "telnyx.webhook";
        e.source = "telnyx.webhook";
        e.payload = payload;
        e.idempotency_key = "telnyx:" + std::to_string(w) + "-" + std::to_string(i);
        auto t0 = Clock::now();
        auto r = store->Append(std::move(e), core::Durability::kSync);
        if (!r.ok()) {
          std::fprintf(stderr, "append failed: %s\n", r.status().ToString().c_str());
          std::exit(1);
        }
        latencies[w].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  Run r{double(all.size()) / elapsed, all[all.size() / 2], all[all.size() * 99 / 100]};
  auto report = store->Check();
  if (!report.ok() || !report->ok()) {
    std::fprintf(stderr, "log damaged after the run!\n");
    std::exit(1);
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  std::string writers_arg = "1,8,64";
  std::string dir = (std::filesystem::temp_directory_path() / "callrec-append-bench").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (flag == "--writers") writers_arg = argv[i + 1];
    else if (flag == "--dir") dir = argv[i + 1];
  }
  // A 698-byte body, the size of a signed call.answered.
  std::string payload(698, 'x');
  std::printf("durable append (sync=true), %.0f s per run, payload %zu bytes\n", seconds, payload.size());
  std::printf("%8s %12s %10s %10s %8s %14s %10s\n", "writers", "appends/s", "p50_us", "p99_us",
              "vs_1", "raw_rocksdb/s", "ours/raw");
  double base = 0;
  std::stringstream ss(writers_arg);
  for (std::string item; std::getline(ss, item, ',');) {
    int writers = std::atoi(item.c_str());
    Run r = Measure(dir, writers, seconds, payload);
    Run raw = MeasureRaw(dir, writers, seconds, payload);
    if (base == 0) base = r.per_second;
    std::printf("%8d %12.0f %10.0f %10.0f %8.2f %14.0f %10.2f\n", writers, r.per_second, r.p50_us,
                r.p99_us, r.per_second / base, raw.per_second, r.per_second / raw.per_second);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
