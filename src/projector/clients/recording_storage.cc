#include "projector/clients/recording_storage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/intake_id.h"
#include "core/json.h"
#include "core/log.h"
#include "projector/clients/media.h"

namespace callrec::projector {
namespace {

using core::Status;
namespace fs = std::filesystem;

Status ValidateExt(std::string_view ext) {
  if (ext == "wav" || ext == "mp3") return Status::Ok();
  return Status::InvalidArgument("recording extension must be wav or mp3, not \"" +
                                 std::string(ext) + "\"");
}

Status Errno(const std::string& what) {
  return Status::FailedPrecondition(what + ": " + std::strerror(errno));
}

// Creates each missing directory of `dir` with mode 0700; existing ones are left as they are.
Status MakeDirs(const fs::path& dir) {
  fs::path cur;
  for (const fs::path& part : dir) {
    cur /= part;
    if (::mkdir(cur.c_str(), 0700) == 0) continue;
    if (errno != EEXIST) return Errno("cannot create directory " + cur.string());
    struct stat st {};
    if (::stat(cur.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Status::FailedPrecondition(cur.string() + " exists and is not a directory");
  }
  return Status::Ok();
}

// Copies `from` into a new file `to` (0600) and fsyncs it.
Status CopyDurably(const std::string& from, const std::string& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    return errno == ENOENT ? Status::NotFound("no such file " + from)
                           : Errno("cannot open " + from);
  }
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    Status s = Errno("cannot create " + to);
    ::close(in);
    return s;
  }
  Status result;
  std::vector<char> buf(64 << 10);
  for (;;) {
    ssize_t r = ::read(in, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      result = Errno("cannot read " + from);
      break;
    }
    if (r == 0) break;
    for (ssize_t done = 0; done < r && result.ok();) {
      ssize_t w = ::write(out, buf.data() + done, size_t(r - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0)
        result = Errno("cannot write " + to);
      else
        done += w;
    }
    if (!result.ok()) break;
  }
  if (result.ok() && ::fsync(out) != 0) result = Errno("cannot fsync " + to);
  if (::close(out) != 0 && result.ok()) result = Errno("cannot close " + to);
  ::close(in);
  return result;
}

Status FsyncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open directory " + dir.string());
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : Errno("cannot fsync directory " + dir.string());
}

std::string FileUrl(const fs::path& abs) {
  std::string url = "file://";
  for (const fs::path& part : abs.relative_path()) url += "/" + PercentEncode(part.string());
  return url;
}

// Says whose fault a mismatch is: the caller's file, or the copy.
Status Mismatch(const std::string& local_path, std::string_view expected, const std::string& got,
                std::string_view where) {
  auto source = HashFile(local_path);
  if (source.ok() && source->sha256 != expected)
    return Status::InvalidArgument(local_path + " is not the verified file: sha256 " +
                                   source->sha256 + ", expected " + std::string(expected));
  return Status::Unavailable(std::string(where) + " copy has sha256 " + got + ", expected " +
                             std::string(expected));
}

}  // namespace

Status ValidateIntakeIdForStorage(std::string_view id) {
  // Old stores may hold ids of up to 64 characters; their copies are still stored.
  if (core::IsStoredIntakeId(id)) return Status::Ok();
  return Status::InvalidArgument("intake id must be 1-64 of [A-Za-z0-9_-]");
}

core::Result<StoredCopy> FsStorage::Store(std::string_view intake_id, const std::string& local_path,
                                          std::string_view ext, std::string_view expected_sha256) {
  CALLREC_RETURN_IF_ERROR(ValidateIntakeIdForStorage(intake_id));
  CALLREC_RETURN_IF_ERROR(ValidateExt(ext));
  std::error_code ec;
  fs::path base = fs::absolute(dir_, ec);
  if (ec) return Status::FailedPrecondition("cannot resolve " + dir_ + ": " + ec.message());
  fs::path dir = (base / std::string(intake_id)).lexically_normal();
  fs::path final_path = dir / ("recording." + std::string(ext));
  CALLREC_RETURN_IF_ERROR(MakeDirs(dir));

  // Phase 1: a private temp copy, durable before it can take the final name.
  static std::atomic<uint64_t> counter{0};
  std::string temp = final_path.string() + ".tmp." + std::to_string(::getpid()) + "." +
                     std::to_string(counter.fetch_add(1));
  Status st = CopyDurably(local_path, temp);
  // Phase 2: read the copy back; a copy that does not hash right never becomes the recording.
  core::Result<MediaInfo> copy = st.ok() ? HashFile(temp) : core::Result<MediaInfo>(st);
  if (copy.ok() && !expected_sha256.empty() && copy->sha256 != expected_sha256)
    st = Mismatch(local_path, expected_sha256, copy->sha256, "the written");
  else if (!copy.ok())
    st = copy.status();
  // Phase 3: rename into place (replacing an earlier copy), then make the rename durable.
  if (st.ok() && ::rename(temp.c_str(), final_path.c_str()) != 0)
    st = Errno("cannot rename into " + final_path.string());
  if (!st.ok()) {
    ::unlink(temp.c_str());
    return st;
  }
  CALLREC_RETURN_IF_ERROR(FsyncDir(dir));
  StoredCopy out;
  out.location = FileUrl(final_path);
  out.bytes = copy->bytes;
  out.sha256 = copy->sha256;
  core::LogInfo("storage.stored", {{"storage", "fs"},
                                   {"intake_id", std::string(intake_id)},
                                   {"location", out.location},
                                   {"bytes", out.bytes}});
  return out;
}

namespace {

constexpr std::string_view kTooLarge = "supabase upload: too large: ";

// Supabase Storage's error body {"statusCode":"413","error","message"}: the statusCode as a
// number, or 0 when the body is not one.
int SupabaseStatusCode(const std::string& body) {
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, body);
  if (!root.ok()) return 0;
  if (auto text = core::JsonString(*root, "/statusCode")) {
    int code = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), code);
    return ec == std::errc() && end == text->data() + text->size() ? code : 0;
  }
  return int(core::JsonInt(*root, "/statusCode").value_or(0));
}

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

