#include "projector/clients/media.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

namespace callrec::projector {
namespace {

using core::Status;

// An open read-only file; closes itself.
class File {
 public:
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Open(const std::string& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd_ < 0 || ::fstat(fd_, &st) != 0) return Error("cannot open");
    if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + " is not a regular file");
    size_ = uint64_t(st.st_size);
    return Status::Ok();
  }
  // Reads exactly n bytes at `offset`; false at end of file.
  bool ReadAt(uint64_t offset, void* out, size_t n) const {
    if (offset > size_ || size_ - offset < n) return false;
    auto* p = static_cast<char*>(out);
    while (n > 0) {
      ssize_t r = ::pread(fd_, p, n, off_t(offset));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      p += r;
      n -= size_t(r);
      offset += uint64_t(r);
    }
    return true;
  }
  Status Error(const char* what) const {
    std::string msg = std::string(what) + " " + path_ + ": " + std::strerror(errno);
    return errno == ENOENT ? Status::NotFound(msg) : Status::FailedPrecondition(msg);
  }
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

uint32_t Le32(const unsigned char* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
uint16_t Le16(const unsigned char* p) { return uint16_t(p[0] | p[1] << 8); }

Status Bad(const std::string& path, const std::string& why) {
  return Status::InvalidArgument(path + ": " + why);
}

// Names what a non-audio file most likely is, for the error message.
std::string Looks(const unsigned char* head, size_t n) {
  size_t i = 0;
  while (i < n && (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t')) ++i;
  if (i < n && head[i] == '<') return " (looks like an HTML/XML page: an error response?)";
  if (i < n && (head[i] == '{' || head[i] == '[')) return " (looks like JSON: an error response?)";
  return "";
}

// RIFF/WAVE: "RIFF" size "WAVE", then chunks (id, le32 size, data, pad to even); a "fmt " chunk
// of at least 16 bytes must come before "data", with audio after it. How exact a real WAV's size
// fields are is not documented (a recorder that streams writes 0xFFFFFFFF, or the size it meant
// to write), so the RIFF size and the data chunk's size may disagree with the bytes received:
// accepted, and the discrepancy returned (it goes into the storage.upload event). Any other chunk
// running past the end, or no audio at all, is refused: that is not a recording.
core::Result<std::string> CheckWav(const File& f, const std::string& path) {
  unsigned char h[12];
  if (f.size() < kMinWavBytes || !f.ReadAt(0, h, sizeof h))
    return Bad(path, "too small for a WAV file: " + std::to_string(f.size()) + " bytes");
  if (std::memcmp(h, "RIFF", 4) != 0 || std::memcmp(h + 8, "WAVE", 4) != 0)
    return Bad(path, "not a RIFF/WAVE file" + Looks(h, sizeof h));
  std::string note;
  uint64_t declared = uint64_t(Le32(h + 4)) + 8;
  if (declared != f.size()) {
    note = "RIFF size field says " + std::to_string(declared) + " bytes, " +
           std::to_string(f.size()) + " received";
  }
  bool have_fmt = false;
  for (uint64_t off = 12; off + 8 <= f.size();) {
    unsigned char c[8];
    if (!f.ReadAt(off, c, 8)) return f.Error("cannot read");
    uint64_t size = Le32(c + 4);
    if (off + 8 + size > f.size() && std::memcmp(c, "data", 4) == 0 && have_fmt) {
      uint64_t received = f.size() - off - 8;
      if (received == 0) return Bad(path, "truncated: no audio after the data chunk header");
      if (!note.empty()) note += "; ";
      note += "data chunk size field says " + std::to_string(size) + " bytes, " +
              std::to_string(received) + " received";
      return note;
    }
    if (off + 8 + size > f.size())
      return Bad(path, "truncated: chunk \"" + std::string(reinterpret_cast<char*>(c), 4) +
                           "\" runs past the end of the file");
    if (std::memcmp(c, "fmt ", 4) == 0) {
      unsigned char fmt[16];
      if (size < 16 || !f.ReadAt(off + 8, fmt, 16)) return Bad(path, "fmt chunk too short");
      uint16_t channels = Le16(fmt + 2);
      uint32_t rate = Le32(fmt + 4);
      uint16_t bits = Le16(fmt + 14);
      if (channels == 0 || rate == 0 || bits == 0)
        return Bad(path, "fmt chunk has zero channels, sample rate or sample size");
      have_fmt = true;
    } else if (std::memcmp(c, "data", 4) == 0) {
      if (!have_fmt) return Bad(path, "data chunk before any fmt chunk");
      if (size == 0) return Bad(path, "truncated: an empty data chunk");
      return note;  // later chunks (LIST metadata) do not matter
    }
    off += 8 + size + (size & 1);
  }
  return Bad(path, have_fmt ? "no data chunk" : "no fmt chunk");
}

// An MPEG audio frame header: 11 sync bits, then no reserved version, layer, bitrate or rate.
bool IsMpegFrameHeader(const unsigned char* b) {
  return b[0] == 0xFF && (b[1] & 0xE0) == 0xE0 && ((b[1] >> 3) & 3) != 1 &&
         ((b[1] >> 1) & 3) != 0 && (b[2] >> 4) != 15 && ((b[2] >> 2) & 3) != 3;
}

// MP3: an optional ID3v2 tag ("ID3", version, flags, 4 syncsafe size bytes), then a frame.
Status CheckMp3(const File& f, const std::string& path) {
  unsigned char h[10];
  if (f.size() < kMinMp3Bytes || !f.ReadAt(0, h, sizeof h))
    return Bad(path, "too small for an MP3 file: " + std::to_string(f.size()) + " bytes");
  uint64_t audio = 0;
  if (std::memcmp(h, "ID3", 3) == 0) {
    if (h[3] < 2 || h[3] > 4 || (h[6] | h[7] | h[8] | h[9]) & 0x80)
      return Bad(path, "malformed ID3v2 tag header");
    uint64_t tag = uint64_t(h[6]) << 21 | uint64_t(h[7]) << 14 | uint64_t(h[8]) << 7 | h[9];
    audio = 10 + tag + ((h[5] & 0x10) ? 10 : 0);  // flag 0x10: a 10-byte footer follows
    if (audio + 4 > f.size()) return Bad(path, "truncated: ID3 tag with no audio after it");
  }
  // Some encoders pad after the tag with zeros not counted in its size; skip a little of it.
  unsigned char b[4];
  for (uint64_t end = audio + 4096; audio + 4 <= f.size() && audio < end; ++audio) {
    if (!f.ReadAt(audio, b, 4)) return f.Error("cannot read");
    if (b[0] != 0) break;
  }
  if (audio + 4 > f.size() || !IsMpegFrameHeader(b))
    return Bad(path, "no MPEG audio frame where the audio should start" + Looks(h, sizeof h));
  return Status::Ok();
}

core::Result<MediaInfo> HashOpenFile(const File& f) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return Status::Internal("EVP sha256 init failed");
  std::vector<unsigned char> buf(64 << 10);
  MediaInfo info;
  for (uint64_t off = 0;;) {
    ssize_t r = ::pread(f.fd(), buf.data(), buf.size(), off_t(off));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return f.Error("cannot read");
    if (r == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), size_t(r));
    off += uint64_t(r);
    info.bytes = off;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), md, &len) != 1) return Status::Internal("EVP final failed");
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned i = 0; i < len; ++i) {
    info.sha256.push_back(kHex[md[i] >> 4]);
    info.sha256.push_back(kHex[md[i] & 15]);
  }
  return info;
}

}  // namespace

