#include "tools/sim_storage.h"

#include <httplib.h>

#include "core/json.h"
#include "core/log.h"
#include "projector/recording_storage.h"
#include "tools/sim_crypto.h"

namespace callrec::tools {
namespace {

constexpr const char* kJson = "application/json";

void Error(httplib::Response& res, int http, std::string_view code, std::string_view error,
           std::string_view message) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("statusCode").String(code).Key("error").String(error).Key("message").String(message);
  w.EndObject();
  res.status = http;
  res.set_content(w.Take(), kJson);
}

// Object keys must be relative paths without empty, "." or ".." segments or control bytes.
bool ValidKey(const std::string& key) {
  if (key.empty() || key.size() > 1024 || key.front() == '/' || key.back() == '/') return false;
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    std::string_view seg(key.data() + start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    start = end + 1;
  }
  for (unsigned char c : key)
    if (c < 0x20 || c == 0x7F) return false;
  return true;
}

std::string BearerToken(const httplib::Request& req) {
  std::string auth = req.get_header_value("Authorization");
  if (auth.size() > 7 && (auth.rfind("Bearer ", 0) == 0 || auth.rfind("bearer ", 0) == 0))
    return auth.substr(7);
  return "";
}

}  // namespace

SimStorage::SimStorage(const SimConfig& config, core::Clock& clock, FaultBox& faults,
                       SimStats& stats)
    : config_(config), clock_(clock), faults_(faults), stats_(stats) {}

void SimStorage::Register(httplib::Server& server) {
  server.Post(R"(/storage/v1/object/([^/]+)/(.+))",
              [this](const httplib::Request& req, httplib::Response& res) {
                stats_.Count("POST /storage/v1/object");
                Upload(req, res, false);
              });
  server.Put(R"(/storage/v1/object/([^/]+)/(.+))",
             [this](const httplib::Request& req, httplib::Response& res) {
               stats_.Count("PUT /storage/v1/object");
               Upload(req, res, true);
             });
  server.Get(R"(/storage/v1/object/public/([^/]+)/(.+))",
             [this](const httplib::Request& req, httplib::Response& res) {
               stats_.Count(req.method + " /storage/v1/object/public");
               Download(req, res, true);
             });
  server.Get(R"(/storage/v1/object/authenticated/([^/]+)/(.+))",
             [this](const httplib::Request& req, httplib::Response& res) {
               stats_.Count(req.method + " /storage/v1/object");
               Download(req, res, false);
             });
  server.Get(R"(/storage/v1/object/([^/]+)/(.+))",
             [this](const httplib::Request& req, httplib::Response& res) {
               stats_.Count(req.method + " /storage/v1/object");
               Download(req, res, false);
             });
  server.Delete(R"(/storage/v1/object/([^/]+)/(.+))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  stats_.Count("DELETE /storage/v1/object");
                  Remove(req, res);
                });
}

bool SimStorage::Authorized(const httplib::Request& req, httplib::Response& res) const {
  std::string apikey = req.get_header_value("apikey");
  const std::string& want = config_.storage_service_key;
  if (apikey.empty()) {
    res.status = 401;
    res.set_content(R"({"message":"No API key found in request","hint":"No `apikey` request header or url param was found."})",
                    kJson);
    return false;
  }
  if (!want.empty() && !SecureEquals(apikey, want)) {
    res.status = 401;
    res.set_content(R"({"message":"Invalid API key","hint":"Double check your Supabase `anon` or `service_role` API key."})",
                    kJson);
    return false;
  }
  // Supabase Storage answers its errors as HTTP 400 with the code in the body's statusCode.
  std::string token = BearerToken(req);
  if (!token.empty() && !projector::IsJwt(token)) {
    // A new sb_secret_ key is not a JWT: as a Bearer it is refused.
    Error(res, 400, "403", "Unauthorized", "Invalid Compact JWS");
    return false;
  }
  if (token.empty()) {
    // The gateway turns a (non-JWT) sb_secret_ apikey into a role itself; a legacy JWT key
    // must come as the Bearer too.
    if (!projector::IsJwt(apikey)) return true;
    Error(res, 400, "403", "Unauthorized", "headers must have required property 'authorization'");
    return false;
  }
  if (!want.empty() && !SecureEquals(token, want)) {
    Error(res, 400, "403", "Unauthorized", "invalid signature");
    return false;
  }
  return true;
}

