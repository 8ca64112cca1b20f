// recording_storage.h — where callrec keeps its own copy of a recording (--storage fs|supabase).
//
// Store() copies an already verified local media file (media.h) to the storage and verifies the
// stored copy before saying yes, so "stored" in an intake means the bytes are there:
//   FsStorage        <dir>/<intake_id>/recording.<ext>, written to a temp file, fsync'd, renamed
//                    into place (the directory fsync'd too), then read back and hashed. Directories
//                    it creates are 0700 and files 0600: recordings are patient data.
//                    Location: "file:///abs/path".
//   SupabaseStorage  up to 6 MB: POST {url}/storage/v1/object/{bucket}/{intake_id}/recording.<ext>,
//                    body streamed from the file, `x-upsert: true` so a retry overwrites. Above
//                    6 MB, or when that POST is refused as too large (statusCode 413): a
//                    resumable TUS upload in 6 MB chunks (tus_upload.h) that resumes from the
//                    server's offset after a broken connection or a 5xx, never from zero; an
//                    upload a failed Store left unfinished is resumed by the next Store of the
//                    same bytes (same sha256) in this process. Then a HEAD
//                    of /storage/v1/object/authenticated/{bucket}/{path} must report the same
//                    size (or, with verify_sha256, a GET of it must hash the same).
//                    Location: "{url}/storage/v1/object/{bucket}/{path}"; public URL
//                    "{url}/storage/v1/object/public/{bucket}/{path}" (StoredCopy::public_url).
//                    Supabase answers every non-5xx failure as HTTP 400 with a body
//                    {"statusCode":"409|404|413|403|...","error","message"}: the statusCode
//                    decides, not the HTTP status. Keys: a legacy service_role key is a JWT and
//                    goes in `Authorization: Bearer` and `apikey`; a new `sb_secret_...` key is
//                    not a JWT (Supabase refuses it as a Bearer: "Invalid Compact JWS") and goes
//                    in `apikey` only.
//                    Memory stays flat whatever the size: every body streams from the file.
// Store is idempotent: storing the same intake again replaces the copy.
//
// Errors, by what the caller should do:
//   kInvalidArgument, IsTooLarge()  the object is over Supabase's upload limit (statusCode 413
//                        for the single POST and the resumable upload refused too, or a 413
//                        for the resumable upload): retrying the same upload cannot help.
//   kInvalidArgument     bad intake id or extension, or the local file is not the expected one
//                        (its sha256 differs): download again.
//   kUnavailable         no answer, 408/429/5xx, or the stored copy did not verify: retry later.
//   kFailedPrecondition  a 4xx from Supabase (message has its body), or a local directory or
//                        file that cannot be created or written: an operator must act.
//
// Thread-safety: Store() may run concurrently for different intakes. Two concurrent Store()
// calls for the same intake are safe on disk (unique temp names) and the last rename wins.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "projector/clients/http_transport.h"
#include "projector/clients/tus_upload.h"

