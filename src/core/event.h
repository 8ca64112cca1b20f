// event.h — the immutable fact everything in callrec is derived from.
//
// An Event is appended once to the EventStore and never changed. `payload` holds bytes exactly
// as received (a webhook body, an API response envelope); nothing below ever re-serialises it.
//
// On disk an event is one record (see EncodeEventRecord):
//
//   record      := version:u8 crc:fixed32 body
//   version     := 0x01                      (never renumbered; a new layout takes a new value)
//   crc         := masked CRC32C of body      (LevelDB's mask, so CRCs of CRCs stay distinct)
//   body        := seq:fixed64 recorded_at:fixed64 type:str source:str intake_id:str
//                  idempotency_key:str payload:str
//   str         := length:varint32 bytes
//   fixedN      := little-endian N bits; recorded_at is signed Unix milliseconds (UTC)
//
// Thread-safety: a value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace callrec::core {

// Where an event came from (docs/ARCHITECTURE.md "Event catalogue"). Stored as text, so new sources need no migration.
namespace source {
inline constexpr std::string_view kTelnyxWebhook = "telnyx.webhook";
inline constexpr std::string_view kApi = "api";
inline constexpr std::string_view kTelnyxApi = "telnyx.api";
inline constexpr std::string_view kStorage = "storage";
inline constexpr std::string_view kScheduler = "scheduler";
inline constexpr std::string_view kOperator = "operator";
}  // namespace source

struct Event {
  uint64_t seq = 0;             // assigned by EventStore::Append, contiguous from 1
  std::string type;             // e.g. "telnyx.webhook", "intake.created"
  std::string intake_id;        // empty when not (yet) tied to an intake
  int64_t recorded_at_ms = 0;   // Unix ms; 0 asks the store to stamp its clock's wall time
  std::string source;           // one of source::k*
  std::string payload;          // bytes, kept byte-for-byte
  std::string idempotency_key;  // empty: none; else a second append with it is a duplicate

  bool operator==(const Event&) const = default;
};

inline constexpr uint8_t kEventRecordVersion = 1;
inline constexpr size_t kMaxIntakeIdBytes = 255;  // the intake index stores the length in a byte
// kInvalidArgument when an event's intake id is longer than kMaxIntakeIdBytes. Every store's
// append checks it before its events join a group, so a bad event fails its own call only.
Status CheckIntakeIds(const std::vector<Event>& events);

std::string EncodeEventRecord(const Event& event);
// kCorruption when the version is unknown, the CRC does not match or the record is truncated.
Result<Event> DecodeEventRecord(std::string_view record);

// One JSON object (no newline): {"seq","type","intake_id","recorded_at","source","payload"};
// the payload embedded with JsonWriter::Payload (raw JSON stays raw).
std::string EventToJson(const Event& event);

// CRC32C (Castagnoli), and LevelDB's masking of a stored CRC. Crc32c uses the CPU's crc32
// instruction where there is one; Crc32cPortable is the table-driven reference (same values).
uint32_t Crc32c(std::string_view data);
uint32_t Crc32cPortable(std::string_view data);
uint32_t MaskCrc(uint32_t crc);
uint32_t UnmaskCrc(uint32_t masked);

}  // namespace callrec::core
