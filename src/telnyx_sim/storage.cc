#include "telnyx_sim/storage.h"

#include <httplib.h>

#include "core/json.h"
#include "core/log.h"
#include "projector/clients/recording_storage.h"
#include "telnyx_sim/crypto.h"

namespace callrec::telnyx_sim {
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
  // Object bodies are read here, so one over the limit is dropped as it streams in, not held.
  auto upload = [this](bool replace) {
    return [this, replace](const httplib::Request& req, httplib::Response& res,
                           const httplib::ContentReader& reader) {
      stats_.Count(replace ? "PUT /storage/v1/object" : "POST /storage/v1/object");
      bool admitted = Authorized(req, res) && Admit(req, res, false);
      std::string body;
      bool over = false;
      reader([&](const char* data, size_t n) {
        over = over || body.size() + n > config_.storage_max_bytes;
        if (admitted && !over) body.append(data, n);
        return true;
      });
      if (!admitted) return;
      if (over) {
        body.clear();
        return Error(res, 400, "413", "Payload too large",
                     "The object exceeded the maximum allowed size");
      }
      Upload(req, res, replace, body);
    };
  };
  server.Post(R"(/storage/v1/object/([^/]+)/(.+))", upload(false));
  server.Put(R"(/storage/v1/object/([^/]+)/(.+))", upload(true));
  server.Post("/storage/v1/upload/resumable",
              [this](const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& reader) {
                stats_.Count("POST /storage/v1/upload/resumable");
                reader([](const char*, size_t) { return true; });  // a creation has no body
                TusCreate(req, res);
              });
  server.Patch(R"(/storage/v1/upload/resumable/([A-Za-z0-9_-]+))",
               [this](const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader) {
                 stats_.Count("PATCH /storage/v1/upload/resumable/{id}");
                 TusPatch(req, res, reader);
               });
  server.Get(R"(/storage/v1/upload/resumable/([A-Za-z0-9_-]+))",
             [this](const httplib::Request& req, httplib::Response& res) {
               stats_.Count(req.method + " /storage/v1/upload/resumable/{id}");
               TusHead(req, res);
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

void SimStorage::Upload(const httplib::Request& req, httplib::Response& res, bool replace,
                        const std::string& body) {
  const std::string key = std::string(req.matches[1]) + "/" + std::string(req.matches[2]);
  std::string id;
  if (!PutObject(key, body, req.get_header_value("Content-Type"),
                 req.get_header_value("x-upsert") == "true", replace, res, &id))
    return;
  core::JsonWriter w;
  w.BeginObject().Key("Id").String(id).Key("Key").String(key).EndObject();
  res.status = 200;
  res.set_content(w.Take(), kJson);
}

bool SimStorage::PutObject(const std::string& key, std::string bytes, std::string content_type,
                           bool upsert, bool replace, httplib::Response& res, std::string* id) {
  auto obj = std::make_shared<Object>();
  obj->bytes = std::move(bytes);
  obj->content_type = content_type.empty() ? "application/octet-stream" : std::move(content_type);
  obj->updated_ms = clock_.WallMillis();
  core::MutexLock lock(mu_);
  auto it = objects_.find(key);
  bool exists = it != objects_.end();
  if (!replace && exists && !upsert) {
    Error(res, 400, "409", "Duplicate", "The resource already exists");
    return false;
  }
  if (replace && !exists && !upsert) {
    Error(res, 400, "404", "not_found", "Object not found");
    return false;
  }
  // A replaced object keeps its id, as Supabase's objects row does.
  obj->id = exists ? it->second->id : NewUuid();
  *id = obj->id;
  objects_[key] = obj;
  return true;
}

void SimStorage::Download(const httplib::Request& req, httplib::Response& res, bool is_public) {
  if (!is_public && !Authorized(req, res)) return;
  if (!Admit(req, res, is_public)) return;
  std::shared_ptr<const Object> obj;
  {
    core::MutexLock lock(mu_);
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
    core::MutexLock lock(mu_);
    erased = objects_.erase(std::string(req.matches[1]) + "/" + std::string(req.matches[2]));
  }
  if (erased == 0) {
    Error(res, 400, "404", "not_found", "Object not found");
    return;
  }
  res.status = 200;
  res.set_content(R"({"message":"Successfully deleted"})", kJson);
}

namespace {

// tus answers its errors as plain text with the real HTTP status (Supabase's own errors on
// these routes go through the same path: status from their statusCode, body their message).
void TusError(httplib::Response& res, int status, std::string_view message) {
  res.status = status;
  res.set_header("Tus-Resumable", "1.0.0");
  res.set_content(std::string(message) + "\n", "text/plain");
}

std::optional<uint64_t> ParseU64(const std::string& text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + uint64_t(c - '0');
  }
  return v;
}

// "bucketName <b64>,objectName <b64>,..." -> key -> decoded value; nullopt when malformed.
std::optional<std::map<std::string, std::string>> ParseTusMetadata(const std::string& header) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < header.size()) {
    size_t end = header.find(',', start);
    if (end == std::string::npos) end = header.size();
    std::string pair = header.substr(start, end - start);
    while (!pair.empty() && pair.front() == ' ') pair.erase(0, 1);
    size_t space = pair.find(' ');
    std::string key = pair.substr(0, space);
    if (key.empty()) return std::nullopt;
    std::string value;
    if (space != std::string::npos) {
      auto decoded = core::Base64Decode(pair.substr(space + 1));
      if (!decoded.ok()) return std::nullopt;
      value = *decoded;
    }
    out[key] = value;
    start = end + 1;
  }
  return out;
}

// Why a PATCH of `declared` bytes at `offset` cannot extend an upload at `at` of `length`:
// {status, reason}, or {0, ""} when it can.
std::pair<int, std::string> PatchRefusal(uint64_t offset, uint64_t declared, uint64_t at,
                                         uint64_t length, uint64_t chunk) {
  if (offset != at) return {409, "Upload-Offset conflict"};
  if (offset + declared > length) return {413, "Maximum size exceeded"};
  // Supabase requires chunks of exactly 6 MB; only the one that completes may be shorter.
  if (declared != chunk && offset + declared != length)
    return {400, "chunk of " + std::to_string(declared) + " bytes: every chunk but the last must be " +
                     std::to_string(chunk) + " bytes"};
  return {0, ""};
}

std::string UrlSafeId() {
  std::string id = core::Base64Encode(NewUuid());
  for (char& c : id) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!id.empty() && id.back() == '=') id.pop_back();
  return id;
}

}  // namespace

