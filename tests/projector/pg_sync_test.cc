// PgSync against the real PostgreSQL that ./scripts/test starts.
#include "projector/clients/pg_sync.h"

#include <gtest/gtest.h>

#include "core/derived_keys.h"
#include "core/event_store.h"
#include "core/store_id.h"
#include "fakes/manual_clock.h"
#include "fakes/temp_dir.h"
#include "fakes/test_postgres.h"
#include "matchers/status_matchers.h"

namespace callrec::projector {
namespace {

using testing::QueryOne;

std::string IntakeJson(const std::string& id, const std::string& state, const std::string& rec) {
  return "{\"id\":\"" + id + "\",\"patient_phone\":\"+15550123456\",\"patient_id\":null,"
         "\"created_at\":\"2026-11-20T15:00:00.000Z\",\"updated_at\":\"2026-11-20T15:05:00.000Z\","
         "\"state\":\"" + state + "\",\"failure_reason\":null,\"fetch_attempts\":2,"
         "\"next_attempt_at\":null,\"last_error\":null,\"metadata\":{\"recording_id\":" +
         (rec.empty() ? "null" : "\"" + rec + "\"") + ",\"clinic\":\"north\"}}";
}

// What the projector writes for an intake changed at `seq` (the log holds events up to `seq`).
void Project(core::EventStore& store, uint64_t seq, const std::string& id, const std::string& json,
             uint64_t previous_seq = 0) {
  while (store.LastSeq() < seq) {
    core::Event e;
    e.type = "service.started";
    e.source = std::string(core::source::kOperator);
    e.payload = "{}";
    ASSERT_OK(store.Append(std::move(e)));
  }
  core::DerivedBatch b;
  b.Put("intake/" + id, json);
  if (previous_seq) b.Delete(core::keys::UpdatedKey(previous_seq, id));
  b.Put(core::keys::UpdatedKey(seq, id), "");
  ASSERT_OK(store.WriteDerived(b));
}

class PgSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = testing::CreateTestDatabase();
    ASSERT_OK(db);
    url_ = *db;
    store_ = std::move(core::EventStore::Open(dir_.path(), clock_).value());
  }
  testing::TempDir dir_;
  testing::ManualClock clock_;
  std::unique_ptr<core::EventStore> store_;
  std::string url_;
};

TEST_F(PgSyncTest, UpsertsChangedIntakesAndMovesTheCheckpointWithThem) {
  auto sync = PgSync::Connect(url_);
  ASSERT_OK(sync);
  Project(*store_, 3, "a", IntakeJson("a", "ended", ""));
  Project(*store_, 5, "b", IntakeJson("b", "created", ""));
  auto r = (*sync)->SyncOnce(*store_);
  ASSERT_OK(r);
  EXPECT_EQ(r->rows, 2u);
  EXPECT_EQ(r->checkpoint, 5u);
  EXPECT_EQ(*QueryOne(url_, "SELECT state FROM callrec_intakes WHERE id = 'a'"), "ended");
  EXPECT_EQ(*QueryOne(url_, "SELECT metadata->>'clinic' FROM callrec_intakes WHERE id = 'b'"), "north");
  EXPECT_EQ(*QueryOne(url_, "SELECT seq FROM callrec_checkpoint WHERE name = 'intakes'"), "5");

  // Only what changed after the checkpoint is written again.
  Project(*store_, 9, "a", IntakeJson("a", "fetched", "rec-1"), 3);
  r = (*sync)->SyncOnce(*store_);
  ASSERT_OK(r);
  EXPECT_EQ(r->rows, 1u);
  EXPECT_EQ(*QueryOne(url_, "SELECT metadata->>'recording_id' FROM callrec_intakes WHERE id = 'a'"), "rec-1");
  EXPECT_EQ(*QueryOne(url_, "SELECT last_seq FROM callrec_intakes WHERE id = 'a'"), "9");
  EXPECT_EQ(*QueryOne(url_, "SELECT fetch_attempts FROM callrec_intakes WHERE id = 'a'"), "2");
  r = (*sync)->SyncOnce(*store_);
  EXPECT_EQ(r->rows, 0u) << "nothing changed: nothing written";
}

