// media.h — downloading a recording's audio and checking it is audio.
//
// DownloadMedia streams a presigned download URL into a local file (never the whole file in
// memory) and says what the answer means for the caller. The one case worth its own outcome is
// kUrlExpired: Telnyx's URLs are signed for 10 minutes, and S3 answers 403 once they lapse; the
// caller then asks GET /v2/recordings/{id} for a fresh URL and downloads again. URLs are never
// put in error texts (their query string is a signature).
//
// VerifyMedia rejects what a download can produce that is not a recording: an HTML or XML error
// page saved under a .wav name, a transfer cut short, a file too small to hold audio. It checks
// the container (RIFF/WAVE with fmt and data chunks, size fields that disagree with the bytes
// received tolerated and noted; MP3 by ID3v2 tag or an
// MPEG audio frame header), then hashes the file with SHA-256, streamed.
//
// Thread-safety: free functions; concurrent calls on different files are fine.
//
//   DownloadResult d = DownloadMedia(transport, url, "/tmp/x.wav");
//   if (d.outcome == DownloadOutcome::kUrlExpired) { ...GetRecording, then retry... }
//   CALLREC_ASSIGN_OR_RETURN(MediaInfo info, VerifyMedia("/tmp/x.wav", MediaFormat::kWav));
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "projector/clients/http_transport.h"

namespace callrec::projector {

enum class MediaFormat : uint8_t { kWav, kMp3 };

// "wav" / "mp3": file extension and RecordStartOptions::format.
const char* MediaFormatName(MediaFormat format);
// "wav" or "mp3" (exactly); anything else is kInvalidArgument.
core::Result<MediaFormat> ParseMediaFormat(std::string_view name);

enum class DownloadOutcome : uint8_t {
  kOk,          // 2xx: the body is in the file
  kUrlExpired,  // 403: fetch a fresh URL (TelnyxClient::GetRecording) and download again
  kTransient,   // no answer, 408, 429, 5xx, a cut-short transfer: retry with backoff
  kFailed,      // any other status (404: the recording is gone), or a local file error
};
const char* DownloadOutcomeName(DownloadOutcome outcome);  // "ok", "url_expired", ...

struct DownloadResult {
  DownloadOutcome outcome = DownloadOutcome::kFailed;
  int status = 0;  // 0: no HTTP answer
  uint64_t bytes = 0;
  std::chrono::milliseconds duration{0};  // as the transport measured it
  std::string error;                      // "" when ok; never contains the URL
  bool ok() const { return outcome == DownloadOutcome::kOk; }
};

struct DownloadOptions {
  std::chrono::milliseconds connect_timeout{10000};
  // A 10-minute dual-channel WAV is ~19 MB: minutes are generous, hours would hide a stall.
  std::chrono::milliseconds total_timeout{10 * 60 * 1000};
};

// GET `url` (following redirects; no credentials sent) into `temp_path`, created or truncated.
// Requires: the directory of `temp_path` exists.
DownloadResult DownloadMedia(HttpTransport& transport, const std::string& url,
                             const std::string& temp_path, const DownloadOptions& options = {});

struct MediaInfo {
  uint64_t bytes = 0;
  std::string sha256;  // lower-case hex
  // VerifyMedia: a tolerated discrepancy between the file's size fields and the bytes received
  // (e.g. a streaming WAV header's 0xFFFFFFFF), for the event; "" when none.
  std::string note;
};

// Smallest files accepted: a canonical WAV header, and an ID3-less MP3 of a few frames.
constexpr uint64_t kMinWavBytes = 44;
constexpr uint64_t kMinMp3Bytes = 128;

// kInvalidArgument naming what is wrong when the file is not a well-formed `format` file;
// kNotFound when it does not exist; kFailedPrecondition when it cannot be read.
core::Result<MediaInfo> VerifyMedia(const std::string& path, MediaFormat format);

// SHA-256 of a file, streamed in 64 KiB reads. kNotFound / kFailedPrecondition as above.
core::Result<MediaInfo> HashFile(const std::string& path);

}  // namespace callrec::projector
