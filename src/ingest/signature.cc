#include "ingest/signature.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include <memory>
#include <string>

#include "core/json.h"

namespace callrec::ingest {
namespace {

constexpr size_t kEd25519KeyBytes = 32;
constexpr size_t kEd25519SignatureBytes = 64;

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
static_assert(crypto_sign_PUBLICKEYBYTES == kEd25519KeyBytes && crypto_sign_BYTES == kEd25519SignatureBytes);

std::string_view Trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

core::Result<EVP_PKEY*> ParsePem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), int(pem.size()));
  if (bio == nullptr) return core::Status::Internal("BIO_new_mem_buf failed");
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return core::Status::InvalidArgument("public key: PEM is not a public key");
  return key;
}

core::Result<EVP_PKEY*> ParseBase64(std::string_view text) {
  auto bytes = core::Base64Decode(text);
  if (!bytes.ok()) return core::Status::InvalidArgument("public key: not base64 or PEM");
  const auto* raw = reinterpret_cast<const unsigned char*>(bytes->data());
  if (bytes->size() == kEd25519KeyBytes) {
    EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw, bytes->size());
    if (key == nullptr) return core::Status::InvalidArgument("public key: rejected by OpenSSL");
    return key;
  }
  // Some tools export the key as DER SubjectPublicKeyInfo (44 bytes for Ed25519).
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &raw, long(bytes->size()));
  if (key == nullptr) {
    return core::Status::InvalidArgument("public key: expected base64 of 32 raw bytes (got " +
                                         std::to_string(bytes->size()) + " bytes)");
  }
  return key;
}

}  // namespace

const char* SignatureCheckName(SignatureCheck check) {
  switch (check) {
    case SignatureCheck::kOk: return "ok";
    case SignatureCheck::kMissingHeader: return "missing_header";
    case SignatureCheck::kBadTimestamp: return "bad_timestamp";
    case SignatureCheck::kTimestampTooOld: return "timestamp_too_old";
    case SignatureCheck::kTimestampInFuture: return "timestamp_in_future";
    case SignatureCheck::kMalformedSignature: return "malformed_signature";
    case SignatureCheck::kMismatch: return "mismatch";
  }
  return "unknown";
}

const char* SignatureCheckMessage(SignatureCheck check) {
  switch (check) {
    case SignatureCheck::kOk: return "signature valid";
    case SignatureCheck::kMissingHeader:
      return "telnyx-signature-ed25519 and telnyx-timestamp headers are required";
    case SignatureCheck::kBadTimestamp: return "telnyx-timestamp is not Unix seconds";
    case SignatureCheck::kTimestampTooOld: return "telnyx-timestamp is older than the tolerance";
    case SignatureCheck::kTimestampInFuture:
      return "telnyx-timestamp is further in the future than the tolerance";
    case SignatureCheck::kMalformedSignature:
      return "telnyx-signature-ed25519 is not a base64 64-byte signature";
    case SignatureCheck::kMismatch: return "signature does not match the body";
  }
  return "signature check failed";
}

int64_t ParseUnixSeconds(std::string_view text) {
  if (text.empty() || text.size() > 18) return -1;  // 18 digits cannot overflow int64
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

core::Result<WebhookVerifier> WebhookVerifier::FromPublicKey(std::string_view key_text,
                                                             std::chrono::seconds tolerance) {
  if (sodium_init() < 0) return core::Status::Internal("libsodium failed to initialise");
  std::string_view text = Trim(key_text);
  if (text.empty()) return core::Status::InvalidArgument("public key is empty");
  core::Result<EVP_PKEY*> parsed =
      text.starts_with("-----BEGIN") ? ParsePem(text) : ParseBase64(text);
  if (!parsed.ok()) return parsed.status();
  std::unique_ptr<EVP_PKEY, PkeyFree> key(*parsed);
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519) {
    return core::Status::InvalidArgument("public key is not an Ed25519 key");
  }
  RawKey raw{};
  size_t raw_len = raw.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), raw.data(), &raw_len) != 1 || raw_len != raw.size()) {
    return core::Status::InvalidArgument("public key: cannot read the raw Ed25519 key");
  }
  // libsodium refuses to verify against such a key; say so now rather than 401 every delivery.
  if (crypto_core_ed25519_is_valid_point(raw.data()) != 1) {
    return core::Status::InvalidArgument("public key is not a valid Ed25519 point (off the curve or of small order)");
  }
  return WebhookVerifier(raw, tolerance);
}

SignatureCheck WebhookVerifier::Verify(std::string_view timestamp, std::string_view body,
                                       std::string_view signature_b64, int64_t now_unix_s) const {
  if (timestamp.empty() || signature_b64.empty()) return SignatureCheck::kMissingHeader;
  int64_t ts = ParseUnixSeconds(timestamp);
  if (ts < 0) return SignatureCheck::kBadTimestamp;
  if (ts < now_unix_s - tolerance_.count()) return SignatureCheck::kTimestampTooOld;
  if (ts > now_unix_s + tolerance_.count()) return SignatureCheck::kTimestampInFuture;

  auto signature = core::Base64Decode(signature_b64);
  if (!signature.ok() || signature->size() != kEd25519SignatureBytes) {
    return SignatureCheck::kMalformedSignature;
  }

  // Ed25519 is one-shot (no streaming digest), so the signed bytes must be contiguous: build
  // them in a buffer each thread keeps.
  thread_local std::string signed_bytes;
  signed_bytes.assign(timestamp);
  signed_bytes.push_back('|');
  signed_bytes.append(body);
  int rc = crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature->data()),
                                       reinterpret_cast<const unsigned char*>(signed_bytes.data()),
                                       signed_bytes.size(), key_.data());
  // Don't let one huge body pin a megabyte per worker thread forever.
  if (signed_bytes.capacity() > (256u << 10)) std::string().swap(signed_bytes);
  return rc == 0 ? SignatureCheck::kOk : SignatureCheck::kMismatch;
}

}  // namespace callrec::ingest