bool SimStorage::Admit(const httplib::Request& req, httplib::Response& res, bool need_public) {
  if (int status = faults_.TakeStorageError(); status != 0) {
    core::LogInfo("sim.fault.storage_error", {{"status", status}});
    Error(res, status, std::to_string(status), "Internal Server Error",
          "simulated storage failure (telnyx-sim fault)");
    return false;
  }
  const std::string bucket = req.matches[1];
  const SimBucket* found = nullptr;
  for (const SimBucket& b : config_.buckets)
    if (b.name == bucket) found = &b;
  // Supabase answers a private bucket's public URL as if the bucket did not exist.
  if (found == nullptr || (need_public && !found->is_public)) {
    Error(res, 400, "404", "Bucket not found", "Bucket not found");
    return false;
  }
  if (!ValidKey(req.matches[2])) {
    Error(res, 400, "400", "InvalidKey", "Invalid key: " + std::string(req.matches[2]));
    return false;
  }
  return true;
}

void SimStorage::Upload(const httplib::Request& req, httplib::Response& res, bool replace) {
  if (!Authorized(req, res) || !Admit(req, res, false)) return;
  if (req.body.size() > config_.storage_max_bytes) {
    Error(res, 400, "413", "Payload too large", "The object exceeded the maximum allowed size");
    return;
  }
  const std::string key = std::string(req.matches[1]) + "/" + std::string(req.matches[2]);
  bool upsert = req.get_header_value("x-upsert") == "true";
  auto obj = std::make_shared<Object>();
  obj->bytes = req.body;
  obj->content_type = req.get_header_value("Content-Type");
  if (obj->content_type.empty()) obj->content_type = "application/octet-stream";
  obj->updated_ms = clock_.WallMillis();
  {
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    bool exists = it != objects_.end();
    if (!replace && exists && !upsert) {
      Error(res, 400, "409", "Duplicate", "The resource already exists");
      return;
    }
    if (replace && !exists && !upsert) {
      Error(res, 400, "404", "not_found", "Object not found");
      return;
    }
    // A replaced object keeps its id, as Supabase's objects row does.
    obj->id = exists ? it->second->id : NewUuid();
    objects_[key] = obj;
  }
  core::JsonWriter w;
  w.BeginObject().Key("Id").String(obj->id).Key("Key").String(key).EndObject();
  res.status = 200;
  res.set_content(w.Take(), kJson);
}

void SimStorage::Download(const httplib::Request& req, httplib::Response& res, bool is_public) {
  if (!is_public && !Authorized(req, res)) return;
  if (!Admit(req, res, is_public)) return;
  std::shared_ptr<const Object> obj;
  {
    std::lock_guard lock(mu_);
    auto it = objects_.find(std::string(req.matches[1]) + "/" + std::string(req.matches[2]));
    if (it != objects_.end()) obj = it->second;
  }
  if (obj == nullptr) {
    Error(res, 400, "404", "not_found", "Object not found");
    return;
  }
  res.status = 200;
  res.set_content(obj->bytes, obj->content_type.c_str());
}

void SimStorage::Remove(const httplib::Request& req, httplib::Response& res) {
  if (!Authorized(req, res) || !Admit(req, res, false)) return;
  size_t erased;
  {
    std::lock_guard lock(mu_);
    erased = objects_.erase(std::string(req.matches[1]) + "/" + std::string(req.matches[2]));
  }
  if (erased == 0) {
    Error(res, 400, "404", "not_found", "Object not found");
    return;
  }
  res.status = 200;
  res.set_content(R"({"message":"Successfully deleted"})", kJson);
}

std::optional<std::string> SimStorage::GetObjectForTest(const std::string& bucket,
                                                        const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = objects_.find(bucket + "/" + path);
  if (it == objects_.end()) return std::nullopt;
  return it->second->bytes;
}

size_t SimStorage::object_count() {
  std::lock_guard lock(mu_);
  return objects_.size();
}

}  // namespace callrec::tools