void SimStorage::TusCreate(const httplib::Request& req, httplib::Response& res) {
  if (!Authorized(req, res)) return;
  if (int status = faults_.TakeStorageError(); status != 0)
    return TusError(res, status, "simulated storage failure (telnyx-sim fault)");
  if (req.get_header_value("Tus-Resumable") != "1.0.0") {
    res.set_header("Tus-Version", "1.0.0");
    return TusError(res, 412, "Unsupported version");
  }
  auto length = ParseU64(req.get_header_value("Upload-Length"));
  if (!length) return TusError(res, 400, "Upload-Length or Upload-Defer-Length header required");
  if (*length > config_.storage_tus_max_bytes) return TusError(res, 413, "Maximum size exceeded");
  auto meta = ParseTusMetadata(req.get_header_value("Upload-Metadata"));
  if (!meta || (*meta)["bucketName"].empty() || (*meta)["objectName"].empty())
    return TusError(res, 400, "Upload-Metadata with bucketName and objectName is required");
  auto upload = std::make_shared<TusUpload>();
  upload->bucket = (*meta)["bucketName"];
  upload->object_name = (*meta)["objectName"];
  upload->content_type = (*meta)["contentType"];
  upload->upsert = req.get_header_value("x-upsert") == "true";
  upload->length = *length;
  upload->expires_ms = clock_.WallMillis() + config_.storage_tus_expiry.count();
  bool bucket_found = false;
  for (const SimBucket& b : config_.buckets) bucket_found |= b.name == upload->bucket;
  if (!bucket_found) return TusError(res, 404, "Bucket not found");
  if (!ValidKey(upload->object_name))
    return TusError(res, 400, "Invalid key: " + upload->object_name);
  const std::string id = UrlSafeId();
  {
    core::MutexLock lock(mu_);
    if (!upload->upsert && objects_.count(upload->bucket + "/" + upload->object_name) > 0)
      return TusError(res, 409, "The resource already exists");
    uploads_[id] = upload;
  }
  res.status = 201;
  res.set_header("Tus-Resumable", "1.0.0");
  res.set_header("Location", "http://" + req.get_header_value("Host") +
                                 "/storage/v1/upload/resumable/" + id);
}

