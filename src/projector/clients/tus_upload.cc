#include "projector/clients/tus_upload.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include "core/json.h"
#include "core/log.h"
#include "projector/clients/recording_storage.h"

namespace callrec::projector {
namespace {

using core::Status;

constexpr const char* kTusVersion = "1.0.0";

std::optional<uint64_t> ParseOffset(const std::string& text) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

// The Location of a 201: absolute as Supabase sends it, or a path on the Supabase host.
std::string ResolveLocation(const std::string& supabase_url, const std::string& location) {
  if (location.starts_with("http://") || location.starts_with("https://")) return location;
  size_t scheme = supabase_url.find("://");
  size_t path = supabase_url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  std::string origin = path == std::string::npos ? supabase_url : supabase_url.substr(0, path);
  return origin + (location.starts_with("/") ? "" : "/") + location;
}

// A 404 or 410 from the upload URL: the upload is unknown or expired; only a new one helps.
Status Gone(std::string_view stage, const HttpResponse& res) {
  return Status::NotFound("supabase " + std::string(stage) + ": HTTP " +
                          std::to_string(res.status) + ", the upload is gone (" +
                          res.body.substr(0, 200) + ")");
}

}  // namespace

std::string TusMetadata(const TusObject& o) {
  return "bucketName " + core::Base64Encode(o.bucket) + ",objectName " +
         core::Base64Encode(o.object_name) + ",contentType " + core::Base64Encode(o.content_type) +
         ",cacheControl " + core::Base64Encode(o.cache_control);
}

TusClient::TusClient(HttpTransport& transport, RequestFactory request, uint64_t chunk_bytes,
                     int max_failures)
    : transport_(transport),
      request_(std::move(request)),
      chunk_bytes_(std::max<uint64_t>(chunk_bytes, 1)),
      max_failures_(std::max(max_failures, 1)) {}

core::Result<std::string> TusClient::Create(const std::string& supabase_url,
                                            const TusObject& object, uint64_t length) const {
  HttpRequest req = request_("POST", supabase_url + "/storage/v1/upload/resumable");
  req.headers.emplace_back("tus-resumable", kTusVersion);
  req.headers.emplace_back("upload-length", std::to_string(length));
  req.headers.emplace_back("upload-metadata", TusMetadata(object));
  if (object.upsert) req.headers.emplace_back("x-upsert", "true");
  auto sent = transport_.Send(req);
  CALLREC_RETURN_IF_ERROR(SupabaseAnswer("resumable upload", sent));
  std::string location = sent->Header("location");
  if (location.empty())
    return Status::Unavailable("supabase resumable upload: HTTP " + std::to_string(sent->status) +
                               " without a Location");
  return ResolveLocation(supabase_url, location);
}

core::Result<uint64_t> TusClient::Offset(const std::string& location) const {
  HttpRequest req = request_("HEAD", location);
  req.headers.emplace_back("tus-resumable", kTusVersion);
  auto sent = transport_.Send(req);
  if (sent.ok() && (sent->status == 404 || sent->status == 410))
    return Gone("resumable upload offset", *sent);
  CALLREC_RETURN_IF_ERROR(SupabaseAnswer("resumable upload offset", sent));
  auto offset = ParseOffset(sent->Header("upload-offset"));
  if (!offset) return Status::Unavailable("supabase resumable upload offset: no Upload-Offset");
  return *offset;
}

core::Status TusClient::Send(const std::string& location, const std::string& path,
                             uint64_t length, uint64_t offset, TusProgress* progress) const {
  TusProgress unused;
  TusProgress& p = progress != nullptr ? *progress : unused;
  int failures = 0;  // in a row, without progress
  bool resync = false;
  Status last;
  auto fail = [&](Status why) {
    last = std::move(why);
    resync = true;
    return ++failures >= max_failures_;
  };
  while (true) {
    if (resync) {
      auto at = Offset(location);
      if (!at.ok()) {
        if (!at.status().IsUnavailable() || fail(at.status())) return at.status();
        continue;
      }
      if (*at > length)
        return Status::FailedPrecondition("supabase resumable upload: the server holds " +
                                          std::to_string(*at) + " bytes of " +
                                          std::to_string(length));
      ++p.resumes;
      core::LogInfo("storage.tus_resume",
                    {{"offset", *at}, {"length", length}, {"after", last.message()}});
      if (*at > offset) failures = 0;  // the broken request delivered something: progress
      offset = *at;
      resync = false;
    }
    if (offset >= length) return Status::Ok();
    const uint64_t n = std::min(chunk_bytes_, length - offset);
    HttpRequest req = request_("PATCH", location);
    req.headers.emplace_back("tus-resumable", kTusVersion);
    req.headers.emplace_back("upload-offset", std::to_string(offset));
    req.headers.emplace_back("content-type", "application/offset+octet-stream");
    req.body_from_file = path;
    req.body_from_file_offset = offset;
    req.body_from_file_length = n;
    auto sent = transport_.Send(req);
    ++p.patches;
    p.bytes_sent += n;
    if (sent.ok()) p.status = sent->status;
    if (sent.ok() && sent->status >= 200 && sent->status < 300) {
      auto now = ParseOffset(sent->Header("upload-offset"));
      if (now && *now > offset && *now <= length) {
        offset = *now;
        failures = 0;
        continue;
      }
      if (fail(Status::Unavailable("supabase resumable upload: PATCH answered without progress")))
        return last;
      continue;
    }
    if (sent.ok() && (sent->status == 404 || sent->status == 410))
      return Gone("resumable upload", *sent);
    // 409: our offset is not the server's (an earlier PATCH landed after all): ask, go on.
    Status st = sent.ok() && sent->status == 409
                    ? Status::Unavailable("supabase resumable upload: HTTP 409 offset conflict")
                    : SupabaseAnswer("resumable upload", sent);
    if (!st.IsUnavailable()) return st;
    if (fail(std::move(st)))
      return Status::Unavailable(last.message() + " (" + std::to_string(failures) +
                                 " failures in a row at offset " + std::to_string(offset) + ")");
  }
}

}  // namespace callrec::projector
