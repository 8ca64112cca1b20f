#include "tools/memory_upkeep.h"

#include "core/heap.h"
#include "core/store_memory.h"

namespace callrec::tools {
namespace {

constexpr char kHeapHelp[] = "malloc's bytes: in_use (live) and free (held by the arenas; returned every few seconds)";
constexpr char kStoreHelp[] =
    "RocksDB memory: cache (block cache with the memtables' share; bounded), memtables, table_readers";

}  // namespace

MemoryUpkeep::MemoryUpkeep(core::EventStore& store, core::Metrics& metrics, std::chrono::milliseconds interval)
    : store_(store),
      heap_in_use_(metrics.GetGauge("callrec_heap_bytes", kHeapHelp, {{"kind", "in_use"}})),
      heap_free_(metrics.GetGauge("callrec_heap_bytes", kHeapHelp, {{"kind", "free"}})),
      arenas_(metrics.GetGauge("callrec_heap_arenas", "glibc malloc arenas (capped at start)")),
      trim_ms_(metrics.GetMillisGauge("callrec_heap_trim_seconds",
                                      "How long the last return of free heap pages took (arenas locked meanwhile)")),
      store_cache_(metrics.GetGauge("callrec_store_memory_bytes", kStoreHelp, {{"kind", "cache"}})),
      store_memtables_(metrics.GetGauge("callrec_store_memory_bytes", kStoreHelp, {{"kind", "memtables"}})),
      store_table_readers_(metrics.GetGauge("callrec_store_memory_bytes", kStoreHelp, {{"kind", "table_readers"}})) {
  RunOnce();  // the gauges have values from the first scrape on
  if (interval.count() > 0) thread_ = std::thread([this, interval] { Run(interval); });
}

MemoryUpkeep::~MemoryUpkeep() {
  {
    core::MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MemoryUpkeep::RunOnce() {
  core::HeapUsage heap = core::MeasureHeap();  // before the trim: what accumulated meanwhile
  heap_in_use_->Set(int64_t(heap.in_use));
  heap_free_->Set(int64_t(heap.free));
  arenas_->Set(int64_t(heap.arenas));
  if (auto m = core::MeasureStoreMemory(store_)) {
    store_cache_->Set(int64_t(m->cache));
    store_memtables_->Set(int64_t(m->memtables));
    store_table_readers_->Set(int64_t(m->table_readers));
  }
  auto start = std::chrono::steady_clock::now();
  core::ReturnFreeHeap();
  trim_ms_->Set(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
}

void MemoryUpkeep::Run(std::chrono::milliseconds interval) {
  core::MutexLock lock(mu_);
  while (!cv_.wait_for(lock, interval, [this]() REQUIRES(mu_) { return stop_; })) {
    mu_.Unlock();
    RunOnce();
    mu_.Lock();
  }
}

}  // namespace callrec::tools