TEST_F(PgSyncTest, MergesSeedKeysIntoTheUsersTableWithoutTouchingTheirOwn) {
  ASSERT_OK(QueryOne(url_, "CREATE TABLE intakes (id uuid PRIMARY KEY, metadata jsonb)"));
  ASSERT_TRUE(QueryOne(url_, "INSERT INTO intakes VALUES ('8f14e45f-ceea-4672-a6a0-3f6f3c1a0b11', "
                             "'{\"nurse\":\"kim\"}')").ok());
  auto sync = PgSync::Connect(url_, "intakes");
  ASSERT_OK(sync);
  std::string id = "8f14e45f-ceea-4672-a6a0-3f6f3c1a0b11";
  Project(*store_, 4, id, IntakeJson(id, "fetched", "rec-9"));
  ASSERT_OK((*sync)->SyncOnce(*store_));
  EXPECT_EQ(*QueryOne(url_, "SELECT metadata->>'recording_id' FROM intakes"), "rec-9");
  EXPECT_EQ(*QueryOne(url_, "SELECT metadata->>'nurse' FROM intakes"), "kim");
  EXPECT_EQ(*QueryOne(url_, "SELECT metadata ? 'clinic' FROM intakes"), "f")
      << "only the seed's keys are merged, not the intake's own metadata";
}

