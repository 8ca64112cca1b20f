#include "telnyx_sim/media.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "telnyx_sim/crypto.h"

namespace callrec::telnyx_sim {
namespace {

constexpr int kWavRate = 8000;
constexpr int64_t kMaxExpiresS = 604800;  // S3's limit for presigned URLs (7 days)

void PutLe16(std::string& out, uint16_t v) {
  out.push_back(char(v & 0xFF));
  out.push_back(char(v >> 8));
}
void PutLe32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(char((v >> (8 * i)) & 0xFF));
}

}  // namespace

std::string MediaUrlSigner::Signature(std::string_view path, std::string_view amz_date,
                                      std::string_view expires) const {
  std::string message;
  message.append(path).append("\n").append(amz_date).append("\n").append(expires);
  return HmacSha256Hex(secret_, message);
}

std::string MediaUrlSigner::SignedQuery(std::string_view path, int64_t now_ms,
                                        int64_t expires_s) const {
  std::string date = FormatAmzDate(now_ms);
  std::string expires = std::to_string(expires_s);
  return "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=" + date + "&X-Amz-Expires=" + expires +
         "&X-Amz-Signature=" + Signature(path, date, expires);
}

MediaCheck MediaUrlSigner::Verify(std::string_view path, std::string_view amz_date,
                                  std::string_view expires, std::string_view signature,
                                  int64_t now_ms) const {
  auto signed_at = ParseAmzDate(amz_date);
  int64_t expires_s = -1;
  auto [end, ec] = std::from_chars(expires.data(), expires.data() + expires.size(), expires_s);
  if (!signed_at.ok() || ec != std::errc() || end != expires.data() + expires.size() ||
      expires_s < 1 || expires_s > kMaxExpiresS || signature.empty())
    return MediaCheck::kMissing;
  if (!SecureEquals(signature, Signature(path, amz_date, expires))) return MediaCheck::kBadSignature;
  if (now_ms > *signed_at + expires_s * 1000) return MediaCheck::kExpired;
  return MediaCheck::kOk;
}

std::string FormatAmzDate(int64_t unix_ms) {
  using namespace std::chrono;
  int64_t secs = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  int64_t day_count = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int64_t sod = secs - day_count * 86400;
  year_month_day ymd{sys_days{days{day_count}}};
  char buf[24];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02d%02d%02dZ", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), int(sod / 3600), int(sod % 3600 / 60),
                int(sod % 60));
  return buf;
}

core::Result<int64_t> ParseAmzDate(std::string_view text) {
  using namespace std::chrono;
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z')
    return core::Status::InvalidArgument("X-Amz-Date must look like 20261120T150412Z");
  int v[6];
  const size_t pos[6] = {0, 4, 6, 9, 11, 13};
  const size_t len[6] = {4, 2, 2, 2, 2, 2};
  for (int i = 0; i < 6; ++i) {
    auto [end, ec] = std::from_chars(text.data() + pos[i], text.data() + pos[i] + len[i], v[i]);
    if (ec != std::errc() || end != text.data() + pos[i] + len[i])
      return core::Status::InvalidArgument("X-Amz-Date has a non-digit");
  }
  year_month_day ymd{year{v[0]}, month{unsigned(v[1])}, day{unsigned(v[2])}};
  if (!ymd.ok() || v[3] > 23 || v[4] > 59 || v[5] > 59)
    return core::Status::InvalidArgument("X-Amz-Date is not a valid time");
  int64_t d = sys_days{ymd}.time_since_epoch().count();
  return ((d * 24 + v[3]) * 60 + v[4]) * 60000 + int64_t{v[5]} * 1000;
}

std::string MakeWav(int channels, int64_t duration_ms, bool streaming_header) {
  if (channels < 1) channels = 1;
  if (channels > 2) channels = 2;
  if (duration_ms < 0) duration_ms = 0;
  const uint32_t frames = uint32_t(duration_ms * kWavRate / 1000);
  const uint32_t data_bytes = frames * uint32_t(channels) * 2;
  std::string out;
  out.reserve(44 + data_bytes);
  out += "RIFF";
  PutLe32(out, streaming_header ? 0xFFFFFFFFu : 36 + data_bytes);
  out += "WAVEfmt ";
  PutLe32(out, 16);                                   // fmt chunk size
  PutLe16(out, 1);                                    // PCM
  PutLe16(out, uint16_t(channels));
  PutLe32(out, kWavRate);
  PutLe32(out, uint32_t(kWavRate * channels * 2));    // byte rate
  PutLe16(out, uint16_t(channels * 2));               // block align
  PutLe16(out, 16);                                   // bits per sample
  out += "data";
  PutLe32(out, streaming_header ? 0xFFFFFFFFu : data_bytes);
  const double kTwoPi = 6.283185307179586;
  for (uint32_t i = 0; i < frames; ++i) {
    for (int c = 0; c < channels; ++c) {
      double hz = c == 0 ? 440.0 : 660.0;
      auto sample = int16_t(std::lround(6000.0 * std::sin(kTwoPi * hz * i / kWavRate)));
      PutLe16(out, uint16_t(sample));
    }
  }
  return out;
}

std::string MakeMp3(int channels, int64_t duration_ms) {
  std::string out;
  // ID3v2.4 header with one TSSE (encoder) text frame; sizes are syncsafe (7 bits per byte).
  const std::string text = std::string(1, '\x03') + "telnyx-sim";  // encoding 3 = UTF-8
  std::string frame = "TSSE";
  frame += std::string{'\0', '\0', '\0', char(text.size()), '\0', '\0'};  // size, flags
  frame += text;
  out += "ID3";
  out += std::string{'\x04', '\0', '\0'};                  // version 2.4.0, no flags
  out += std::string{'\0', '\0', '\0', char(frame.size())};  // tag size (syncsafe)
  out += frame;
  // MPEG-1 Layer III, no CRC, 32 kbit/s, 32 kHz: 144 * 32000 / 32000 = 144 bytes per frame,
  // 1152 samples = 36 ms. All-zero side info and main data decode as silence.
  const unsigned char mode = channels >= 2 ? 0x84 : 0xC4;  // dual channel | mono, "original"
  int64_t frames = (std::max<int64_t>(duration_ms, 0) + 35) / 36;
  for (int64_t i = 0; i < frames; ++i) {
    out.push_back(char(0xFF));
    out.push_back(char(0xFB));
    out.push_back(char(0x18));
    out.push_back(char(mode));
    out.append(140, '\0');
  }
  return out;
}

std::string S3ErrorXml(std::string_view code, std::string_view message) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>";
  out.append(code).append("</Code><Message>").append(message).append("</Message></Error>");
  return out;
}

}  // namespace callrec::telnyx_sim
