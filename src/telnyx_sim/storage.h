// storage.h — an in-memory Supabase Storage object API for telnyx-sim.
//
// Routes (registered on the sim's httplib server):
//   POST   /storage/v1/object/{bucket}/{path}   create; 400 {"statusCode":"409","error":"Duplicate",..}
//                                              when it exists and x-upsert is not "true"
//   PUT    /storage/v1/object/{bucket}/{path}   replace an existing object (404-in-400 otherwise)
//   GET    /storage/v1/object/{bucket}/{path}   the bytes (authenticated); HEAD gives the length
//   GET    /storage/v1/object/authenticated/{bucket}/{path}   the same
//   GET    /storage/v1/object/public/{bucket}/{path}          the bytes, no key, public buckets
//   DELETE /storage/v1/object/{bucket}/{path}   remove
// A POST/PUT body over SimConfig::storage_max_bytes answers
// 400 {"statusCode":"413","error":"Payload too large",...} (the body is read and dropped).
// Resumable uploads (TUS 1.0.0, as supabase/storage serves them over @tus/server):
//   POST   /storage/v1/upload/resumable        Tus-Resumable: 1.0.0, Upload-Length, Upload-Metadata
//          (bucketName, objectName, contentType, cacheControl; base64), x-upsert -> 201 Location
//   PATCH  /storage/v1/upload/resumable/{id}   Upload-Offset, Content-Type:
//          application/offset+octet-stream, exactly storage_tus_chunk_bytes unless it is the
//          last chunk -> 204 Upload-Offset; the object exists once the upload is complete
//   HEAD   /storage/v1/upload/resumable/{id}   200 Upload-Offset, Upload-Length
// with tus's plain-text errors: 409 offset mismatch, 404 unknown upload, 410 expired
// (storage_tus_expiry), 412 wrong Tus-Resumable, 413 over storage_tus_max_bytes or past
// Upload-Length, 415 wrong Content-Type; 409 an existing object without x-upsert. The fault
// storage_tus_break_next/after makes a PATCH keep only its first N bytes and answer 503.
// Writes and authenticated reads need `apikey: <key>` (401 without) and
// `Authorization: Bearer <key>` (403 without); see SimConfig::storage_service_key. Errors use
// Supabase's legacy shape {"statusCode":"<code>","error":"..","message":".."} with HTTP 400 for
// not-found/duplicate, as Supabase answers them.
//
// Thread-safety: handlers run on the server's worker threads; objects are behind a mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/thread_annotations.h"
#include "telnyx_sim/config.h"
#include "telnyx_sim/stats.h"

namespace httplib {
class Server;
struct Request;
struct Response;
class ContentReader;
}  // namespace httplib

namespace callrec::telnyx_sim {

class SimStorage {
 public:
  // References must outlive this object.
  SimStorage(const SimConfig& config, core::Clock& clock, FaultBox& faults, SimStats& stats);
  // Adds the routes above to `server`; call before it starts listening.
  void Register(httplib::Server& server);

  // The stored bytes of bucket/path, for tests and the demo; nullopt when absent.
  std::optional<std::string> GetObjectForTest(const std::string& bucket, const std::string& path);
  size_t object_count();
  // PATCH body bytes read off the wire, and those kept in uploads (what a broken PATCH drops
  // is in the first, not the second). A client that resumes right sends no byte twice.
  uint64_t tus_bytes_received() const { return tus_received_.load(); }
  uint64_t tus_bytes_stored() const { return tus_stored_.load(); }
  void ResetCounters() {
    tus_received_ = 0;
    tus_stored_ = 0;
  }

 private:
  struct Object {
    std::string id;
    std::string bytes;
    std::string content_type;
    int64_t updated_ms = 0;
  };
  struct TusUpload {
    std::string bucket;
    std::string object_name;
    std::string content_type;
    bool upsert = false;
    uint64_t length = 0;
    int64_t expires_ms = 0;
    core::Mutex mu;  // one PATCH at a time, as Supabase's upload lock does
    uint64_t offset GUARDED_BY(mu) = 0;  // bytes received
    std::string bytes GUARDED_BY(mu);    // those bytes until the upload completes
  };
  void Upload(const httplib::Request& req, httplib::Response& res, bool replace,
              const std::string& body);
  void TusCreate(const httplib::Request& req, httplib::Response& res);
  void TusPatch(const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader& reader);
  void TusHead(const httplib::Request& req, httplib::Response& res);
  // The upload named by the URL, or null with `res` filled (404, 410).
  std::shared_ptr<TusUpload> FindUpload(const httplib::Request& req, httplib::Response& res);
  // Makes `bytes` the object bucket/path; false (409 in `res`) when it exists without upsert.
  bool PutObject(const std::string& key, std::string bytes, std::string content_type,
                 bool upsert, bool replace, httplib::Response& res, std::string* id);
  void Download(const httplib::Request& req, httplib::Response& res, bool is_public);
  void Remove(const httplib::Request& req, httplib::Response& res);
  // Checks apikey and Authorization; on failure fills `res` and returns false.
  bool Authorized(const httplib::Request& req, httplib::Response& res) const;
  // Checks the storage fault, bucket and key; on failure fills `res` and returns false.
  bool Admit(const httplib::Request& req, httplib::Response& res, bool need_public);

  const SimConfig& config_;
  core::Clock& clock_;
  FaultBox& faults_;
  SimStats& stats_;
  core::Mutex mu_;  // taken after a TusUpload's mu when both are held
  std::map<std::string, std::shared_ptr<const Object>> objects_ GUARDED_BY(mu_);  // "bucket/path"
  std::map<std::string, std::shared_ptr<TusUpload>> uploads_ GUARDED_BY(mu_);     // by upload id
  std::atomic<uint64_t> tus_received_{0};
  std::atomic<uint64_t> tus_stored_{0};
};

}  // namespace callrec::telnyx_sim
