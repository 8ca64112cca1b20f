// Resumable (TUS) uploads against the real telnyx-sim storage on loopback: chunk sizes, resuming
// from the server's offset after a broken PATCH (no byte sent twice), 409 resynchronisation,
// the fallback from a single upload refused as too large, expiry. Chunks are 64 KiB here (the
// sim is configured alike) so the files stay small; production uses Supabase's 6 MB.
#include "projector/clients/tus_upload.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <memory>
#include <random>

#include "fakes/manual_clock.h"
#include "fakes/temp_dir.h"
#include "projector/clients/curl_transport.h"
#include "projector/clients/media.h"
#include "projector/clients/recording_storage.h"
#include "telnyx_sim/server.h"

namespace callrec::projector {
namespace {

using core::StatusCode;

constexpr uint64_t kChunk = 64 << 10;
constexpr const char* kKey = "sb_secret_tus_test_key";
constexpr const char* kObject = "intake_1/recording.wav";

std::string RandomBytes(size_t n) {
  std::mt19937_64 rng(n);
  std::string out(n, '\0');
  for (char& c : out) c = char(rng());
  return out;
}

class TusUploadTest : public ::testing::Test {
 protected:
  // A sim whose TUS chunk rule is kChunk; `tweak` adjusts its config first.
  void StartSim(const std::function<void(telnyx_sim::SimConfig&)>& tweak = {}) {
    telnyx_sim::SimConfig config;
    config.storage_tus_chunk_bytes = kChunk;
    if (tweak) tweak(config);
    auto sim = telnyx_sim::TelnyxSim::Start(config, sim_clock());
    ASSERT_TRUE(sim.ok()) << sim.status().ToString();
    sim_ = std::move(sim).value();
  }
  std::string Local(const std::string& bytes) {
    std::string path = dir_.Sub("dl.wav");
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return path;
  }
  SupabaseStorage::Options Options(uint64_t chunk = kChunk) {
    SupabaseStorage::Options o;
    o.tus_chunk_bytes = chunk;
    o.tus_threshold_bytes = chunk;
    return o;
  }
  std::unique_ptr<SupabaseStorage> Storage(SupabaseStorage::Options options) {
    return std::make_unique<SupabaseStorage>(transport_, clock_, sim_->base_url(),
                                             "call-recordings", kKey, options);
  }
  TusClient Client(uint64_t chunk = kChunk) {
    return TusClient(
        transport_,
        [](std::string method, std::string url) {
          HttpRequest r;
          r.method = std::move(method);
          r.url = std::move(url);
          r.headers.emplace_back("apikey", kKey);
          return r;
        },
        chunk);
  }
  std::string Stored() {
    return sim_->storage().GetObjectForTest("call-recordings", kObject).value_or("<absent>");
  }
  uint64_t Count(const char* route) { return sim_->RequestCount(route); }

  virtual core::Clock& sim_clock() { return clock_; }

