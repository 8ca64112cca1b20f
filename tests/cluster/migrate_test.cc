// MigrateLog against the real PostgreSQL of ./scripts/test: where its transactions end.
#include "cluster/migrate.h"

#include <gtest/gtest.h>

#include <vector>

#include "cluster/log_test_events.h"
#include "fakes/manual_clock.h"
#include "fakes/temp_dir.h"
#include "fakes/test_postgres.h"
#include "matchers/status_matchers.h"

namespace callrec::cluster {
namespace {

// Each transaction is one INSERT whose arrays PostgreSQL holds at once: it ends at the byte bound
// as well as at the event count, and an event bigger than the bound goes alone. The copy is the
// store's, byte for byte, either way.
TEST(MigrateLogTest, ATransactionEndsAtTheByteBoundAsWellAsTheEventCount) {
  auto db = testing::CreateTestDatabase();
  ASSERT_OK(db);
  testing::ManualClock clock;
  testing::TempDir dir;
  auto store = core::EventStore::Open(dir.Sub("store"), clock);
  ASSERT_OK(store);
  for (int i = 0; i < 9; ++i)
    ASSERT_OK((*store)->Append(Webhook(std::to_string(i), std::string(i == 6 ? 5000 : 1000, 'x'))));
  auto log = PgEventLog::Connect(*db, clock);
  ASSERT_OK(log);
  std::vector<uint64_t> committed_after;
  auto report = MigrateLog(**store, **log, /*batch=*/1000,
                           [&](uint64_t copied, uint64_t) { committed_after.push_back(copied); },
                           /*batch_bytes=*/3000);
  ASSERT_OK(report);
  EXPECT_EQ(report->copied, 9u);
  // Three events of ~1 KB reach 3000 bytes; seq 7's 5 KB body ends a transaction by itself.
  EXPECT_EQ(committed_after, (std::vector<uint64_t>{3, 6, 7, 9}));
  auto same = CompareLogs(**store, **log);
  ASSERT_OK(same);
  EXPECT_TRUE(same->same()) << "first difference at seq " << same->first_diff;
}

}  // namespace
}  // namespace callrec::cluster