namespace callrec::projector {

struct StoredCopy {
  std::string location;  // file:///... or the Supabase object URL (where it was uploaded)
  // Supabase: <url>/storage/v1/object/public/<bucket>/<path>, what the seed's getPublicUrl
  // gives and metadata.recording_url_supabase holds (README "HTTP", the intake); "" for fs.
  std::string public_url;
  uint64_t bytes = 0;
  std::string sha256;                     // of the stored copy as read back (fs) or of the upload
  int status = 0;                         // HTTP status of the upload; 0 for fs
  std::chrono::milliseconds duration{0};  // upload + verification; 0 for fs
  std::string response_body;              // the upload's answer ({"Id","Key"}); "" for fs
};

class RecordingStorage {
 public:
  virtual ~RecordingStorage() = default;
  // "fs" or "supabase", as in --storage.
  virtual const char* name() const = 0;
  // Requires: intake_id is 1-64 of [A-Za-z0-9_-] (checked: kInvalidArgument); ext is "wav" or
  // "mp3"; expected_sha256 is the lower-case hex VerifyMedia returned, or "" to skip that check.
  virtual core::Result<StoredCopy> Store(std::string_view intake_id, const std::string& local_path,
                                         std::string_view ext,
                                         std::string_view expected_sha256) = 0;
};

// True for Store()'s "over Supabase's upload size limit" (statusCode 413): never retried.
bool IsTooLarge(const core::Status& status);

// One answer of Supabase Storage as a Status, coded as Store() documents: ok for 2xx; the
// body's statusCode decides for an HTTP 400; a 413 of an "...upload" `stage` is IsTooLarge.
// `stage` names the step in the message ("upload", "resumable upload", "verify").
core::Status SupabaseAnswer(std::string_view stage, const core::Result<HttpResponse>& sent);

// A JWT is three non-empty base64url segments joined by '.'; `sb_secret_...` keys are not.
bool IsJwt(std::string_view key);

// The intake id rule (core/intake_id.h, README "HTTP"), which also makes the id safe as a path segment.
core::Status ValidateIntakeIdForStorage(std::string_view intake_id);

class FsStorage final : public RecordingStorage {
 public:
  // `dir` may be relative (resolved against the working directory at each Store) and need not
  // exist yet.
  explicit FsStorage(std::string dir) : dir_(std::move(dir)) {}
  const char* name() const override { return "fs"; }
  core::Result<StoredCopy> Store(std::string_view intake_id, const std::string& local_path,
                                 std::string_view ext, std::string_view expected_sha256) override;

 private:
  const std::string dir_;
};

inline constexpr std::string_view kDefaultSupabaseBucket = "call-recordings";

class SupabaseStorage final : public RecordingStorage {
 public:
  struct Options {
    bool verify_sha256 = false;  // GET the object back and hash it (costs a download)
    std::chrono::milliseconds connect_timeout{10000};
    std::chrono::milliseconds total_timeout{10 * 60 * 1000};
    // Supabase requires 6 MB chunks: only tests against a sim configured alike change these.
    uint64_t tus_chunk_bytes = kTusChunkBytes;
    uint64_t tus_threshold_bytes = kTusThresholdBytes;  // larger objects go resumable
  };

  // `transport` and `clock` are borrowed. `supabase_url`: "https://<ref>.supabase.co" (a
  // trailing '/' is ignored). The key is sent as `Authorization: Bearer` and `apikey`, and
  // appears nowhere else.
  SupabaseStorage(HttpTransport& transport, core::Clock& clock, std::string supabase_url,
                  std::string bucket, std::string service_role_key, Options options);
  SupabaseStorage(HttpTransport& transport, core::Clock& clock, std::string supabase_url,
                  std::string bucket, std::string service_role_key)
      : SupabaseStorage(transport, clock, std::move(supabase_url), std::move(bucket),
                        std::move(service_role_key), Options{}) {}

  const char* name() const override { return "supabase"; }
  core::Result<StoredCopy> Store(std::string_view intake_id, const std::string& local_path,
                                 std::string_view ext, std::string_view expected_sha256) override;

 private:
  HttpRequest Request(std::string method, std::string url) const;
  core::Status VerifyStored(const std::string& object_url, const std::string& local_path,
                            uint64_t bytes, const std::string& sha256);
  // Sends the file (single POST or TUS, deciding `resumable`); fills out.status/response_body.
  core::Status Upload(std::string_view intake_id, const TusObject& object,
                      const std::string& local_path, uint64_t bytes, const std::string& sha256,
                      StoredCopy& out, bool& resumable);
  // The TUS upload of `local_path` (tus_upload.h), resuming one an earlier Store left behind.
  core::Status UploadResumable(const TusObject& object, const std::string& local_path,
                               uint64_t bytes, const std::string& sha256, TusProgress* progress);

  HttpTransport& transport_;
  core::Clock& clock_;
  const std::string url_;
  const std::string bucket_;
  const std::string key_;
  const Options options_;
  core::Mutex pending_mu_;
  // "bucket/object" -> {sha256, upload URL} of resumable uploads a failed Store left unfinished.
  std::map<std::string, std::pair<std::string, std::string>> pending_ GUARDED_BY(pending_mu_);
};

}  // namespace callrec::projector