// Supabase answers its errors as HTTP 400 with the real code in the body's statusCode.
Status SupabaseAnswer(std::string_view stage, const core::Result<HttpResponse>& sent) {
  std::string what = "supabase " + std::string(stage);
  if (!sent.ok()) return Status(sent.status().code(), what + ": " + sent.status().message());
  int s = sent->status;
  if (s >= 200 && s < 300) return Status::Ok();
  int code = s;
  if (s == 400) {
    if (int inner = SupabaseStatusCode(sent->body); inner >= 400 && inner <= 599) code = inner;
  }
  std::string msg = what + ": HTTP " + std::to_string(s);
  if (code != s) msg += " (statusCode " + std::to_string(code) + ")";
  if (!sent->body.empty()) msg += ": " + sent->body.substr(0, 500);
  if (code == 413 && stage.ends_with("upload"))
    return Status::InvalidArgument(std::string(kTooLarge) + msg + " (over the project's upload size limit)");
  if (code == 408 || code == 429 || code >= 500) return Status::Unavailable(std::move(msg));
  return Status::FailedPrecondition(std::move(msg));
}

bool IsTooLarge(const core::Status& status) {
  return status.code() == core::StatusCode::kInvalidArgument &&
         std::string_view(status.message()).starts_with(kTooLarge);
}

bool IsJwt(std::string_view key) {
  int dots = 0;
  size_t segment = 0;
  for (char c : key) {
    if (c == '.') {
      if (segment == 0) return false;
      ++dots;
      segment = 0;
      continue;
    }
    bool b64url = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '=';
    if (!b64url) return false;
    ++segment;
  }
  return dots == 2 && segment > 0;
}

