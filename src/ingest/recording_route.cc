#include "ingest/recording_route.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <memory>

#include "core/derived_keys.h"
#include "core/intake_id.h"
#include "core/json.h"
#include "core/log.h"
#include "ingest/http_util.h"

namespace callrec::ingest {
namespace {

struct ByteRange {
  uint64_t first = 0;
  uint64_t length = 0;
};
enum class RangeAsk { kWhole, kPart, kUnsatisfiable };

std::optional<uint64_t> ParseU64(std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// One "bytes=a-b" | "bytes=a-" | "bytes=-n" range of a `size`-byte file. A header we do not
// understand, or several ranges, is answered with the whole file (RFC 9110 §14.2 allows it).
RangeAsk ParseRange(std::string_view header, uint64_t size, ByteRange& out) {
  constexpr std::string_view kBytes = "bytes=";
  if (header.substr(0, kBytes.size()) != kBytes) return RangeAsk::kWhole;
  std::string_view spec = header.substr(kBytes.size());
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos || spec.find(',') != std::string_view::npos) return RangeAsk::kWhole;
  auto a = ParseU64(spec.substr(0, dash));
  auto b = ParseU64(spec.substr(dash + 1));
  if (!a) {  // suffix: the last b bytes
    if (!b) return RangeAsk::kWhole;
    if (*b == 0 || size == 0) return RangeAsk::kUnsatisfiable;
    out.length = std::min(*b, size);
    out.first = size - out.length;
    return RangeAsk::kPart;
  }
  if (b && *b < *a) return RangeAsk::kWhole;  // invalid: ignored
  if (*a >= size) return RangeAsk::kUnsatisfiable;
  uint64_t last = b ? std::min(*b, size - 1) : size - 1;
  out.first = *a;
  out.length = last - *a + 1;
  return RangeAsk::kPart;
}

std::string ContentTypeFor(std::string_view path) {
  auto ends = [&](std::string_view ext) {
    return path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext;
  };
  if (ends(".wav")) return "audio/wav";
  if (ends(".mp3")) return "audio/mpeg";
  return "application/octet-stream";
}

bool WantsJson(const httplib::Request& req) {
  return HeaderView(req, "Accept").find("application/json") != std::string_view::npos;
}

void Redirect(const httplib::Request& req, httplib::Response& res, const std::string& url,
              std::string_view source) {
  res.set_header("Cache-Control", "no-store");
  if (WantsJson(req)) {
    core::JsonWriter w;
    w.BeginObject().Key("location").String(url).Key("source").String(source).EndObject();
    return SetJson(res, 200, w.Take());
  }
  res.status = 302;
  res.set_header("Location", url);
}

// Why there is no audio, in words, from the intake's own fields.
std::string NoRecordingReason(simdjson::dom::element intake, const std::string& why_not_stored) {
  std::string_view state = core::JsonString(intake, "/state").value_or("");
  std::string out;
  if (state == "created") out = "no call has been answered for this intake yet";
  else if (state == "answered" || state == "recording")
    out = "the call is still in progress; the recording is available after it ends";
  else if (state == "ended") {
    out = "the call ended and its recording has not been found at Telnyx yet";
    if (auto next = core::JsonString(intake, "/next_attempt_at")) out += "; next query at " + std::string(*next);
  } else if (state == "failed") {
    out = "the intake failed (" + std::string(core::JsonString(intake, "/failure_reason").value_or("?")) + ")";
    if (auto e = core::JsonString(intake, "/last_error")) out += ": " + std::string(*e);
  } else if (core::JsonString(intake, "/metadata/recording_deleted_at")) {
    out = "the recording was deleted at Telnyx after it was copied, and the copy cannot be served";
  } else {
    out = "this intake has no recording";
  }
  if (!why_not_stored.empty()) out += " (" + why_not_stored + ")";
  return out;
}

}  // namespace

RecordingRoute::RecordingRoute(RecordingRouteOptions options, core::EventStore& store,
                               const IntakeRoutes& auth)
    : options_(std::move(options)), store_(store), auth_(auth) {}

bool RecordingRoute::ServeFile(const std::string& path, const httplib::Request& req,
                               httplib::Response& res, std::string& why) const {
  if (!options_.storage_dir.empty()) {
    std::error_code ec;
    std::string root = std::filesystem::weakly_canonical(options_.storage_dir, ec).string() + "/";
    std::string real = std::filesystem::weakly_canonical(path, ec).string();
    if (real.compare(0, root.size(), root) != 0) {
      why = "the stored copy " + path + " is outside --storage-dir";
      return false;
    }
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    why = "the stored copy " + path + " cannot be read: " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return false;
  }
  auto file = std::shared_ptr<int>(new int(fd), [](int* p) { ::close(*p); delete p; });
  uint64_t size = uint64_t(st.st_size);
  ByteRange range{0, size};
  RangeAsk ask = req.has_header("Range") ? ParseRange(HeaderView(req, "Range"), size, range)
                                         : RangeAsk::kWhole;
  res.set_header("Accept-Ranges", "bytes");
  res.set_header("Cache-Control", "private, no-store");
  if (ask == RangeAsk::kUnsatisfiable) {
    res.set_header("Content-Range", "bytes */" + std::to_string(size));
    SetJsonError(res, 416, "range not satisfiable: the recording has " + std::to_string(size) + " bytes");
    return true;
  }
  if (ask == RangeAsk::kPart) {
    res.status = 206;
    res.set_header("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                        std::to_string(range.first + range.length - 1) + "/" +
                                        std::to_string(size));
  } else {
    range = ByteRange{0, size};
    res.status = 200;
  }
  uint64_t first = range.first;
  res.set_content_provider(size_t(range.length), ContentTypeFor(path),
                           [file, first](size_t offset, size_t length, httplib::DataSink& sink) {
                             char buf[64 * 1024];
                             ssize_t n = ::pread(*file, buf, std::min(length, sizeof buf),
                                                 off_t(first + offset));
                             if (n <= 0) return false;  // the file shrank: abort the answer
                             return sink.write(buf, size_t(n));
                           });
  return true;
}

void RecordingRoute::Handle(const httplib::Request& req, httplib::Response& res) const {
  // Ranges are ours to apply: the library would slice the answer a second time.
  const_cast<httplib::Request&>(req).ranges.clear();
  if (!auth_.Authorized(req, res)) return;
  std::string id = req.matches[1];
  if (!core::IsValidIntakeId(id)) {
    return SetJsonError(res, 400, "intake ids are 1-64 characters of A-Z, a-z, 0-9, '_' and '-'", "id");
  }
  auto derived = store_.GetDerived(core::keys::IntakeKey(id));
  if (!derived.ok()) return SetJsonError(res, 503, "event store unavailable; retry later");
  if (!derived->has_value()) return SetJsonError(res, 404, "no intake with id " + id);
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, **derived);
  if (!root.ok()) return SetJsonError(res, 503, "the projected intake is not JSON; run `callrec replay --verify`");

