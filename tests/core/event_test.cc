#include "core/event.h"

#include <gtest/gtest.h>

#include "core/json.h"
#include "matchers/status_matchers.h"

namespace callrec::core {
namespace {

Event Sample(std::string payload) {
  Event e;
  e.seq = 42;
  e.type = "telnyx.webhook";
  e.intake_id = "intake_1";
  e.recorded_at_ms = 1795186800123;
  e.source = "telnyx.webhook";
  e.payload = std::move(payload);
  e.idempotency_key = "telnyx:abc";
  return e;
}

TEST(EventRecord, RoundTripsBinaryAndNonUtf8PayloadsByteForByte) {
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(char(i));
  for (const std::string& payload : {std::string(), std::string("{\"a\":1}"), binary,
                                     std::string("\xff\xfe not utf8 \xc3\x28"),
                                     std::string(1 << 20, 'x')}) {
    Event e = Sample(payload);
    auto decoded = DecodeEventRecord(EncodeEventRecord(e));
    ASSERT_OK(decoded);
    EXPECT_EQ(*decoded, e);
  }
}

TEST(EventRecord, NegativeTimesSurvive) {
  Event e = Sample("x");
  e.recorded_at_ms = -5;
  EXPECT_EQ(DecodeEventRecord(EncodeEventRecord(e))->recorded_at_ms, -5);
}

TEST(EventRecord, EveryFlippedByteIsDetected) {
  std::string record = EncodeEventRecord(Sample("{\"data\":{}}"));
  for (size_t i = 0; i < record.size(); ++i) {
    std::string damaged = record;
    damaged[i] = char(damaged[i] ^ 0x01);
    auto decoded = DecodeEventRecord(damaged);
    EXPECT_FALSE(decoded.ok()) << "flip at byte " << i << " went unnoticed";
    EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption);
  }
}

TEST(EventRecord, TruncationAndUnknownVersionAreCorruption) {
  std::string record = EncodeEventRecord(Sample("payload"));
  EXPECT_EQ(DecodeEventRecord(record.substr(0, record.size() - 1)).status().code(),
            StatusCode::kCorruption);
  EXPECT_EQ(DecodeEventRecord("").status().code(), StatusCode::kCorruption);
  record[0] = 9;
  auto decoded = DecodeEventRecord(record);
  EXPECT_NE(decoded.status().message().find("version 9"), std::string::npos);
}

TEST(EventRecord, Crc32cMatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32cPortable("123456789"), 0xE3069283u);
  EXPECT_EQ(UnmaskCrc(MaskCrc(0x12345678u)), 0x12345678u);
}

// Stores written with the table-driven CRC must read back with the CPU's instruction, at every
// length (the 8-byte steps and the byte tail) and alignment.
TEST(EventRecord, Crc32cEqualsThePortableTableForEveryLengthAndAlignment) {
  std::string bytes;
  for (int i = 0; i < 600; ++i) bytes.push_back(char((i * 131 + 7) % 256));
  for (size_t offset = 0; offset < 8; ++offset)
    for (size_t len = 0; len + offset <= bytes.size(); len += (len < 40 ? 1 : 37)) {
      std::string_view piece = std::string_view(bytes).substr(offset, len);
      ASSERT_EQ(Crc32c(piece), Crc32cPortable(piece)) << "offset " << offset << " length " << len;
    }
}

TEST(EventJson, EmbedsJsonPayloadRawAndEncodesOthers) {
  Event e = Sample("{\"data\": {\"id\": 1}}");
  EXPECT_EQ(EventToJson(e),
            "{\"seq\":42,\"type\":\"telnyx.webhook\",\"intake_id\":\"intake_1\","
            "\"recorded_at\":\"2026-11-20T15:00:00.123Z\",\"source\":\"telnyx.webhook\","
            "\"payload\":{\"data\": {\"id\": 1}}}");
  e.payload = "plain text";
  EXPECT_NE(EventToJson(e).find("\"payload\":\"plain text\""), std::string::npos);
  e.payload = "\xff\x00";
  e.payload.resize(2);
  EXPECT_NE(EventToJson(e).find("\"payload\":{\"base64\":\"/wA=\"}"), std::string::npos);
  EXPECT_TRUE(IsValidJson(EventToJson(e)));
}

}  // namespace
}  // namespace callrec::core