SupabaseStorage::SupabaseStorage(HttpTransport& transport, core::Clock& clock,
                                 std::string supabase_url, std::string bucket,
                                 std::string service_role_key, Options options)
    : transport_(transport),
      clock_(clock),
      url_(TrimSlash(std::move(supabase_url))),
      bucket_(bucket.empty() ? std::string(kDefaultSupabaseBucket) : std::move(bucket)),
      key_(std::move(service_role_key)),
      options_(options) {}

HttpRequest SupabaseStorage::Request(std::string method, std::string url) const {
  HttpRequest req;
  req.method = std::move(method);
  req.url = std::move(url);
  // A service_role JWT in both; a new sb_secret_ key (not a JWT) in apikey only: Supabase
  // refuses a non-JWT Bearer ("Invalid Compact JWS").
  if (IsJwt(key_)) req.headers.emplace_back("authorization", "Bearer " + key_);
  req.headers.emplace_back("apikey", key_);
  req.connect_timeout = options_.connect_timeout;
  req.total_timeout = options_.total_timeout;
  return req;
}

core::Result<StoredCopy> SupabaseStorage::Store(std::string_view intake_id,
                                                const std::string& local_path, std::string_view ext,
                                                std::string_view expected_sha256) {
  CALLREC_RETURN_IF_ERROR(ValidateIntakeIdForStorage(intake_id));
  CALLREC_RETURN_IF_ERROR(ValidateExt(ext));
  CALLREC_ASSIGN_OR_RETURN(MediaInfo local, HashFile(local_path));
  if (!expected_sha256.empty() && local.sha256 != expected_sha256)
    return Status::InvalidArgument(local_path + " is not the verified file: sha256 " +
                                   local.sha256 + ", expected " + std::string(expected_sha256));
  const std::string path = std::string(intake_id) + "/recording." + std::string(ext);
  const std::string bucket = PercentEncode(bucket_);
  const std::string content_type = ext == "mp3" ? "audio/mpeg" : "audio/wav";

  auto start = clock_.SteadyNow();
  StoredCopy out;
  out.location = url_ + "/storage/v1/object/" + bucket + "/" + path;
  bool resumable = local.bytes > options_.tus_threshold_bytes;
  CALLREC_RETURN_IF_ERROR(Upload(intake_id, {.bucket = bucket_, .object_name = path,
                                             .content_type = content_type},
                                 local_path, local.bytes, local.sha256, out, resumable));
  CALLREC_RETURN_IF_ERROR(
      VerifyStored(url_ + "/storage/v1/object/authenticated/" + bucket + "/" + path, local_path,
                   local.bytes, local.sha256));

  out.public_url = url_ + "/storage/v1/object/public/" + bucket + "/" + path;
  out.bytes = local.bytes;
  out.sha256 = local.sha256;
  out.duration = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.SteadyNow() - start);
  core::LogInfo("storage.stored", {{"storage", "supabase"},
                                   {"intake_id", std::string(intake_id)},
                                   {"location", out.location},
                                   {"bytes", out.bytes},
                                   {"resumable", resumable}});
  return out;
}

// Up to the threshold one POST; above it, or when that POST is too large, the TUS upload.
Status SupabaseStorage::Upload(std::string_view intake_id, const TusObject& object,
                               const std::string& local_path, uint64_t bytes,
                               const std::string& sha256, StoredCopy& out, bool& resumable) {
  Status too_large;
  if (!resumable) {
    HttpRequest up = Request("POST", out.location);
    up.headers.emplace_back("content-type", object.content_type);
    up.headers.emplace_back("x-upsert", "true");  // a retry after a lost answer overwrites
    up.body_from_file = local_path;
    auto sent = transport_.Send(up);
    Status st = SupabaseAnswer("upload", sent);
    if (!IsTooLarge(st)) {
      if (st.ok()) {
        out.status = sent->status;
        out.response_body = sent->body;
      }
      return st;
    }
    // Over the single-request limit: the resumable upload may still take it.
    core::LogInfo("storage.tus_fallback", {{"intake_id", std::string(intake_id)},
                                           {"bytes", bytes}, {"error", st.message()}});
    resumable = true;
    too_large = st;
  }
  TusProgress progress;
  Status st = UploadResumable(object, local_path, bytes, sha256, &progress);
  // After a refused single POST, a resumable upload that cannot work either keeps "too large".
  if (!st.ok() && !too_large.ok() && !st.IsUnavailable())
    return Status::InvalidArgument(too_large.message() + "; the resumable upload failed too: " +
                                   st.message());
  CALLREC_RETURN_IF_ERROR(st);
  out.status = progress.status;
  core::LogInfo("storage.tus_uploaded", {{"intake_id", std::string(intake_id)},
                                         {"bytes", bytes},
                                         {"patches", progress.patches},
                                         {"resumes", progress.resumes},
                                         {"bytes_sent", progress.bytes_sent}});
  return Status::Ok();
}

