// webhook_signer.h — plays Telnyx's part in signature tests: a fresh Ed25519 key pair, the public
// key in the forms the service accepts, and signatures over `<timestamp>|<body>`.
//
// Thread-safety: Sign() may be called from any thread (one EVP_MD_CTX per call).
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/json.h"

namespace callrec::testing {

class WebhookSigner {
 public:
  WebhookSigner() {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
    EVP_PKEY* key = nullptr;
    if (ctx != nullptr && EVP_PKEY_keygen_init(ctx) == 1) EVP_PKEY_keygen(ctx, &key);
    EVP_PKEY_CTX_free(ctx);
    key_.reset(key);
  }

  // Base64 of the raw 32 bytes, as the Telnyx portal shows it.
  std::string PublicKeyBase64() const {
    unsigned char raw[32];
    size_t len = sizeof raw;
    EVP_PKEY_get_raw_public_key(key_.get(), raw, &len);
    return core::Base64Encode(std::string_view(reinterpret_cast<char*>(raw), len));
  }

  std::string PublicKeyPem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key_.get());
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string pem(data, size_t(len));
    BIO_free(bio);
    return pem;
  }

  // Base64 of DER SubjectPublicKeyInfo.
  std::string PublicKeyDerBase64() const {
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(key_.get(), &der);
    std::string out = core::Base64Encode(std::string_view(reinterpret_cast<char*>(der), size_t(len)));
    OPENSSL_free(der);
    return out;
  }

  // telnyx-signature-ed25519 for this timestamp and body.
  std::string Sign(std::string_view timestamp, std::string_view body) const {
    std::string message = std::string(timestamp) + "|" + std::string(body);
    unsigned char sig[64];
    size_t sig_len = sizeof sig;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_.get());
    EVP_DigestSign(ctx, sig, &sig_len, reinterpret_cast<const unsigned char*>(message.data()),
                   message.size());
    EVP_MD_CTX_free(ctx);
    return core::Base64Encode(std::string_view(reinterpret_cast<char*>(sig), sig_len));
  }

 private:
  struct Free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  };
  std::unique_ptr<EVP_PKEY, Free> key_;
};

}  // namespace callrec::testing
