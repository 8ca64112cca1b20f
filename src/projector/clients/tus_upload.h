// tus_upload.h — resumable uploads (TUS 1.0.0) to Supabase Storage, for recordings too large
// for one request.
//
// Supabase Storage caps a single-request upload (50 MB by default; a dual-channel 8 kHz WAV
// passes that after ~27 minutes) and recommends resumable uploads above 6 MB, in chunks of
// exactly 6 MB (only the last may be shorter). The protocol, as Supabase serves it
// (supabase/storage src/http/routes/tus, over @tus/server):
//   create  POST {url}/storage/v1/upload/resumable   Tus-Resumable: 1.0.0, Upload-Length,
//           Upload-Metadata "bucketName <b64>,objectName <b64>,contentType <b64>,
//           cacheControl <b64>", x-upsert: true  ->  201 + Location: the upload's URL
//   send    PATCH <Location>   Content-Type: application/offset+octet-stream, Upload-Offset,
//           one chunk  ->  204 + Upload-Offset (the new offset); the object exists once the
//           offset reaches Upload-Length
//   offset  HEAD <Location>  ->  200 + Upload-Offset, Upload-Length
// Errors come as plain HTTP statuses: 409 the Upload-Offset sent is not the server's, 404 no
// such upload, 410 it expired (Supabase keeps an upload URL for an hour), 413 the length is
// over the project's limit; authorisation errors in Supabase's 400 {"statusCode"} shape.
//
// TusClient::Send never starts over: after a lost connection, a 5xx or a 409 it asks the
// server's offset (HEAD) and goes on from there, so bytes the server holds are not sent again.
// Bodies are read from the file chunk by chunk (HttpRequest::body_from_file_offset), never
// held in memory.
//
// Errors: as SupabaseAnswer (recording_storage.h) — kUnavailable after max_failures transient
// failures in a row without progress; kNotFound when the upload is gone (404/410: create a new
// one); IsTooLarge for a 413.
//
// Thread-safety: a TusClient holds no mutable state; concurrent calls are fine if the
// transport's are.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"
#include "projector/clients/http_transport.h"

namespace callrec::projector {

// Supabase's required chunk size, and the size above which callrec uploads resumably.
inline constexpr uint64_t kTusChunkBytes = 6u << 20;
inline constexpr uint64_t kTusThresholdBytes = 6u << 20;

struct TusObject {
  std::string bucket;
  std::string object_name;  // e.g. "intake_1/recording.wav"
  std::string content_type;
  std::string cache_control = "3600";
  bool upsert = true;  // x-upsert: a retry after a lost answer overwrites
};

struct TusProgress {
  int status = 0;           // HTTP status of the last PATCH
  uint64_t bytes_sent = 0;  // body bytes handed to PATCH requests (resent bytes count twice)
  int patches = 0;
  int resumes = 0;  // times the offset was asked again (HEAD) after a failure or a 409
};

class TusClient {
 public:
  // Makes a request with the credentials and timeouts of the caller (SupabaseStorage).
  using RequestFactory = std::function<HttpRequest(std::string method, std::string url)>;

  // `transport` is borrowed. `chunk_bytes` is kTusChunkBytes in production (Supabase requires
  // it); tests may pass a smaller one to a sim configured alike.
  TusClient(HttpTransport& transport, RequestFactory request, uint64_t chunk_bytes = kTusChunkBytes,
            int max_failures = 5);

  // POST {supabase_url}/storage/v1/upload/resumable; the upload's absolute URL.
  core::Result<std::string> Create(const std::string& supabase_url, const TusObject& object,
                                   uint64_t length) const;
  // HEAD <location>: the server's Upload-Offset.
  core::Result<uint64_t> Offset(const std::string& location) const;
  // PATCHes the file's bytes [offset, length) in chunks; `progress` (optional) is updated as it
  // goes, also when it fails.
  core::Status Send(const std::string& location, const std::string& path, uint64_t length,
                    uint64_t offset, TusProgress* progress = nullptr) const;

  uint64_t chunk_bytes() const { return chunk_bytes_; }

 private:
  HttpTransport& transport_;
  const RequestFactory request_;
  const uint64_t chunk_bytes_;
  const int max_failures_;
};

// "bucketName <b64>,objectName <b64>,contentType <b64>,cacheControl <b64>".
std::string TusMetadata(const TusObject& object);

}  // namespace callrec::projector