std::shared_ptr<SimStorage::TusUpload> SimStorage::FindUpload(const httplib::Request& req,
                                                              httplib::Response& res) {
  std::shared_ptr<TusUpload> upload;
  {
    core::MutexLock lock(mu_);
    auto it = uploads_.find(req.matches[1]);
    if (it != uploads_.end()) upload = it->second;
  }
  if (upload == nullptr) {
    TusError(res, 404, "The file for this url was not found");
    return nullptr;
  }
  if (clock_.WallMillis() >= upload->expires_ms) {
    TusError(res, 410, "The file for this url no longer exists");
    return nullptr;
  }
  return upload;
}

void SimStorage::TusHead(const httplib::Request& req, httplib::Response& res) {
  if (!Authorized(req, res)) return;
  if (int status = faults_.TakeStorageError(); status != 0)
    return TusError(res, status, "simulated storage failure (telnyx-sim fault)");
  auto upload = FindUpload(req, res);
  if (upload == nullptr) return;
  core::MutexLock lock(upload->mu);
  res.status = 200;
  res.set_header("Tus-Resumable", "1.0.0");
  res.set_header("Cache-Control", "no-store");
  res.set_header("Upload-Offset", std::to_string(upload->offset));
  res.set_header("Upload-Length", std::to_string(upload->length));
}

void SimStorage::TusPatch(const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader) {
  // Every early answer still reads the body, so the connection stays usable.
  auto drain = [&] { reader([&](const char*, size_t n) { tus_received_ += n; return true; }); };
  if (!Authorized(req, res)) return drain();
  if (int status = faults_.TakeStorageError(); status != 0) {
    drain();
    return TusError(res, status, "simulated storage failure (telnyx-sim fault)");
  }
  if (req.get_header_value("Tus-Resumable") != "1.0.0") {
    drain();
    res.set_header("Tus-Version", "1.0.0");
    return TusError(res, 412, "Unsupported version");
  }
  if (req.get_header_value("Content-Type") != "application/offset+octet-stream") {
    drain();
    return TusError(res, 415, "Content-Type header required");
  }
  auto offset = ParseU64(req.get_header_value("Upload-Offset"));
  auto declared = ParseU64(req.get_header_value("Content-Length"));
  if (!offset || !declared) {
    drain();
    return TusError(res, 403, "Upload-Offset and Content-Length headers required");
  }
  auto upload = FindUpload(req, res);
  if (upload == nullptr) return drain();
  core::MutexLock lock(upload->mu);
  if (auto [status, reason] = PatchRefusal(*offset, *declared, upload->offset, upload->length,
                                           config_.storage_tus_chunk_bytes);
      status != 0) {
    drain();
    return TusError(res, status, reason);
  }
  int keep = faults_.TakeTusBreak();  // -1: no break
  uint64_t read = 0;
  reader([&](const char* data, size_t n) REQUIRES(upload->mu) {
    tus_received_ += n;
    size_t take = keep < 0 ? n : size_t(std::min<uint64_t>(n, uint64_t(keep) > read ? uint64_t(keep) - read : 0));
    upload->bytes.append(data, take);
    upload->offset += take;
    tus_stored_ += take;
    read += n;
    return true;
  });
  if (keep >= 0) {
    core::LogInfo("sim.fault.tus_break", {{"kept", std::min<uint64_t>(read, uint64_t(keep))}});
    return TusError(res, 503, "simulated broken upload (telnyx-sim fault)");
  }
  if (upload->offset == upload->length && !upload->bytes.empty()) {
    // Complete: the object exists now. The upload still answers HEAD with its full offset.
    std::string id;
    std::string bytes = std::move(upload->bytes);
    upload->bytes = std::string();
    if (!PutObject(upload->bucket + "/" + upload->object_name, std::move(bytes),
                   upload->content_type, upload->upsert, false, res, &id))
      return;
  }
  res.status = 204;
  res.set_header("Tus-Resumable", "1.0.0");
  res.set_header("Upload-Offset", std::to_string(upload->offset));
}

std::optional<std::string> SimStorage::GetObjectForTest(const std::string& bucket,
                                                        const std::string& path) {
  core::MutexLock lock(mu_);
  auto it = objects_.find(bucket + "/" + path);
  if (it == objects_.end()) return std::nullopt;
  return it->second->bytes;
}

size_t SimStorage::object_count() {
  core::MutexLock lock(mu_);
  return objects_.size();
}

}  // namespace callrec::telnyx_sim
