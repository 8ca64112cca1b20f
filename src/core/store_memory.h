// store_memory.h — what an event store's RocksDB holds in memory, and the bound on it.
//
// RocksDB's memory is the block cache, the memtables and the table readers (index and filter
// blocks of open SST files). The block cache is one LRU of kStoreCacheBytes shared by every
// column family, and the memtables are charged to it (a WriteBufferManager of
// kStoreMemtableBytes flushes them past that): cache + memtables stay within kStoreCacheBytes
// however many events arrive or are read. Issue 8 gives `serve` 128 MB on a 1,000,000-event
// store; 32 MiB of it for RocksDB leaves the rest to the open intakes, the HTTP workers and
// the allocator (docs/PERFORMANCE.md has the measurements behind the figure). The memtables'
// share is small because RSS rises by it while they fill and drops when they flush: 8 MiB keeps
// that saw-tooth within issue 8's ±10 % (a flush every minute or two at a busy clinic's rate).
//
// Declared apart from event_store.h so the widely included store interface stays as it is.
// Thread-safety: safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/event_store.h"

namespace callrec::core {

inline constexpr size_t kStoreCacheBytes = size_t(32) << 20;
inline constexpr size_t kStoreMemtableBytes = size_t(8) << 20;

struct StoreMemory {
  uint64_t cache = 0;          // block cache usage, the memtables' reservation included
  uint64_t memtables = 0;      // all column families' memtables (active and waiting to flush)
  uint64_t table_readers = 0;  // index and filter blocks of open SST files (outside the cache)
};

// The store's RocksDB memory now; nullopt for other EventStore implementations.
std::optional<StoreMemory> MeasureStoreMemory(EventStore& store);

}  // namespace callrec::core
