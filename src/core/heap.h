// heap.h — glibc malloc settings and figures for a long-running server with many threads.
//
// glibc gives threads that contend for malloc their own arena (up to 8 per core), and memory
// freed inside an arena stays in that arena: `serve` runs ~80 threads (HTTP workers, lanes,
// RocksDB), so a request served by one worker frees into an arena another request will not
// reuse, and the process grows with the traffic while the live data stays flat (measured on
// the 1,000,000-event store: 95 MB taken from the system for 57 MB in use; docs/PERFORMANCE.md).
// `serve` therefore calls LimitMallocArenas(kServeMallocArenas) before it starts any thread, and
// returns free pages to the system periodically with ReturnFreeHeap().
//
// Under ASan/other allocators these calls change nothing and MeasureHeap reads glibc's (idle)
// arenas. Thread-safety: all functions are safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace callrec::core {

// Whether malloc is glibc's: a sanitizer build brings its own allocator, where these settings
// and figures do not apply (tests skip their glibc-specific checks on it).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kMallocIsGlibc = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kMallocIsGlibc = false;
#else
inline constexpr bool kMallocIsGlibc = true;
#endif
#else
inline constexpr bool kMallocIsGlibc = true;
#endif

// Arenas `serve` allows: the main one and one more, for two cores.
inline constexpr int kServeMallocArenas = 2;

// Caps glibc's arenas at `arenas` and fixes the mmap threshold at 128 KiB (glibc otherwise
// raises it to 32 MiB after the first large free, so big buffers stay in the arenas once freed).
// Call before starting threads: arenas already made stay. False when glibc refused a setting.
bool LimitMallocArenas(int arenas);

struct HeapUsage {
  uint64_t in_use = 0;  // allocated and not freed, arenas and mmapped blocks
  uint64_t free = 0;    // held by the arenas, free, still resident until returned
  size_t arenas = 0;    // glibc arenas in use by the process
};
HeapUsage MeasureHeap();

// Returns the arenas' free pages to the system (malloc_trim). True when something was returned.
bool ReturnFreeHeap();

}  // namespace callrec::core
