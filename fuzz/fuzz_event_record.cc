// The event record decoder (what every read of the log goes through). Property: a record that
// decodes re-encodes to a record that decodes to the same event.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/event.h"
#include "fuzz_support.h"

namespace {

void CheckRecord(std::string_view record) {
  using namespace callrec;
  auto event = core::DecodeEventRecord(record);
  if (!event.ok()) return;
  std::string json = core::EventToJson(*event);
  auto again = core::DecodeEventRecord(core::EncodeEventRecord(*event));
  if (!again.ok()) fuzz::PropertyFailed("re-encoded record decodes", again.status().ToString());
  if (core::EventToJson(*again) != json) fuzz::PropertyFailed("decode -> encode -> decode", json);
}

}  // namespace

// The input as a record, and again with its checksum made right, so mutations reach the body's
// parser instead of stopping at the CRC.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace callrec;
  std::string record(reinterpret_cast<const char*>(data), size);
  CheckRecord(record);
  if (size >= 5) {
    uint32_t crc = core::MaskCrc(core::Crc32c(std::string_view(record).substr(5)));
    for (int i = 0; i < 4; ++i) record[1 + i] = char((crc >> (8 * i)) & 0xFF);
    CheckRecord(record);
  }
  return 0;
}
