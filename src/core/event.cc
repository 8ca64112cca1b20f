#include "core/event.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "core/json.h"
#include "core/time_format.h"

namespace callrec::core {
namespace {

// Table-driven CRC32C, computed once at first use.
const std::array<uint32_t, 256>& CrcTable() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

void PutFixed32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(char((v >> (8 * i)) & 0xFF));
}
void PutFixed64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(char((v >> (8 * i)) & 0xFF));
}
void PutVarint32(std::string& out, uint32_t v) {
  while (v >= 0x80) {
    out.push_back(char(v | 0x80));
    v >>= 7;
  }
  out.push_back(char(v));
}
void PutString(std::string& out, std::string_view s) {
  PutVarint32(out, uint32_t(s.size()));
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Fixed32(uint32_t& v) {
    if (in_.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(in_[i])) << (8 * i);
    in_.remove_prefix(4);
    return true;
  }
  bool Fixed64(uint64_t& v) {
    if (in_.size() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t(uint8_t(in_[i])) << (8 * i);
    in_.remove_prefix(8);
    return true;
  }
  bool Varint32(uint32_t& v) {
    v = 0;
    for (int shift = 0; shift <= 28 && !in_.empty(); shift += 7) {
      uint8_t b = uint8_t(in_[0]);
      in_.remove_prefix(1);
      v |= uint32_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool String(std::string& s) {
    uint32_t n;
    if (!Varint32(n) || in_.size() < n) return false;
    s.assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool empty() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

uint32_t Crc32cPortable(std::string_view data) {
  const auto& table = CrcTable();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

#if defined(__x86_64__)
namespace {
// SSE 4.2's crc32 instruction computes CRC32C: 8 bytes per instruction instead of one table
// step per byte. Checking every record's CRC was a tenth of `callrec replay`'s time with the table.
__attribute__((target("sse4.2"))) uint32_t Crc32cSse42(std::string_view data) {
  const char* p = data.data();
  size_t n = data.size();
  uint64_t c = 0xFFFFFFFFu;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
  }
  uint32_t c32 = uint32_t(c);
  for (; n > 0; ++p, --n) c32 = _mm_crc32_u8(c32, uint8_t(*p));
  return c32 ^ 0xFFFFFFFFu;
}
}  // namespace
#endif

uint32_t Crc32c(std::string_view data) {
#if defined(__x86_64__)
  static const bool kHasSse42 = __builtin_cpu_supports("sse4.2");
  if (kHasSse42) return Crc32cSse42(data);
#endif
  return Crc32cPortable(data);
}

static constexpr uint32_t kMaskDelta = 0xa282ead8u;
uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
uint32_t UnmaskCrc(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

Status CheckIntakeIds(const std::vector<Event>& events) {
  for (const Event& e : events)
    if (e.intake_id.size() > kMaxIntakeIdBytes) return Status::InvalidArgument("intake id longer than 255 bytes");
  return Status::Ok();
}

std::string EncodeEventRecord(const Event& event) {
  std::string body;
  body.reserve(64 + event.type.size() + event.source.size() + event.intake_id.size() +
               event.idempotency_key.size() + event.payload.size());
  PutFixed64(body, event.seq);
  PutFixed64(body, uint64_t(event.recorded_at_ms));
  PutString(body, event.type);
  PutString(body, event.source);
  PutString(body, event.intake_id);
  PutString(body, event.idempotency_key);
  PutString(body, event.payload);
  std::string record;
  record.reserve(5 + body.size());
  record.push_back(char(kEventRecordVersion));
  PutFixed32(record, MaskCrc(Crc32c(body)));
  record += body;
  return record;
}

Result<Event> DecodeEventRecord(std::string_view record) {
  if (record.size() < 5) return Status::Corruption("event record truncated");
  if (uint8_t(record[0]) != kEventRecordVersion)
    return Status::Corruption("unknown event record version " + std::to_string(uint8_t(record[0])));
  Reader header(record.substr(1, 4));
  uint32_t masked = 0;
  (void)header.Fixed32(masked);
  std::string_view body = record.substr(5);
  if (UnmaskCrc(masked) != Crc32c(body)) return Status::Corruption("event record checksum mismatch");
  Reader r(body);
  Event e;
  uint64_t recorded = 0;
  if (!r.Fixed64(e.seq) || !r.Fixed64(recorded) || !r.String(e.type) || !r.String(e.source) ||
      !r.String(e.intake_id) || !r.String(e.idempotency_key) || !r.String(e.payload) || !r.empty())
    return Status::Corruption("event record malformed");
  e.recorded_at_ms = int64_t(recorded);
  return e;
}

std::string EventToJson(const Event& event) {
  JsonWriter w;
  w.BeginObject();
  w.Key("seq").Uint(event.seq);
  w.Key("type").String(event.type);
  w.Key("intake_id").String(event.intake_id);
  w.Key("recorded_at").String(FormatRfc3339Millis(event.recorded_at_ms));
  w.Key("source").String(event.source);
  w.Key("payload").Payload(event.payload);
  w.EndObject();
  return w.Take();
}

}  // namespace callrec::core
