#include "ingest/signature.h"

#include <gtest/gtest.h>

#include <thread>

#include "fakes/webhook_signer.h"
#include "matchers/status_matchers.h"

namespace callrec::ingest {
namespace {

using testing::WebhookSigner;
using namespace std::chrono_literals;

constexpr int64_t kNow = 1795186800;  // 2026-11-20T15:00:00Z
const std::string kBody = R"({"data":{"id":"e1","event_type":"call.answered"}})";

WebhookVerifier MustVerifier(const std::string& key, std::chrono::seconds tolerance = 300s) {
  auto v = WebhookVerifier::FromPublicKey(key, tolerance);
  EXPECT_OK(v);
  return std::move(v.value());
}

TEST(WebhookVerifier, AcceptsTelnyxStyleSignature) {
  WebhookSigner telnyx;
  WebhookVerifier v = MustVerifier(telnyx.PublicKeyBase64());
  std::string ts = std::to_string(kNow);
  EXPECT_EQ(v.Verify(ts, kBody, telnyx.Sign(ts, kBody), kNow), SignatureCheck::kOk);
}

TEST(WebhookVerifier, RejectsTamperedBodyAndTimestamp) {
  WebhookSigner telnyx;
  WebhookVerifier v = MustVerifier(telnyx.PublicKeyBase64());
  std::string ts = std::to_string(kNow);
  std::string sig = telnyx.Sign(ts, kBody);
  std::string tampered = kBody;
  tampered[tampered.find("e1")] = 'f';
  EXPECT_EQ(v.Verify(ts, tampered, sig, kNow), SignatureCheck::kMismatch);
  EXPECT_EQ(v.Verify(ts, kBody + " ", sig, kNow), SignatureCheck::kMismatch);
  // The timestamp is signed too: moving it (still within tolerance) breaks the signature.
  EXPECT_EQ(v.Verify(std::to_string(kNow - 1), kBody, sig, kNow), SignatureCheck::kMismatch);
}

TEST(WebhookVerifier, RejectsAnotherKeysSignature) {
  WebhookSigner telnyx, attacker;
  WebhookVerifier v = MustVerifier(telnyx.PublicKeyBase64());
  std::string ts = std::to_string(kNow);
  EXPECT_EQ(v.Verify(ts, kBody, attacker.Sign(ts, kBody), kNow), SignatureCheck::kMismatch);
}

TEST(WebhookVerifier, TimestampMustBeWithinToleranceEitherWay) {
  WebhookSigner telnyx;
  WebhookVerifier v = MustVerifier(telnyx.PublicKeyBase64(), 300s);
  auto check = [&](int64_t ts) {
    std::string t = std::to_string(ts);
    return v.Verify(t, kBody, telnyx.Sign(t, kBody), kNow);
  };
  EXPECT_EQ(check(kNow - 300), SignatureCheck::kOk);
  EXPECT_EQ(check(kNow + 300), SignatureCheck::kOk);
  EXPECT_EQ(check(kNow - 301), SignatureCheck::kTimestampTooOld);
  EXPECT_EQ(check(kNow - 86400), SignatureCheck::kTimestampTooOld);
  EXPECT_EQ(check(kNow + 301), SignatureCheck::kTimestampInFuture);
}

TEST(WebhookVerifier, MissingOrMalformedHeaders) {
  WebhookSigner telnyx;
  WebhookVerifier v = MustVerifier(telnyx.PublicKeyBase64());
  std::string ts = std::to_string(kNow);
  std::string sig = telnyx.Sign(ts, kBody);
  EXPECT_EQ(v.Verify("", kBody, sig, kNow), SignatureCheck::kMissingHeader);
  EXPECT_EQ(v.Verify(ts, kBody, "", kNow), SignatureCheck::kMissingHeader);
  for (const std::string& bad : std::vector<std::string>{"17951868OO", "-1795186800", "+1795186800", "1795186800.5", " 1795186800",
                          "99999999999999999999999"}) {
    EXPECT_EQ(v.Verify(bad, kBody, sig, kNow), SignatureCheck::kBadTimestamp) << bad;
  }
  EXPECT_EQ(v.Verify(ts, kBody, "not base64!", kNow), SignatureCheck::kMalformedSignature);
  EXPECT_EQ(v.Verify(ts, kBody, sig.substr(0, 40), kNow), SignatureCheck::kMalformedSignature);
  EXPECT_EQ(v.Verify(ts, kBody, sig + "AAAA", kNow), SignatureCheck::kMalformedSignature);
}

TEST(WebhookVerifier, AcceptsPemAndDerForms) {
  WebhookSigner telnyx;
  std::string ts = std::to_string(kNow);
  std::string sig = telnyx.Sign(ts, kBody);
  for (const std::string& key :
       {telnyx.PublicKeyPem(), telnyx.PublicKeyDerBase64(), "  " + telnyx.PublicKeyBase64() + "\n"}) {
    WebhookVerifier v = MustVerifier(key);
    EXPECT_EQ(v.Verify(ts, kBody, sig, kNow), SignatureCheck::kOk) << key;
  }
}

TEST(WebhookVerifier, RejectsKeysThatAreNotEd25519PublicKeys) {
  for (const std::string& bad : std::vector<std::string>{"", "   ", "not a key", "AAAA", /* 33 bytes */
                          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
                          "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n"}) {
    auto v = WebhookVerifier::FromPublicKey(bad, 300s);
    EXPECT_FALSE(v.ok()) << "accepted: " << bad;
    if (!v.ok()) {
      EXPECT_EQ(v.status().code(), core::StatusCode::kInvalidArgument);
    }
  }
  // A valid key of another algorithm (RSA) is refused too.
  EVP_PKEY* rsa = EVP_RSA_gen(1024);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, rsa);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, size_t(len));
  BIO_free(bio);
  EVP_PKEY_free(rsa);
  auto v = WebhookVerifier::FromPublicKey(pem, 300s);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("Ed25519"), std::string::npos) << v.status().message();
}

