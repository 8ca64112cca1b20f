// signature.h — verifies Telnyx's Ed25519 webhook signatures.
//
// Telnyx signs the bytes `<telnyx-timestamp>|<raw body>` with its Ed25519 key and sends the
// base64 signature in `telnyx-signature-ed25519` and the Unix seconds in `telnyx-timestamp`.
// A WebhookVerifier holds the public key (as the Telnyx portal shows it: base64 of the raw 32
// bytes; PEM "PUBLIC KEY" and base64 DER SubjectPublicKeyInfo are accepted too) and checks one
// delivery: timestamp within the tolerance either way, then the signature. The timestamp check
// comes first because it is cheap and an old, validly signed body is a replay.
//
// The key is parsed with OpenSSL (for the PEM and DER forms) and must be a valid Ed25519 point;
// each signature is checked with libsodium's crypto_sign_verify_detached, which measured about
// twice as fast as OpenSSL 3's EVP verify (docs/PERFORMANCE.md) and, like it, rejects
// non-canonical signatures.
//
// Thread-safety: Verify() is const and safe from any number of threads at once (it uses a
// per-thread signing buffer). Copies hold their own copy of the 32-byte key.
//
//   CALLREC_ASSIGN_OR_RETURN(WebhookVerifier v, WebhookVerifier::FromPublicKey(key_text, 300s));
//   SignatureCheck c = v.Verify(timestamp, body, signature_b64, now_unix_s);
//   if (c != SignatureCheck::kOk) reject with 401, count SignatureCheckName(c)
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace callrec::ingest {

// Why a delivery was rejected; the names label the signature-failure metric, so they are stable.
enum class SignatureCheck : uint8_t {
  kOk = 0,
  kMissingHeader,       // telnyx-signature-ed25519 or telnyx-timestamp absent or empty
  kBadTimestamp,        // not a plain decimal number of seconds
  kTimestampTooOld,     // older than now - tolerance (a replay or a badly delayed delivery)
  kTimestampInFuture,   // newer than now + tolerance (clock skew or forgery)
  kMalformedSignature,  // not base64, or not 64 bytes once decoded
  kMismatch,            // well formed, but not made by this key over these bytes
};

// "ok", "missing_header", "bad_timestamp", "timestamp_too_old", "timestamp_in_future",
// "malformed_signature", "mismatch".
const char* SignatureCheckName(SignatureCheck check);
// A sentence for the 401 body, e.g. "telnyx-timestamp is more than 300 s old".
const char* SignatureCheckMessage(SignatureCheck check);

class WebhookVerifier {
 public:
  // kInvalidArgument when `key_text` is neither a base64 raw 32-byte key, a base64 DER
  // SubjectPublicKeyInfo, nor a PEM public key, when the key is not Ed25519, or when its 32
  // bytes are not a usable Ed25519 point (off the curve or of small order: no signature would
  // ever verify, so every delivery would be refused).
  // Requires: tolerance >= 0.
  static core::Result<WebhookVerifier> FromPublicKey(std::string_view key_text,
                                                     std::chrono::seconds tolerance);

  // Checks one delivery at wall time `now_unix_s` (from the injected Clock).
  SignatureCheck Verify(std::string_view timestamp, std::string_view body,
                        std::string_view signature_b64, int64_t now_unix_s) const;

  std::chrono::seconds tolerance() const { return tolerance_; }

 private:
  using RawKey = std::array<unsigned char, 32>;
  WebhookVerifier(const RawKey& key, std::chrono::seconds tolerance) : key_(key), tolerance_(tolerance) {}

  RawKey key_;  // the raw Ed25519 public key; immutable once built
  std::chrono::seconds tolerance_;
};

// Parses "1763651052" strictly: 1–18 ASCII digits, nothing else. nullopt-like -1 on failure.
int64_t ParseUnixSeconds(std::string_view text);

}  // namespace callrec::ingest
