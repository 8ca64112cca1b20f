// crypto.h — the simulator's signing keys and random identifiers, on OpenSSL 3.
//
// Ed25519Signer signs webhooks the way Telnyx does: the signature covers
// "<telnyx-timestamp>|<raw body>", and the public key is shown as base64 of its 32 raw bytes (what
// the Telnyx portal displays and `callrec --telnyx-public-key` takes). Keys come from a PKCS#8
// PEM file (data/demo-keys/telnyx-sim-private.pem) or are generated for one run.
//
//   CALLREC_ASSIGN_OR_RETURN(auto signer, Ed25519Signer::FromPemFile(path));
//   CALLREC_ASSIGN_OR_RETURN(std::string sig, signer->Sign(ts + "|" + body));  // 64 bytes
//
// Thread-safety: an Ed25519Signer is immutable after creation; Sign() may run on many threads
// (each call uses its own EVP_MD_CTX). The free functions are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace callrec::telnyx_sim {

class Ed25519Signer {
 public:
  // kInvalidArgument when the file is unreadable or holds no Ed25519 private key.
  static core::Result<std::unique_ptr<Ed25519Signer>> FromPemFile(const std::string& path);
  static core::Result<std::unique_ptr<Ed25519Signer>> FromPem(std::string_view pem);
  // A fresh key for this process only (tests, `serve` without --signing-key).
  static core::Result<std::unique_ptr<Ed25519Signer>> Generate();

  Ed25519Signer(const Ed25519Signer&) = delete;
  Ed25519Signer& operator=(const Ed25519Signer&) = delete;
  ~Ed25519Signer();

  // The 64-byte signature of `message`; kInternal only if OpenSSL fails.
  core::Result<std::string> Sign(std::string_view message) const;
  const std::string& public_key_raw() const { return public_raw_; }  // 32 bytes
  std::string public_key_base64() const;
  // The private key as PKCS#8 PEM (for `telnyx-sim keygen`).
  core::Result<std::string> PrivateKeyPem() const;

 private:
  explicit Ed25519Signer(EVP_PKEY* key);
  static core::Result<std::unique_ptr<Ed25519Signer>> Adopt(EVP_PKEY* key);
  EVP_PKEY* key_;  // owned
  std::string public_raw_;
};

// Lower-case hex of HMAC-SHA256(key, message).
std::string HmacSha256Hex(std::string_view key, std::string_view message);
// `n` cryptographically random bytes.
std::string RandomBytes(size_t n);
// A random (version 4) UUID, lower-case: "7b2f9c52-1d7e-4f1e-9a55-0c3e7a9d4b11".
std::string NewUuid();
// "v3:" + 54 URL-safe base64 characters, the shape of Telnyx call_control_ids.
std::string NewCallControlId();
// Constant-time comparison of two equal-length strings (false when lengths differ).
bool SecureEquals(std::string_view a, std::string_view b);

}  // namespace callrec::telnyx_sim