// libsodium's verify refuses small-order keys outright, so such a key would 401 every delivery:
// the service refuses it at start instead, with a message that says why.
TEST(WebhookVerifier, RejectsRawKeysThatAreNotUsableEd25519Points) {
  for (const std::string& bad : std::vector<std::string>{
           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",    // 32 zero bytes: a point of order 4
           "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",    // the identity (order 1)
           "7P///////////////////////////////////////38="}) {  // y = p - 1: order 2
    auto v = WebhookVerifier::FromPublicKey(bad, 300s);
    ASSERT_FALSE(v.ok()) << "accepted: " << bad;
    EXPECT_EQ(v.status().code(), core::StatusCode::kInvalidArgument);
    EXPECT_NE(v.status().message().find("Ed25519 point"), std::string::npos) << v.status().message();
  }
}

TEST(WebhookVerifier, ConcurrentVerifiesOnOneVerifierAgree) {
  WebhookSigner telnyx;
  WebhookVerifier v = MustVerifier(telnyx.PublicKeyBase64());
  std::string ts = std::to_string(kNow);
  std::atomic<int> ok{0}, mismatched{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string body = kBody + std::to_string(t * 100 + i);
        std::string sig = telnyx.Sign(ts, body);
        if (v.Verify(ts, body, sig, kNow) == SignatureCheck::kOk) ++ok;
        if (v.Verify(ts, body + "x", sig, kNow) == SignatureCheck::kMismatch) ++mismatched;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 400);
  EXPECT_EQ(mismatched.load(), 400);
}

TEST(WebhookVerifier, ReasonNamesAreStableMetricLabels) {
  EXPECT_STREQ(SignatureCheckName(SignatureCheck::kTimestampTooOld), "timestamp_too_old");
  EXPECT_STREQ(SignatureCheckName(SignatureCheck::kMismatch), "mismatch");
  EXPECT_STREQ(SignatureCheckName(SignatureCheck::kMissingHeader), "missing_header");
}

}  // namespace
}  // namespace callrec::ingest
