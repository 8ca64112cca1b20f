// StepRunner::Store — copying a matched recording to --storage, with the checks that make
// "stored" mean the bytes are there: a fresh download URL right before downloading (presigned
// URLs expire in minutes), streaming to a temp file, a container and size check, a sha256 that
// goes into the event, and a storage-side verification (recording_storage.h).
#include <unistd.h>

#include <filesystem>

#include "core/event_types.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time_format.h"
#include "projector/actor/step_runner.h"
#include "projector/clients/media.h"

namespace callrec::projector {

using core::Event;
using core::JsonWriter;

namespace {

// Removes the temp download on every path out of Store().
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string PickUrl(const Recording& r, const std::string& format) {
  if (format == "mp3" && !r.download_url_mp3.empty()) return r.download_url_mp3;
  return !r.download_url_wav.empty() ? r.download_url_wav : r.download_url_mp3;
}

Event StorageEvent(const std::string& intake_id, const char* outcome, const char* stage,
                   uint64_t bytes, const std::string& sha256, const std::string& format,
                   const std::string& location, int status, int64_t duration_ms,
                   const std::string& error, std::optional<int64_t> retry_at, int64_t attempt,
                   const std::string& public_url = "", const std::string& media_note = "") {
  JsonWriter w;
  w.BeginObject();
  w.Key("outcome").String(outcome);
  w.Key("stage").String(stage);
  w.Key("bytes").Uint(bytes);
  w.Key("sha256").String(sha256);
  w.Key("format").String(format);
  w.Key("location").String(location);
  if (!public_url.empty()) w.Key("public_url").String(public_url);
  // A tolerated discrepancy in the audio's size fields (media.h VerifyMedia).
  if (!media_note.empty()) w.Key("media_note").String(media_note);
  w.Key("status").Int(status);
  w.Key("duration_ms").Int(duration_ms);
  if (error.empty()) w.Key("error").Null();
  else w.Key("error").String(error);
  if (retry_at) w.Key("retry_at").String(core::FormatRfc3339Millis(*retry_at));
  else w.Key("retry_at").Null();
  w.Key("attempt").Int(attempt);
  w.EndObject();
  return MakeEvent(core::event_type::kStorageUpload, core::source::kStorage, intake_id, w.Take());
}

}  // namespace

void StepRunner::StorageFailure(const IntakeState& s, std::vector<Event>& out, const char* stage,
                                const std::string& error, bool permanent) {
  int64_t attempt = s.storage_attempts + 1;
  const char* reason = std::string_view(stage) == "upload" ? "upload_failed" : "download_failed";
  if (permanent || attempt >= config_.storage_max_attempts) {
    out.push_back(StorageEvent(s.id, "failed", stage, 0, "", config_.record_format, "", 0, 0, error,
                               std::nullopt, attempt));
    out.push_back(IntakeFailedEvent(s.id, reason,
                                    std::string(stage) + " failed after " + std::to_string(attempt) +
                                        " attempt(s): " + error));
    core::LogWarn("intake.failed", {{"intake", s.id}, {"reason", reason}, {"error", error}});
    return;
  }
  int64_t retry_at = Now() + FullJitterDelay(uint32_t(attempt), config_.backoff, random_()).count();
  out.push_back(StorageEvent(s.id, "transient", stage, 0, "", config_.record_format, "", 0, 0,
                             error, retry_at, attempt));
  core::LogWarn("storage.retry", {{"intake", s.id}, {"stage", stage}, {"attempt", attempt},
                                  {"error", error}});
}

std::vector<Event> StepRunner::Store(const IntakeState& s) {
  std::vector<Event> out;
  if (storage_ == nullptr || !s.recording_id) {
    StorageFailure(s, out, "upload", "no storage configured or no recording known", true);
    return out;
  }
  auto format = ParseMediaFormat(config_.record_format);
  MediaFormat media_format = format.ok() ? *format : MediaFormat::kWav;
  const std::string ext = MediaFormatName(media_format);
  TempFile temp(config_.temp_dir + "/callrec-" + s.id + "-" + std::to_string(::getpid()) + "-" +
                std::to_string(random_() % 1000000) + ".part");

  // 1. A fresh URL, then the download; one more fresh URL if it expired in between.
  DownloadResult download;
  for (int round = 0; round < 2; ++round) {
    RecordingLookup lookup = telnyx_.GetRecording(*s.recording_id);
    out.push_back(MakeEvent(core::event_type::kTelnyxRecordingGet, core::source::kTelnyxApi, s.id,
                            lookup.api.EnvelopeJson(std::nullopt)));
    if (!lookup.recording) {
      bool gone = lookup.api.status == 404;
      StorageFailure(s, out, "download",
                     gone ? "the recording no longer exists at Telnyx" : lookup.api.error, gone);
      return out;
    }
    download = DownloadMedia(media_, PickUrl(*lookup.recording, config_.record_format), temp.path());
    if (download.outcome != DownloadOutcome::kUrlExpired) break;
  }
  if (!download.ok()) {
    StorageFailure(s, out, "download", std::string(DownloadOutcomeName(download.outcome)) + ": " +
                                           download.error, false);
    return out;
  }
  // 2. Is it audio, and whole?
  auto info = VerifyMedia(temp.path(), media_format);
  if (!info.ok()) {
    StorageFailure(s, out, "verify", info.status().message(), false);
    return out;
  }
  // 3. The copy, verified by the storage itself.
  auto stored = storage_->Store(s.id, temp.path(), ext, info->sha256);
  if (!stored.ok()) {
    // Even a 4xx (bad key, missing bucket) is retried up to the attempt limit: an operator may
    // fix the configuration in the meantime, and the failure then names the last answer. An
    // object over Supabase's size limit never fits: it fails at once, saying so.
    StorageFailure(s, out, "upload", stored.status().message(), IsTooLarge(stored.status()));
    return out;
  }
  core::LogInfo("storage.stored", {{"intake", s.id}, {"storage", storage_->name()},
                                   {"bytes", stored->bytes}, {"sha256", stored->sha256}});
  out.push_back(StorageEvent(s.id, "ok", "upload", stored->bytes, stored->sha256, ext,
                             stored->location, stored->status, stored->duration.count(), "",
                             std::nullopt, s.storage_attempts + 1, stored->public_url, info->note));
  return out;
}

}  // namespace callrec::projector
