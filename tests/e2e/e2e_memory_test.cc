// End to end, serve's memory settings (issue 8: RSS flat across any number of calls): many
// connections served at once share the capped malloc arenas (core/heap.h), and /metrics shows
// where the memory is (memory_upkeep.h), the store's RocksDB within its bound.
#include <gtest/gtest.h>

#include <thread>

#include "core/heap.h"
#include "core/store_memory.h"
#include "e2e/e2e_env.h"

namespace callrec::testing::e2e {
namespace {

// One series of /metrics ("name{labels}"), or -1 when absent.
double Gauge(E2eEnv& env, const std::string& series) {
  return MetricValue(env.Api("GET", "/metrics").body, series);
}

TEST(E2eMemory, ConnectionsServedAtOnceShareTheCappedArenasAndMetricsShowTheMemory) {
  E2eEnv env;
  ASSERT_TRUE(env.StartServe()) << env.serve().Stderr();
  int port = env.serve().port();
  // 16 keep-alive connections at once: 16 HTTP workers allocating concurrently.
  std::vector<std::thread> clients;
  for (int t = 0; t < 16; ++t) {
    clients.emplace_back([port] {
      httplib::Client c("127.0.0.1", port);
      c.set_keep_alive(true);
      for (int i = 0; i < 40; ++i) c.Get("/metrics");
    });
  }
  for (auto& t : clients) t.join();

  // The gauges are refreshed every few seconds: wait for a refresh after the load.
  const std::string in_use = "callrec_heap_bytes{kind=\"in_use\"}";
  double before = Gauge(env, in_use);
  ASSERT_GE(before, 0);
  if (core::kMallocIsGlibc) {  // (ASan's allocator leaves glibc's figures still)
    ASSERT_TRUE(Eventually([&] { return Gauge(env, in_use) != before; })) << "memory gauges never refreshed";
    EXPECT_GE(Gauge(env, "callrec_heap_arenas"), 1);
    EXPECT_LE(Gauge(env, "callrec_heap_arenas"), 2) << "serve must cap glibc's arenas before its threads start";
  }
  double cache = Gauge(env, "callrec_store_memory_bytes{kind=\"cache\"}");
  EXPECT_GE(cache, 0);
  EXPECT_LE(cache, double(core::kStoreCacheBytes));
  EXPECT_GE(Gauge(env, "callrec_store_memory_bytes{kind=\"memtables\"}"), 0);
  EXPECT_GE(Gauge(env, "callrec_store_memory_bytes{kind=\"table_readers\"}"), 0);
  EXPECT_EQ(env.StopServe(), 0);
}

}  // namespace
}  // namespace callrec::testing::e2e
