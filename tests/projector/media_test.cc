#include "projector/clients/media.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fakes/scripted_transport.h"
#include "matchers/status_matchers.h"

namespace callrec::projector {
namespace {

namespace fs = std::filesystem;
using testing::ScriptedTransport;

void Le(std::string& s, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s.push_back(char((v >> (8 * i)) & 0xFF));
}

// A PCM WAV: RIFF header, 16-byte fmt chunk, data chunk of `frames` 16-bit frames.
std::string Wav(uint16_t channels, uint32_t rate, uint32_t frames) {
  uint32_t data = frames * channels * 2;
  std::string s = "RIFF";
  Le(s, 36 + data, 4);
  s += "WAVEfmt ";
  Le(s, 16, 4);
  Le(s, 1, 2);
  Le(s, channels, 2);
  Le(s, rate, 4);
  Le(s, rate * channels * 2, 4);
  Le(s, channels * 2, 2);
  Le(s, 16, 2);
  s += "data";
  Le(s, data, 4);
  for (uint32_t i = 0; i < data; ++i) s.push_back(char(i * 7));
  return s;
}

// MPEG-1 Layer III, 128 kb/s, 44.1 kHz frames (417 bytes each).
std::string Mp3Frames(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    std::string frame = "\xFF\xFB\x90\x64";
    frame.resize(417, '\0');
    s += frame;
  }
  return s;
}

std::string Id3(uint32_t tag_size) {
  std::string s = "ID3\x04";
  s.push_back('\0');
  s.push_back('\0');
  s.push_back(char((tag_size >> 21) & 0x7F));
  s.push_back(char((tag_size >> 14) & 0x7F));
  s.push_back(char((tag_size >> 7) & 0x7F));
  s.push_back(char(tag_size & 0x7F));
  s += std::string(tag_size, 'T');
  return s;
}

class MediaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("media_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& bytes) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  core::Status Check(const std::string& bytes, MediaFormat format = MediaFormat::kWav) {
    return VerifyMedia(Write("f", bytes), format).status();
  }
  fs::path dir_;
};

TEST_F(MediaTest, HashFileKnownVector) {
  auto h = HashFile(Write("abc", "abc"));
  ASSERT_OK(h);
  EXPECT_EQ(h->sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(h->bytes, 3u);
}

TEST_F(MediaTest, ValidWavVerifiesWithSizeAndHash) {
  std::string wav = Wav(2, 8000, 8000);  // 1 s dual-channel, as Telnyx records
  std::string path = Write("ok.wav", wav);
  auto info = VerifyMedia(path, MediaFormat::kWav);
  ASSERT_OK(info);
  EXPECT_EQ(info->bytes, wav.size());
  EXPECT_EQ(info->sha256, HashFile(path)->sha256);
  EXPECT_EQ(info->sha256.size(), 64u);
}

TEST_F(MediaTest, WavWithExtraChunksVerifies) {
  // A LIST chunk (odd size, padded) before data, and a trailing chunk after it.
  std::string wav = Wav(1, 8000, 100);
  std::string body = wav.substr(12, 24);  // the fmt chunk
  std::string list = "LIST";
  Le(list, 3, 4);
  list += "abc";
  list.push_back('\0');  // pad byte
  std::string rest = wav.substr(36);
  std::string tail = "junk";
  Le(tail, 2, 4);
  tail += "zz";
  std::string all = "WAVE" + body + list + rest + tail;
  std::string file = "RIFF";
  Le(file, uint32_t(all.size()), 4);
  file += all;
  EXPECT_OK(Check(file));
}

// How exact a real WAV's size fields are is not documented: a valid magic and fmt chunk with
// size fields that disagree with the bytes received is a recording; the discrepancy is noted.
TEST_F(MediaTest, SizeFieldsThatDisagreeWithTheBytesAreToleratedAndNoted) {
  std::string wav = Wav(2, 8000, 8000);
  auto fewer = VerifyMedia(Write("a", wav.substr(0, wav.size() - 100)), MediaFormat::kWav);
  ASSERT_OK(fewer);
  EXPECT_NE(fewer->note.find("RIFF size field says 32044 bytes, 31944 received"), std::string::npos)
      << fewer->note;
  EXPECT_NE(fewer->note.find("data chunk size field says 32000 bytes, 31900 received"),
            std::string::npos) << fewer->note;

  std::string streaming = wav;  // a recorder that wrote the header before knowing the length
  for (size_t at : {size_t(4), size_t(40)}) streaming.replace(at, 4, "\xFF\xFF\xFF\xFF");
  auto s = VerifyMedia(Write("b", streaming), MediaFormat::kWav);
  ASSERT_OK(s);
  EXPECT_NE(s->note.find("4294967295"), std::string::npos) << s->note;
  EXPECT_EQ(s->bytes, wav.size());

  auto extra = VerifyMedia(Write("c", Wav(1, 8000, 10) + "extra"), MediaFormat::kWav);
  ASSERT_OK(extra);
  EXPECT_NE(extra->note.find("RIFF size field"), std::string::npos);
  auto exact = VerifyMedia(Write("d", wav), MediaFormat::kWav);
  ASSERT_OK(exact);
  EXPECT_EQ(exact->note, "") << "nothing to note";
}

TEST_F(MediaTest, TruncatedNonsenseIsStillRejected) {
  std::string wav = Wav(1, 8000, 10);
  // A header whose data chunk holds no audio at all.
  core::Status st = Check(wav.substr(0, 44));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("truncated"), std::string::npos) << st.message();
  // The fmt chunk cut short is not a WAV.
  std::string cut_fmt = wav.substr(0, 12) + "fmt ";
  Le(cut_fmt, 16, 4);
  cut_fmt += std::string(30, '\0');
  cut_fmt.resize(40);
  cut_fmt += "zzzz";
  EXPECT_FALSE(Check(cut_fmt).ok());
  std::string big_fmt = wav;
  big_fmt[16] = char(0x7F);  // fmt chunk size now runs past the end
  EXPECT_NE(Check(big_fmt).message().find("runs past the end"), std::string::npos)
      << Check(big_fmt).message();
}