TEST_F(PgSyncTest, AHostileTableNameIsRefused) {
  for (const char* bad : {"intakes; DROP TABLE x", "1abc", "a.b.c", "\"x\"", ""}) {
    if (std::string(bad).empty()) continue;  // "" means "do not merge"
    auto sync = PgSync::Connect(url_, bad);
    EXPECT_EQ(sync.status().code(), core::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_OK(PgSync::Connect(url_, "public.intakes"));
}

// A NUL in an old store (from before the API refused it) would make PostgreSQL refuse the chunk
// forever: it is written as U+FFFD instead, and the intakes after it still arrive.
TEST_F(PgSyncTest, NulCharactersFromAnOldStoreAreReplacedAndNeverBlockLaterIntakes) {
  ASSERT_OK(QueryOne(url_, "CREATE TABLE intakes_merge (id text PRIMARY KEY, metadata jsonb)"));
  ASSERT_OK(QueryOne(url_, "INSERT INTO intakes_merge VALUES ('nul', '{}')"));
  auto sync = PgSync::Connect(url_, "intakes_merge");
  ASSERT_OK(sync);
  std::string json = IntakeJson("nul", "fetched", "rec\\u0000x");
  json.replace(json.find("\"patient_id\":null"), 17, "\"patient_id\":\"p\\u0000\"");
  json.replace(json.find("\"clinic\":\"north\""), 16, "\"cl\\u0000inic\":\"north\",\"path\":\"C:\\\\u0000\"");
  Project(*store_, 2, "nul", json);
  Project(*store_, 3, "after", IntakeJson("after", "created", ""));
  auto r = (*sync)->SyncOnce(*store_);
  ASSERT_OK(r);
  EXPECT_EQ(r->rows, 2u);
  EXPECT_EQ(r->nul_replaced, 3u);
  EXPECT_EQ(r->checkpoint, 3u);
  EXPECT_EQ(*QueryOne(url_, "SELECT patient_id FROM callrec_intakes WHERE id = 'nul'"), "p\uFFFD");
  EXPECT_EQ(*QueryOne(url_, "SELECT metadata->>'recording_id' FROM callrec_intakes WHERE id = 'nul'"), "rec\uFFFDx");
  EXPECT_EQ(*QueryOne(url_, "SELECT metadata->>'path' FROM callrec_intakes WHERE id = 'nul'"), "C:\\u0000")
      << "an escaped backslash before u0000 is text, not a NUL";
  EXPECT_EQ(*QueryOne(url_, "SELECT metadata->>'recording_id' FROM intakes_merge WHERE id = 'nul'"), "rec\uFFFDx");
  EXPECT_EQ(*QueryOne(url_, "SELECT state FROM callrec_intakes WHERE id = 'after'"), "created");
}

// Any other row PostgreSQL refuses as data is skipped, loudly, and the rest goes on.
TEST_F(PgSyncTest, ARowPostgresRefusesAsDataIsSkippedNotRetriedForever) {
  auto sync = PgSync::Connect(url_);
  ASSERT_OK(sync);
  std::string bad = IntakeJson("bad", "created", "");
  bad.replace(bad.find("2026-11-20T15:00:00.000Z"), 24, "not a time");
  Project(*store_, 2, "bad", bad);
  Project(*store_, 3, "good", IntakeJson("good", "created", ""));
  auto r = (*sync)->SyncOnce(*store_);
  ASSERT_OK(r);
  EXPECT_EQ(r->skipped, 1u);
  EXPECT_EQ(r->checkpoint, 3u);
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) FROM callrec_intakes WHERE id = 'bad'"), "0");
  EXPECT_EQ(*QueryOne(url_, "SELECT state FROM callrec_intakes WHERE id = 'good'"), "created");
}

// The checkpoint names its store: a database synced by another store (a reinstall, a second
// installation) is refused until --take-over, which then rewrites every intake of this store.
TEST_F(PgSyncTest, ACheckpointFromAnotherStoreIsRefusedUntilTakenOver) {
  auto sync = PgSync::Connect(url_);
  ASSERT_OK(sync);
  ASSERT_FALSE(core::StoreId(*store_).empty());
  EXPECT_EQ(core::StoreId(*store_).size(), 32u);
  Project(*store_, 4, "a", IntakeJson("a", "stored", "rec-old"));
  ASSERT_OK((*sync)->SyncOnce(*store_));
  EXPECT_EQ(*QueryOne(url_, "SELECT store_id FROM callrec_checkpoint"), core::StoreId(*store_));

  // A reinstall: a new, empty store, pointed at the same database.
  testing::TempDir other_dir;
  auto other = std::move(core::EventStore::Open(other_dir.path(), clock_).value());
  EXPECT_NE(core::StoreId(*other), core::StoreId(*store_));
  Project(*other, 2, "a", IntakeJson("a", "created", ""));
  auto r = (*sync)->SyncOnce(*other);
  ASSERT_EQ(r.status().code(), core::StatusCode::kFailedPrecondition) << r.status().ToString();
  EXPECT_NE(r.status().message().find("take-over"), std::string::npos) << r.status().message();
  EXPECT_EQ(*QueryOne(url_, "SELECT state FROM callrec_intakes WHERE id = 'a'"), "stored") << "nothing synced";

  ASSERT_OK((*sync)->TakeOver(*other));
  r = (*sync)->SyncOnce(*other);
  ASSERT_OK(r);
  EXPECT_EQ(*QueryOne(url_, "SELECT state FROM callrec_intakes WHERE id = 'a'"), "created");
  EXPECT_EQ(*QueryOne(url_, "SELECT store_id FROM callrec_checkpoint"), core::StoreId(*other));
  // And the first store is now the foreign one.
  EXPECT_EQ((*sync)->SyncOnce(*store_).status().code(), core::StatusCode::kFailedPrecondition);
}

TEST_F(PgSyncTest, TheStoreIdIsMadeOnceKeptAcrossOpensAndSeenByReaders) {
  std::string id = core::StoreId(*store_);
  ASSERT_EQ(id.size(), 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  auto reader = core::EventStore::OpenReader(dir_.path());
  ASSERT_OK(reader);
  EXPECT_EQ(core::StoreId(**reader), id);
  store_.reset();
  store_ = std::move(core::EventStore::Open(dir_.path(), clock_).value());
  EXPECT_EQ(core::StoreId(*store_), id);
}

// A restored backup keeps its store id but is behind the database: refused, not silently idle.
// A checkpoint from before store ids is claimed when it is consistent with the store.
TEST_F(PgSyncTest, ACheckpointAheadOfTheStoreIsRefusedAndAnOldOneIsClaimed) {
  auto sync = PgSync::Connect(url_);
  ASSERT_OK(sync);
  Project(*store_, 3, "a", IntakeJson("a", "created", ""));
  ASSERT_OK(QueryOne(url_, "INSERT INTO callrec_checkpoint (name, seq) VALUES ('intakes', 2)"));
  auto r = (*sync)->SyncOnce(*store_);
  ASSERT_OK(r);
  EXPECT_EQ(*QueryOne(url_, "SELECT store_id FROM callrec_checkpoint"), core::StoreId(*store_));
  ASSERT_OK(QueryOne(url_, "UPDATE callrec_checkpoint SET seq = 50"));
  EXPECT_EQ((*sync)->SyncOnce(*store_).status().code(), core::StatusCode::kFailedPrecondition);
}

TEST(PgSyncDown, UnreachableServerIsUnavailableAndHidesThePassword) {
  auto sync = PgSync::Connect("postgresql://callrec:s3cret@127.0.0.1:1/nope");
  ASSERT_FALSE(sync.ok());
  EXPECT_EQ(sync.status().code(), core::StatusCode::kUnavailable);
  EXPECT_EQ(sync.status().message().find("s3cret"), std::string::npos) << sync.status().message();
}

}  // namespace
}  // namespace callrec::projector
