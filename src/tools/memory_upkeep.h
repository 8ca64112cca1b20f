// memory_upkeep.h — `serve`'s memory housekeeping: every interval, publishes what the heap and
// the store's RocksDB hold and returns the allocator's free pages to the system.
//
// Why: with glibc's arenas capped (core/heap.h) free memory still stays resident in them until
// malloc_trim; trimming every few seconds keeps RSS at the live data instead of at its peak, so
// RSS stays flat across any number of calls (issue 8; docs/PERFORMANCE.md). The gauges show an
// operator where the memory is:
//   callrec_heap_bytes{kind="in_use"|"free"}                   malloc's live and free bytes
//   callrec_heap_arenas                                        glibc arenas
//   callrec_heap_trim_seconds                                  the last trim's duration (it
//                                                              holds each arena's lock meanwhile)
//   callrec_store_memory_bytes{kind="cache"|"memtables"|"table_readers"}   core/store_memory.h
//
// Thread-safety: RunOnce() from any thread; the constructor starts a thread the destructor joins.
#pragma once

#include <chrono>
#include <condition_variable>
#include <thread>

#include "core/event_store.h"
#include "core/metrics.h"
#include "core/thread_annotations.h"

namespace callrec::tools {

class MemoryUpkeep {
 public:
  // Borrows `store` and `metrics` (they must outlive this). interval 0: no thread, RunOnce only.
  MemoryUpkeep(core::EventStore& store, core::Metrics& metrics, std::chrono::milliseconds interval);
  ~MemoryUpkeep();
  MemoryUpkeep(const MemoryUpkeep&) = delete;
  MemoryUpkeep& operator=(const MemoryUpkeep&) = delete;

  // Sets the gauges, then trims the heap.
  void RunOnce();

 private:
  void Run(std::chrono::milliseconds interval);

  core::EventStore& store_;
  core::Gauge* heap_in_use_;
  core::Gauge* heap_free_;
  core::Gauge* arenas_;
  core::Gauge* trim_ms_;
  core::Gauge* store_cache_;
  core::Gauge* store_memtables_;
  core::Gauge* store_table_readers_;
  core::Mutex mu_;
  std::condition_variable_any cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace callrec::tools