TEST_F(MediaTest, HtmlErrorPageSavedAsWavIsRejected) {
  std::string html =
      "<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body>"
      "<h1>Forbidden</h1><p>Request has expired</p></body></html>";
  core::Status st = Check(html);
  EXPECT_EQ(st.code(), core::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("not a RIFF/WAVE"), std::string::npos);
  EXPECT_NE(st.message().find("HTML"), std::string::npos) << st.message();
  EXPECT_FALSE(Check(R"({"errors":[{"code":"10005","title":"Not found"}]})").ok());
}

TEST_F(MediaTest, StructurallyBrokenWavsAreRejected) {
  EXPECT_NE(Check("RIFF").message().find("too small"), std::string::npos);
  EXPECT_FALSE(Check("").ok());
  std::string no_fmt = "RIFF";
  Le(no_fmt, 4 + 8 + 40, 4);
  no_fmt += "WAVEdata";
  Le(no_fmt, 40, 4);
  no_fmt += std::string(40, 'x');
  EXPECT_NE(Check(no_fmt).message().find("before any fmt"), std::string::npos);
  std::string wav = Wav(0, 8000, 10);  // zero channels
  EXPECT_NE(Check(wav).message().find("zero channels"), std::string::npos);
  std::string only_fmt = "RIFF";
  Le(only_fmt, 36, 4);
  only_fmt += "WAVE" + Wav(1, 8000, 0).substr(12, 24) + "pad ";  // fmt, then an empty chunk
  Le(only_fmt, 0, 4);
  ASSERT_EQ(only_fmt.size(), 44u);
  EXPECT_NE(Check(only_fmt).message().find("no data chunk"), std::string::npos);
}

TEST_F(MediaTest, Mp3WithId3AndBareFramesVerify) {
  EXPECT_OK(Check(Id3(100) + Mp3Frames(3), MediaFormat::kMp3));
  EXPECT_OK(Check(Mp3Frames(3), MediaFormat::kMp3));
  EXPECT_OK(Check(Id3(20) + std::string(50, '\0') + Mp3Frames(2), MediaFormat::kMp3));
}