const char* MediaFormatName(MediaFormat format) {
  return format == MediaFormat::kMp3 ? "mp3" : "wav";
}

core::Result<MediaFormat> ParseMediaFormat(std::string_view name) {
  if (name == "wav") return MediaFormat::kWav;
  if (name == "mp3") return MediaFormat::kMp3;
  return Status::InvalidArgument("media format must be wav or mp3, not \"" + std::string(name) +
                                 "\"");
}

const char* DownloadOutcomeName(DownloadOutcome outcome) {
  switch (outcome) {
    case DownloadOutcome::kOk: return "ok";
    case DownloadOutcome::kUrlExpired: return "url_expired";
    case DownloadOutcome::kTransient: return "transient";
    case DownloadOutcome::kFailed: return "failed";
  }
  return "failed";
}

DownloadResult DownloadMedia(HttpTransport& transport, const std::string& url,
                             const std::string& temp_path, const DownloadOptions& options) {
  HttpRequest req;
  req.method = "GET";
  req.url = url;
  req.body_to_file = temp_path;
  req.follow_redirects = true;  // object storage may redirect; presigned URLs carry no header
  req.connect_timeout = options.connect_timeout;
  req.total_timeout = options.total_timeout;
  DownloadResult d;
  auto sent = transport.Send(req);
  if (!sent.ok()) {
    d.outcome =
        sent.status().IsUnavailable() ? DownloadOutcome::kTransient : DownloadOutcome::kFailed;
    d.error = sent.status().message();
    return d;
  }
  d.status = sent->status;
  d.duration = sent->duration;
  d.bytes = sent->body_bytes;
  int s = d.status;
  if (s >= 200 && s < 300) {
    d.outcome = DownloadOutcome::kOk;
    return d;
  }
  d.bytes = 0;  // the file holds nothing: an error body never goes there
  if (s == 403) {
    d.outcome = DownloadOutcome::kUrlExpired;
  } else if (s == 408 || s == 429 || s >= 500) {
    d.outcome = DownloadOutcome::kTransient;
  } else {
    d.outcome = DownloadOutcome::kFailed;
  }
  // Enough of S3's XML error (<Code>, <Message>) to tell an expiry from a denial, on one line.
  std::string excerpt = sent->body.substr(0, 300);
  for (char& c : excerpt)
    if (c == '\n' || c == '\r') c = ' ';
  d.error = "HTTP " + std::to_string(s) + (excerpt.empty() ? "" : ": " + excerpt);
  return d;
}

core::Result<MediaInfo> VerifyMedia(const std::string& path, MediaFormat format) {
  File f;
  CALLREC_RETURN_IF_ERROR(f.Open(path));
  std::string note;
  if (format == MediaFormat::kWav) {
    CALLREC_ASSIGN_OR_RETURN(note, CheckWav(f, path));
  } else {
    CALLREC_RETURN_IF_ERROR(CheckMp3(f, path));
  }
  CALLREC_ASSIGN_OR_RETURN(MediaInfo info, HashOpenFile(f));
  info.note = std::move(note);
  return info;
}

core::Result<MediaInfo> HashFile(const std::string& path) {
  File f;
  CALLREC_RETURN_IF_ERROR(f.Open(path));
  return HashOpenFile(f);
}

}  // namespace callrec::projector
