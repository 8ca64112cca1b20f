// sim_storage.h — an in-memory Supabase Storage object API for telnyx-sim.
//
// Routes (registered on the sim's httplib server):
//   POST   /storage/v1/object/{bucket}/{path}   create; 400 {"statusCode":"409","error":"Duplicate",..}
//                                              when it exists and x-upsert is not "true"
//   PUT    /storage/v1/object/{bucket}/{path}   replace an existing object (404-in-400 otherwise)
//   GET    /storage/v1/object/{bucket}/{path}   the bytes (authenticated); HEAD gives the length
//   GET    /storage/v1/object/authenticated/{bucket}/{path}   the same
//   GET    /storage/v1/object/public/{bucket}/{path}          the bytes, no key, public buckets
//   DELETE /storage/v1/object/{bucket}/{path}   remove
// Writes and authenticated reads need `apikey: <key>` (401 without) and
// `Authorization: Bearer <key>` (403 without); see SimConfig::storage_service_key. Errors use
// Supabase's legacy shape {"statusCode":"<code>","error":"..","message":".."} with HTTP 400 for
// not-found/duplicate, as Supabase answers them.
//
// Thread-safety: handlers run on the server's worker threads; objects are behind a mutex.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"
#include "tools/sim_config.h"
#include "tools/sim_stats.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace callrec::tools {

class SimStorage {
 public:
  // References must outlive this object.
  SimStorage(const SimConfig& config, core::Clock& clock, FaultBox& faults, SimStats& stats);
  // Adds the routes above to `server`; call before it starts listening.
  void Register(httplib::Server& server);

  // The stored bytes of bucket/path, for tests and the demo; nullopt when absent.
  std::optional<std::string> GetObjectForTest(const std::string& bucket, const std::string& path);
  size_t object_count();

 private:
  struct Object {
    std::string id;
    std::string bytes;
    std::string content_type;
    int64_t updated_ms = 0;
  };
  void Upload(const httplib::Request& req, httplib::Response& res, bool replace);
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
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Object>> objects_;  // "bucket/path"; guarded by mu_
};

}  // namespace callrec::tools