  std::string why_not_stored;
  if (auto url = core::JsonString(*root, "/metadata/recording_url_storage")) {
    constexpr std::string_view kFile = "file://";
    std::string path(url->substr(0, kFile.size()) == kFile ? url->substr(kFile.size()) : "");
    std::string suffix = "/" + id + "/recording.";
    if (path.empty() || path.find(suffix) == std::string::npos) {
      why_not_stored = "the stored copy's location " + std::string(*url) + " is not one callrec writes";
    } else if (ServeFile(path, req, res, why_not_stored)) {
      return;
    }
    core::LogWarn("recording.stored_copy_unavailable", {{"id", id}, {"error", why_not_stored}});
  }
  if (auto url = core::JsonString(*root, "/metadata/recording_url_supabase"); url && !url->empty()) {
    return Redirect(req, res, std::string(*url), "supabase");
  }
  auto recording_id = core::JsonString(*root, "/metadata/recording_id");
  bool deleted = core::JsonString(*root, "/metadata/recording_deleted_at").has_value();
  if (recording_id && !deleted) {
    if (!options_.fresh_url) {
      return SetJsonError(res, 404, NoRecordingReason(*root, "no Telnyx client is configured"));
    }
    auto fresh = options_.fresh_url(id, std::string(*recording_id));
    if (fresh.ok()) return Redirect(req, res, *fresh, "telnyx");
    if (fresh.status().code() == core::StatusCode::kNotFound) {
      return SetJsonError(res, 404, "Telnyx no longer has recording " + std::string(*recording_id) +
                                        (why_not_stored.empty() ? "" : " (" + why_not_stored + ")"));
    }
    return SetJsonError(res, 502, "Telnyx gave no download URL for recording " +
                                      std::string(*recording_id) + ": " + fresh.status().message());
  }
  SetJsonError(res, 404, NoRecordingReason(*root, why_not_stored));
}

}  // namespace callrec::ingest
