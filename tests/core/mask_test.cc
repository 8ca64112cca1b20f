#include "core/mask.h"

#include <gtest/gtest.h>

namespace callrec::core {
namespace {

TEST(MaskSecrets, HidesTheUserinfoPasswordOfAnyUrl) {
  EXPECT_EQ(MaskSecrets("postgresql://callrec:s3cret@db.local:5432/clinic"),
            "postgresql://callrec:***@db.local:5432/clinic");
  EXPECT_EQ(MaskSecrets("--postgres-url postgresql://u:p%40ss@h/db --oops"),
            "--postgres-url postgresql://u:***@h/db --oops");
  EXPECT_EQ(MaskSecrets("a https://x:y@a.b and ftp://m:n@c.d/"), "a https://x:***@a.b and ftp://m:***@c.d/");
  EXPECT_EQ(MaskSecrets("pw with @ inside: postgresql://u:a@b@h/db"), "pw with @ inside: postgresql://u:***@h/db");
  EXPECT_EQ(MaskSecrets("\"postgresql://u:pw@h\""), "\"postgresql://u:***@h\"");
}

TEST(MaskSecrets, HidesSecretNamedParametersInQueriesAndKeywordStrings) {
  EXPECT_EQ(MaskSecrets("https://h/p?token=abc&x=1"), "https://h/p?token=***&x=1");
  EXPECT_EQ(MaskSecrets("host=db user=u password=pw dbname=x"), "host=db user=u password=*** dbname=x");
  EXPECT_EQ(MaskSecrets("postgresql://h/db?sslmode=require&PASSWORD=pw"), "postgresql://h/db?sslmode=require&PASSWORD=***");
  EXPECT_EQ(MaskSecrets("https://s3/x.wav?X-Amz-Expires=600&X-Amz-Signature=ab12"),
            "https://s3/x.wav?X-Amz-Expires=600&X-Amz-Signature=***");
  EXPECT_EQ(MaskSecrets("api_key=K1, secret=S2"), "api_key=***, secret=***");
}

TEST(MaskSecrets, LeavesEverythingElseByteForByte) {
  for (const char* same : {"", "plain text", "postgresql://u@h/db", "http://h:8080/x?a=b&token=",
                           "https://host:443/path", "k=v x=y", "user:pw no url", "mytoken=1",
                           "=", "a=", "://", "x://@", "://:@"})
    EXPECT_EQ(MaskSecrets(same), same) << same;
}

}  // namespace
}  // namespace callrec::core
