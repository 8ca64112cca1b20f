#include "core/phone.h"

#include <gtest/gtest.h>

#include <vector>

namespace callrec::core {
namespace {

TEST(NormalizeE164, DropsWhatPeopleTypeAroundDigits) {
  EXPECT_EQ(*NormalizeE164("+1 (555) 123-4567"), "+15551234567");
  EXPECT_EQ(*NormalizeE164("+44.20.7946.0958"), "+442079460958");
  EXPECT_EQ(*NormalizeE164("  +15550123456  "), "+15550123456");
  EXPECT_EQ(*NormalizeE164("+12345678"), "+12345678");                 // 8 digits
  EXPECT_EQ(*NormalizeE164("+123456789012345"), "+123456789012345");   // 15 digits
}

TEST(NormalizeE164, RejectsWhatIsNotAnE164Number) {
  for (const std::string& bad : std::vector<std::string>{"", "   ", "+", "15551234567", "(555) 123-4567", "+1234567",
                          "+1234567890123456", "+1 555 CALL NOW", "+1+5551234567", "++15551234567",
                          "+1555123456\xc2\xa0", "+1\t5551234567", "+1/555/1234567",
                          std::string(1 << 20, '9')}) {
    auto r = NormalizeE164(bad);
    EXPECT_FALSE(r.ok()) << "accepted: " << bad.substr(0, 40);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(NormalizeE164, MessagesSayWhatIsWrongWithoutEchoingTheNumber) {
  EXPECT_NE(NormalizeE164("5551234567").status().message().find("'+'"), std::string::npos);
  EXPECT_NE(NormalizeE164("+1234").status().message().find("fewer than 8"), std::string::npos);
  std::string msg = NormalizeE164("+15551234567890123").status().message();
  EXPECT_NE(msg.find("more than 15"), std::string::npos);
  EXPECT_EQ(msg.find("5551234567"), std::string::npos);
}

}  // namespace
}  // namespace callrec::core
