// media.h — the audio files the simulator serves and the S3-style URLs that point at them.
//
// Telnyx hands out recording download URLs presigned on S3: they expire (X-Amz-Expires, 600 s)
// and a stale one answers 403 with an XML error. MediaUrlSigner reproduces that contract for the
// sim's own /media route with an HMAC over (path, X-Amz-Date, X-Amz-Expires). MakeWav and
// MakeMp3 build small but real audio files (a tone for WAV, silent frames for MP3).
//
//   MediaUrlSigner signer(RandomBytes(32));
//   std::string url = base + path + "?" + signer.SignedQuery(path, now_ms, 600);
//   signer.Verify(path, amz_date, expires, signature, now_ms) == MediaCheck::kOk
//
// Thread-safety: MediaUrlSigner is immutable; the functions are pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace callrec::telnyx_sim {

enum class MediaCheck {
  kOk,
  kMissing,       // a required X-Amz-* parameter is absent or malformed
  kBadSignature,  // the signature does not cover this path/date/expiry
  kExpired,       // X-Amz-Date + X-Amz-Expires is in the past
};

class MediaUrlSigner {
 public:
  explicit MediaUrlSigner(std::string secret) : secret_(std::move(secret)) {}

  // "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261120T150412Z&X-Amz-Expires=600&
  //  X-Amz-Signature=<64 hex>" for `path` signed at now_ms.
  std::string SignedQuery(std::string_view path, int64_t now_ms, int64_t expires_s) const;
  MediaCheck Verify(std::string_view path, std::string_view amz_date, std::string_view expires,
                    std::string_view signature, int64_t now_ms) const;

 private:
  std::string Signature(std::string_view path, std::string_view amz_date,
                        std::string_view expires) const;
  std::string secret_;
};

// "20261120T150412Z" (AWS's basic ISO 8601 form, UTC).
std::string FormatAmzDate(int64_t unix_ms);
// Unix ms of a "yyyymmddThhmmssZ" string; kInvalidArgument otherwise.
core::Result<int64_t> ParseAmzDate(std::string_view text);

// RIFF/WAVE, PCM 16-bit little-endian, 8 kHz, `channels` (1 or 2) channels, `duration_ms` long:
// a 440 Hz tone on the first channel and 660 Hz on the second.
// `streaming_header`: both size fields 0xFFFFFFFF, as a recorder that writes the header before it
// knows the length does (real WAVs' size fields are not promised to be exact).
std::string MakeWav(int channels, int64_t duration_ms, bool streaming_header = false);
// An ID3v2.4 tag followed by silent MPEG-1 Layer III frames (32 kbit/s, 32 kHz; mono for one
// channel, dual-channel mode for two) covering `duration_ms`.
std::string MakeMp3(int channels, int64_t duration_ms);

// <?xml ...?><Error><Code>code</Code><Message>message</Message></Error>, as S3 answers.
std::string S3ErrorXml(std::string_view code, std::string_view message);

}  // namespace callrec::telnyx_sim