Status SupabaseStorage::UploadResumable(const TusObject& object, const std::string& local_path,
                                        uint64_t bytes, const std::string& sha256,
                                        TusProgress* progress) {
  TusClient tus(
      transport_, [this](std::string method, std::string url) { return Request(method, url); },
      options_.tus_chunk_bytes);
  const std::string key = object.bucket + "/" + object.object_name;
  std::string location;
  {
    // An upload of these very bytes that an earlier attempt left unfinished is resumed.
    core::MutexLock lock(pending_mu_);
    auto it = pending_.find(key);
    if (it != pending_.end() && it->second.first == sha256) location = it->second.second;
    if (it != pending_.end()) pending_.erase(it);
  }
  uint64_t offset = 0;
  auto keep = [&](const Status& st) {
    if (!st.IsUnavailable() || location.empty()) return;
    core::MutexLock lock(pending_mu_);
    pending_[key] = {sha256, location};
  };
  if (!location.empty()) {
    auto at = tus.Offset(location);
    if (at.ok()) offset = *at;
    else if (at.status().IsNotFound()) location.clear();  // expired: a new upload
    else {
      keep(at.status());
      return at.status();
    }
  }
  for (int round = 0; round < 2; ++round) {
    if (location.empty()) {
      CALLREC_ASSIGN_OR_RETURN(location, tus.Create(url_, object, bytes));
      offset = 0;
    }
    Status st = tus.Send(location, local_path, bytes, offset, progress);
    if (!st.IsNotFound()) {
      keep(st);
      return st;
    }
    core::LogWarn("storage.tus_restart", {{"object", key}, {"error", st.message()}});
    location.clear();  // gone or expired mid-way: one new upload, from zero
  }
  return Status::Unavailable("supabase resumable upload: the upload disappeared twice");
}

Status SupabaseStorage::VerifyStored(const std::string& object_url, const std::string& local_path,
                                     uint64_t bytes, const std::string& sha256) {
  std::string length;
  if (!options_.verify_sha256) {
    auto head = transport_.Send(Request("HEAD", object_url));
    CALLREC_RETURN_IF_ERROR(SupabaseAnswer("verify", head));
    length = head->Header("content-length");
  }
  if (!length.empty()) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
    if (ec == std::errc() && end == length.data() + length.size() && n == bytes)
      return Status::Ok();
    return Status::Unavailable("supabase verify: stored object has " + length +
                               " bytes, uploaded " + std::to_string(bytes));
  }
  // Asked for, or the HEAD gave no size: fetch the object back and compare hashes.
  HttpRequest get = Request("GET", object_url);
  get.body_to_file = local_path + ".verify";
  auto fetched = transport_.Send(get);
  Status st = SupabaseAnswer("verify", fetched);
  if (st.ok()) {
    auto stored = HashFile(get.body_to_file);
    if (!stored.ok())
      st = stored.status();
    else if (stored->sha256 != sha256)
      st = Status::Unavailable("supabase verify: stored object has sha256 " + stored->sha256 +
                               ", uploaded " + sha256);
  }
  ::unlink(get.body_to_file.c_str());
  return st;
}

}  // namespace callrec::projector