TEST_F(MediaTest, BadMp3sAreRejected) {
  EXPECT_FALSE(Check(std::string(500, 'x'), MediaFormat::kMp3).ok());
  EXPECT_FALSE(Check(Id3(100) + std::string(500, 'x'), MediaFormat::kMp3).ok());
  std::string tag_past_end = Id3(100) + Mp3Frames(1);
  tag_past_end[8] = 0x7F;  // the tag now claims ~2 MB
  EXPECT_NE(Check(tag_past_end, MediaFormat::kMp3).message().find("ID3"), std::string::npos);
  EXPECT_FALSE(Check("\xFF\xFB\x90\x64", MediaFormat::kMp3).ok());  // too small
  EXPECT_FALSE(Check(Wav(1, 8000, 200), MediaFormat::kMp3).ok());   // a WAV is not an MP3
}

TEST_F(MediaTest, MissingAndNonRegularFiles) {
  EXPECT_TRUE(VerifyMedia((dir_ / "absent.wav").string(), MediaFormat::kWav).status().IsNotFound());
  EXPECT_EQ(VerifyMedia(dir_.string(), MediaFormat::kWav).status().code(),
            core::StatusCode::kInvalidArgument);
}

TEST(MediaFormatTest, Parse) {
  EXPECT_EQ(*ParseMediaFormat("wav"), MediaFormat::kWav);
  EXPECT_EQ(*ParseMediaFormat("mp3"), MediaFormat::kMp3);
  EXPECT_FALSE(ParseMediaFormat("WAV").ok());
  EXPECT_STREQ(MediaFormatName(MediaFormat::kMp3), "mp3");
}

// ---- DownloadMedia ------------------------------------------------------------------------

constexpr char kUrl[] =
    "https://s3.amazonaws.com/b/intake_1-1763651052.wav?X-Amz-Expires=600&X-Amz-Signature=SIG123";

TEST_F(MediaTest, DownloadWritesFileAndSendsNoCredentials) {
  ScriptedTransport t;
  std::string wav = Wav(2, 8000, 400);
  t.On("GET", "s3.amazonaws.com", ScriptedTransport::Reply(200, wav));
  std::string path = (dir_ / "dl.wav").string();
  DownloadResult d = DownloadMedia(t, kUrl, path);
  ASSERT_OK(d) << d.error;
  EXPECT_EQ(d.bytes, wav.size());
  EXPECT_OK(VerifyMedia(path, MediaFormat::kWav));
  HttpRequest req = t.requests()[0];
  EXPECT_TRUE(req.follow_redirects);
  EXPECT_TRUE(req.headers.empty());
  EXPECT_EQ(req.body_to_file, path);
}

TEST_F(MediaTest, DownloadOutcomes) {
  ScriptedTransport t;
  t.On("GET", "",
       ScriptedTransport::Reply(403,
                                "<Error><Code>AccessDenied</Code>\n"
                                "<Message>Request has expired</Message></Error>"))
      .On("GET", "", ScriptedTransport::Reply(404, "<Error><Code>NoSuchKey</Code></Error>"))
      .On("GET", "", ScriptedTransport::Reply(503, "slow down"))
      .On("GET", "", ScriptedTransport::Reply(429, ""))
      .On("GET", "", ScriptedTransport::NoAnswer("curl: Timeout was reached"));
  std::string path = (dir_ / "dl.wav").string();
  DownloadResult expired = DownloadMedia(t, kUrl, path);
  EXPECT_EQ(expired.outcome, DownloadOutcome::kUrlExpired);
  EXPECT_EQ(expired.status, 403);
  EXPECT_NE(expired.error.find("Request has expired"), std::string::npos);
  EXPECT_EQ(expired.error.find('\n'), std::string::npos);
  EXPECT_EQ(expired.error.find("SIG123"), std::string::npos);  // the URL's signature stays out
  EXPECT_EQ(fs::file_size(path), 0u);
  EXPECT_EQ(DownloadMedia(t, kUrl, path).outcome, DownloadOutcome::kFailed);
  EXPECT_EQ(DownloadMedia(t, kUrl, path).outcome, DownloadOutcome::kTransient);
  EXPECT_EQ(DownloadMedia(t, kUrl, path).outcome, DownloadOutcome::kTransient);
  DownloadResult none = DownloadMedia(t, kUrl, path);
  EXPECT_EQ(none.outcome, DownloadOutcome::kTransient);
  EXPECT_EQ(none.status, 0);
  EXPECT_EQ(none.error, "curl: Timeout was reached");
  EXPECT_STREQ(DownloadOutcomeName(DownloadOutcome::kUrlExpired), "url_expired");
}

}  // namespace
}  // namespace callrec::projector
