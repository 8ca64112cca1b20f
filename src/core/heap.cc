#include "core/heap.h"

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace callrec::core {
namespace {

// malloc_info's XML has one <heap nr="N"> element per arena.
size_t CountArenas() {
  char* text = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  if (out == nullptr) return 0;
  malloc_info(0, out);
  std::fclose(out);
  size_t arenas = 0;
  for (const char* at = text; (at = std::strstr(at, "<heap nr=")) != nullptr; at += 9) ++arenas;
  std::free(text);
  return arenas;
}

}  // namespace

bool LimitMallocArenas(int arenas) {
  bool ok = mallopt(M_ARENA_MAX, arenas) == 1;
  // Setting the threshold also stops glibc from moving it (and the trim threshold) up.
  ok = mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1 && ok;
  return ok;
}

HeapUsage MeasureHeap() {
  struct mallinfo2 info = mallinfo2();
  HeapUsage usage;
  usage.in_use = uint64_t(info.uordblks) + uint64_t(info.hblkhd);
  usage.free = uint64_t(info.fordblks);
  usage.arenas = CountArenas();
  return usage;
}

bool ReturnFreeHeap() { return malloc_trim(0) == 1; }

}  // namespace callrec::core