  core::SystemClock clock_;
  testing::ManualClock manual_clock_;
  testing::TempDir dir_;
  // The sim outlives the transport, so no kept-alive connection holds the sim's shutdown.
  std::unique_ptr<telnyx_sim::TelnyxSim> sim_;
  CurlTransport transport_;
};

constexpr const char* kCreate = "POST /storage/v1/upload/resumable";
constexpr const char* kPatch = "PATCH /storage/v1/upload/resumable/{id}";
constexpr const char* kHead = "HEAD /storage/v1/upload/resumable/{id}";
constexpr const char* kSinglePost = "POST /storage/v1/object";

TEST_F(TusUploadTest, AboveTheThresholdUploadsResumablyInWholeChunks) {
  StartSim();
  const std::string audio = RandomBytes(4 * kChunk + 123);
  auto copy = Storage(Options())->Store("intake_1", Local(audio), "wav", "");
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_TRUE(Stored() == audio);
  EXPECT_EQ(copy->bytes, audio.size());
  EXPECT_EQ(copy->status, 204);
  EXPECT_EQ(copy->public_url, sim_->base_url() + "/storage/v1/object/public/call-recordings/" + kObject);
  EXPECT_EQ(Count(kSinglePost), 0u);
  EXPECT_EQ(Count(kCreate), 1u);
  EXPECT_EQ(Count(kPatch), 5u);  // four whole chunks and the rest
  EXPECT_EQ(sim_->storage().tus_bytes_received(), audio.size());
}

// The sim holds a client to the chunk rule: a client with another chunk size is refused.
TEST_F(TusUploadTest, ChunksOfTheWrongSizeAreRefused) {
  StartSim();
  auto copy = Storage(Options(kChunk / 2))->Store("intake_1", Local(RandomBytes(3 * kChunk)), "wav", "");
  EXPECT_EQ(copy.status().code(), StatusCode::kFailedPrecondition) << copy.status().ToString();
  EXPECT_NE(copy.status().message().find("every chunk but the last"), std::string::npos);
}

TEST_F(TusUploadTest, ABrokenPatchResumesFromTheServerOffsetNeverSendingABytesTwice) {
  StartSim([](telnyx_sim::SimConfig& c) {
    c.faults.storage_tus_break_next = 2;
    c.faults.storage_tus_break_after = 10000;
  });
  const std::string audio = RandomBytes(3 * kChunk + 77);
  auto copy = Storage(Options())->Store("intake_1", Local(audio), "wav", "");
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_TRUE(Stored() == audio);
  EXPECT_EQ(Count(kCreate), 1u);  // the same upload throughout
  EXPECT_EQ(Count(kHead), 2u);    // one offset question per break
  // Every byte was stored once: the resumed PATCHes started at the server's offset (10000,
  // then 20000), and only the bytes each break dropped (kChunk - 10000) crossed the wire twice.
  EXPECT_EQ(sim_->storage().tus_bytes_stored(), audio.size());
  EXPECT_EQ(sim_->storage().tus_bytes_received(), audio.size() + 2 * (kChunk - 10000));
}

TEST_F(TusUploadTest, AnOffsetConflictAsksTheServerAndGoesOn) {
  StartSim();
  const std::string audio = RandomBytes(2 * kChunk + 5);
  const std::string path = Local(audio);
  TusClient tus = Client();
  auto location = tus.Create(sim_->base_url(), {.bucket = "call-recordings", .object_name = kObject,
                                                .content_type = "audio/wav"}, audio.size());
  ASSERT_TRUE(location.ok()) << location.status().ToString();
  // An earlier attempt's first chunk landed, but its answer was lost: the client still thinks 0.
  ASSERT_TRUE(tus.Send(*location, path, kChunk, 0).ok());
  TusProgress progress;
  ASSERT_TRUE(tus.Send(*location, path, audio.size(), 0, &progress).ok());
  EXPECT_EQ(progress.resumes, 1);  // the 409, then HEAD, then on from kChunk
  EXPECT_EQ(progress.patches, 3);  // the refused one and the two that were missing
  EXPECT_TRUE(Stored() == audio);
  EXPECT_EQ(sim_->storage().tus_bytes_stored(), audio.size());
  auto offset = tus.Offset(*location);
  ASSERT_TRUE(offset.ok());
  EXPECT_EQ(*offset, audio.size());
}

TEST_F(TusUploadTest, AnUnknownUploadIsNotFound) {
  StartSim();
  TusClient tus = Client();
  std::string gone = sim_->base_url() + "/storage/v1/upload/resumable/bm9uZQ";
  EXPECT_EQ(tus.Offset(gone).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(tus.Send(gone, Local("abc"), 3, 0).code(), StatusCode::kNotFound);
}

// Supabase's 400 {"statusCode":"413"} for a single POST over the limit: the resumable upload
// takes it (one short chunk is fine: it is the last).
TEST_F(TusUploadTest, ASingleUploadRefusedAsTooLargeGoesResumable) {
  StartSim([](telnyx_sim::SimConfig& c) {
    c.storage_max_bytes = 100 << 10;
    c.storage_tus_chunk_bytes = kTusChunkBytes;
  });
  const std::string audio = RandomBytes(300 << 10);
  auto copy = Storage({})->Store("intake_1", Local(audio), "wav", "");  // production sizes
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_TRUE(Stored() == audio);
  EXPECT_EQ(Count(kSinglePost), 1u);
  EXPECT_EQ(Count(kPatch), 1u);
}

TEST_F(TusUploadTest, TooLargeForTheResumableUploadTooIsTooLarge) {
  StartSim([](telnyx_sim::SimConfig& c) {
    c.storage_max_bytes = 10 << 10;
    c.storage_tus_max_bytes = 20 << 10;
  });
  auto copy = Storage({})->Store("intake_1", Local(RandomBytes(30 << 10)), "wav", "");
  EXPECT_TRUE(IsTooLarge(copy.status())) << copy.status().ToString();
  EXPECT_NE(copy.status().message().find("statusCode 413"), std::string::npos);
  auto big = Storage(Options())->Store("intake_1", Local(RandomBytes(30 << 10)), "wav", "");
  EXPECT_TRUE(IsTooLarge(big.status())) << big.status().ToString();
}

// A Store that gives up (the connection keeps breaking before any byte lands) leaves its
// upload; the next Store of the same bytes resumes it instead of creating another.
TEST_F(TusUploadTest, AFailedStoreLeavesItsUploadForTheNextToResume) {
  StartSim([](telnyx_sim::SimConfig& c) {
    c.faults.storage_tus_break_next = 5;
    c.faults.storage_tus_break_after = 0;
  });
  const std::string audio = RandomBytes(2 * kChunk + 1);
  const std::string path = Local(audio);
  auto storage = Storage(Options());
  auto first = storage->Store("intake_1", path, "wav", "");
  EXPECT_EQ(first.status().code(), StatusCode::kUnavailable) << first.status().ToString();
  auto second = storage->Store("intake_1", path, "wav", "");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(Stored() == audio);
  EXPECT_EQ(Count(kCreate), 1u);
}

class TusExpiryTest : public TusUploadTest {
 protected:
  core::Clock& sim_clock() override { return manual_clock_; }
};

TEST_F(TusExpiryTest, AnExpiredUploadIsReplacedByANewOne) {
  StartSim([](telnyx_sim::SimConfig& c) {
    c.faults.storage_tus_break_next = 5;
    c.faults.storage_tus_break_after = 0;
  });
  const std::string audio = RandomBytes(2 * kChunk + 1);
  const std::string path = Local(audio);
  auto storage = Storage(Options());
  EXPECT_FALSE(storage->Store("intake_1", path, "wav", "").ok());
  manual_clock_.Advance(std::chrono::hours(2));  // Supabase keeps an upload URL for an hour
  auto copy = storage->Store("intake_1", path, "wav", "");
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_TRUE(Stored() == audio);
  EXPECT_EQ(Count(kCreate), 2u);
}

}  // namespace
}  // namespace callrec::projector
