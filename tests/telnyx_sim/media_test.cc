// telnyx-sim's presigned media: real WAV/MP3 bytes, S3-style expiry and signature errors.
#include "telnyx_sim/media.h"

#include <gtest/gtest.h>

#include "telnyx_sim/test_support.h"
#include "matchers/status_matchers.h"

namespace callrec::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

uint32_t Le32(const std::string& b, size_t at) {
  return uint32_t(uint8_t(b[at])) | uint32_t(uint8_t(b[at + 1])) << 8 |
         uint32_t(uint8_t(b[at + 2])) << 16 | uint32_t(uint8_t(b[at + 3])) << 24;
}
uint16_t Le16(const std::string& b, size_t at) {
  return uint16_t(uint8_t(b[at]) | uint8_t(b[at + 1]) << 8);
}

// Checks a canonical 44-byte-header PCM WAV; returns its frame count.
uint32_t ExpectWav(const std::string& wav, int channels) {
  EXPECT_GE(wav.size(), 44u);
  if (wav.size() < 44) return 0;
  EXPECT_EQ(wav.substr(0, 4), "RIFF");
  EXPECT_EQ(Le32(wav, 4), wav.size() - 8);
  EXPECT_EQ(wav.substr(8, 8), "WAVEfmt ");
  EXPECT_EQ(Le32(wav, 16), 16u);
  EXPECT_EQ(Le16(wav, 20), 1);  // PCM
  EXPECT_EQ(Le16(wav, 22), channels);
  EXPECT_EQ(Le32(wav, 24), 8000u);
  EXPECT_EQ(Le32(wav, 28), 8000u * 2 * uint32_t(channels));
  EXPECT_EQ(Le16(wav, 32), 2 * channels);
  EXPECT_EQ(Le16(wav, 34), 16);
  EXPECT_EQ(wav.substr(36, 4), "data");
  EXPECT_EQ(Le32(wav, 40), wav.size() - 44);
  return Le32(wav, 40) / (2 * uint32_t(channels));
}

TEST(SimMedia, WavIsPcm16At8kHzWithATone) {
  std::string wav = telnyx_sim::MakeWav(2, 1500);
  EXPECT_EQ(ExpectWav(wav, 2), 12000u);
  // Not silence: some sample on each channel is loud.
  int16_t max_left = 0, max_right = 0;
  for (size_t i = 44; i + 3 < wav.size(); i += 4) {
    max_left = std::max<int16_t>(max_left, int16_t(Le16(wav, i)));
    max_right = std::max<int16_t>(max_right, int16_t(Le16(wav, i + 2)));
  }
  EXPECT_GT(max_left, 5000);
  EXPECT_GT(max_right, 5000);
  EXPECT_EQ(ExpectWav(telnyx_sim::MakeWav(1, 0), 1), 0u);
}

TEST(SimMedia, Mp3HasAnId3TagAndFrameSyncs) {
  std::string mp3 = telnyx_sim::MakeMp3(1, 1000);
  ASSERT_GT(mp3.size(), 10u);
  EXPECT_EQ(mp3.substr(0, 3), "ID3");
  size_t tag = 10 + size_t(uint8_t(mp3[9]));
  ASSERT_LT(tag + 4, mp3.size());
  EXPECT_EQ(uint8_t(mp3[tag]), 0xFF);
  EXPECT_EQ(uint8_t(mp3[tag + 1]) & 0xE0, 0xE0);  // frame sync
  EXPECT_EQ((mp3.size() - tag) % 144, 0u);        // whole 144-byte frames
  EXPECT_EQ((mp3.size() - tag) / 144, 28u);       // ceil(1000 / 36)
}

TEST(SimMedia, AmzDateRoundTripsAndRejectsJunk) {
  EXPECT_EQ(telnyx_sim::FormatAmzDate(ManualClock::kStartMillis + 1234), "20261120T150001Z");
  EXPECT_EQ(*telnyx_sim::ParseAmzDate("20261120T150001Z"), ManualClock::kStartMillis + 1000);
  for (const char* bad : {"", "20261120150001Z", "20261320T150001Z", "2026112xT150001Z",
                          "20261120T250001Z"})
    EXPECT_FALSE(telnyx_sim::ParseAmzDate(bad).ok()) << bad;
}

class SimMediaServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = StartSim(clock_);
    ASSERT_NE(sim_, nullptr);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", sim_->port());
  }
  // A finished call with one recording of `length`; returns the recording's JSON.
  std::string Recording(const std::string& format, const std::string& channels,
                        milliseconds length) {
    auto ids = sim_->PlaceCall(ManualCall());
    EXPECT_OK(sim_->AnswerCall(ids->call_control_id));
    auto res = client_->Post(RecordStartPath(ids->call_control_id).c_str(),
                             R"({"format":")" + format + R"(","channels":")" + channels + "\"}",
                             "application/json");
    EXPECT_EQ(res->status, 200);
    clock_.Advance(length);
    EXPECT_OK(sim_->HangupCall(ids->call_control_id));
    clock_.Advance(seconds(1));
    auto list = client_->Get(("/v2/recordings?filter[call_leg_id]=" + ids->call_leg_id).c_str());
    return list->body;
  }
  httplib::Result Download(const std::string& url) {
    EXPECT_EQ(url.rfind(sim_->base_url(), 0), 0u) << url;
    return client_->Get(url.substr(sim_->base_url().size()).c_str());
  }

  ManualClock clock_;
  std::unique_ptr<TelnyxSim> sim_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(SimMediaServeTest, ServesAWavCappedAtTenSeconds) {
  Json list(Recording("wav", "dual", milliseconds(3000)));
  auto short_res = Download(list.Str("/data/0/download_urls/wav"));
  ASSERT_EQ(short_res->status, 200);
  EXPECT_EQ(short_res->get_header_value("Content-Type"), "audio/wav");
  EXPECT_EQ(ExpectWav(short_res->body, 2), 3u * 8000);

  Json long_list(Recording("wav", "single", std::chrono::minutes(5)));
  EXPECT_EQ(long_list.Int("/data/0/duration_millis"), 300000);
  auto long_res = Download(long_list.Str("/data/0/download_urls/wav"));
  ASSERT_EQ(long_res->status, 200);
  EXPECT_EQ(ExpectWav(long_res->body, 1), 10u * 8000);
}

TEST_F(SimMediaServeTest, ServesMp3ForMp3Recordings) {
  Json list(Recording("mp3", "single", milliseconds(2000)));
  std::string url = list.Str("/data/0/download_urls/mp3");
  EXPECT_NE(url.find(".mp3?"), std::string::npos) << url;
  EXPECT_EQ(list.Str("/data/0/download_urls/wav"), "<absent>");
  auto res = Download(url);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "audio/mpeg");
  EXPECT_EQ(res->body.substr(0, 3), "ID3");
}

TEST_F(SimMediaServeTest, UrlsExpireAndAFreshOneFromGetWorks) {
  Json list(Recording("wav", "dual", milliseconds(2000)));
  std::string url = list.Str("/data/0/download_urls/wav");
  clock_.Advance(seconds(600));
  EXPECT_EQ(Download(url)->status, 200);  // exactly at the expiry instant: still valid
  clock_.Advance(seconds(1));
  auto expired = Download(url);
  EXPECT_EQ(expired->status, 403);
  EXPECT_NE(expired->body.find("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"),
            std::string::npos)
      << expired->body;
  auto fresh = client_->Get(("/v2/recordings/" + list.Str("/data/0/id")).c_str());
  std::string fresh_url = Json(fresh->body).Str("/data/download_urls/wav");
  EXPECT_NE(fresh_url, url);
  auto ok = Download(fresh_url);
  EXPECT_EQ(ok->status, 200);
  ExpectWav(ok->body, 2);
}

TEST_F(SimMediaServeTest, TamperedOrUnsignedUrlsAreDenied) {
  Json list(Recording("wav", "dual", milliseconds(2000)));
  std::string url = list.Str("/data/0/download_urls/wav");
  std::string tampered = url;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  auto bad_sig = Download(tampered);
  EXPECT_EQ(bad_sig->status, 403);
  EXPECT_NE(bad_sig->body.find("<Code>SignatureDoesNotMatch</Code>"), std::string::npos);
  // A longer expiry than signed is a different signature, not a way to extend the URL.
  std::string longer = url;
  longer.replace(longer.find("X-Amz-Expires=600"), 17, "X-Amz-Expires=604800");
  EXPECT_EQ(Download(longer)->status, 403);
  std::string bare = url.substr(0, url.find('?'));
  auto unsigned_res = Download(bare);
  EXPECT_EQ(unsigned_res->status, 403);
  EXPECT_NE(unsigned_res->body.find("<Code>AccessDenied</Code>"), std::string::npos);
  EXPECT_EQ(sim_->RequestCount("GET /media"), 3u);
}

}  // namespace
}  // namespace callrec::testing
