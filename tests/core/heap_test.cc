// core/heap.h: serve's allocator settings. Arenas are per process and never go away, so the
// cap is checked in a fresh process (a gtest death test re-executes the binary for it).
#include "core/heap.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

namespace callrec::core {
namespace {

// 16 threads allocating and freeing at once: without a cap glibc gives them arenas of their own.
size_t ArenasAfterContention() {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&go] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < 20'000; ++i) {
        void* p = std::malloc(64 + size_t(i % 512));
        static_cast<char*>(p)[0] = 1;
        std::free(p);
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  return MeasureHeap().arenas;
}

TEST(HeapDeathTest, LimitMallocArenasCapsTheArenasOfManyContendingThreads) {
  if (!kMallocIsGlibc) GTEST_SKIP() << "ASan's allocator";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        bool limited = LimitMallocArenas(kServeMallocArenas);
        size_t arenas = ArenasAfterContention();
        std::exit(limited && arenas >= 1 && arenas <= size_t(kServeMallocArenas) ? 0 : 10 + int(arenas));
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(Heap, MeasureHeapSeesLiveBytesAndReturnFreeHeapDoesNotLoseThem) {
  if (!kMallocIsGlibc) GTEST_SKIP() << "ASan's allocator";
  std::vector<char*> blocks;
  for (int i = 0; i < 64; ++i) blocks.push_back(new char[16 * 1024]());
  HeapUsage with = MeasureHeap();
  EXPECT_GE(with.in_use, 64u * 16 * 1024);
  EXPECT_GE(with.arenas, 1u);
  ReturnFreeHeap();
  for (char* b : blocks) EXPECT_EQ(b[100], 0);
  for (char* b : blocks) delete[] b;
}

}  // namespace
}  // namespace callrec::core
