#include "telnyx_sim/crypto.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/json.h"

namespace callrec::telnyx_sim {

using core::Result;
using core::Status;

Ed25519Signer::Ed25519Signer(EVP_PKEY* key) : key_(key) {}
Ed25519Signer::~Ed25519Signer() { EVP_PKEY_free(key_); }

Result<std::unique_ptr<Ed25519Signer>> Ed25519Signer::Adopt(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    return Status::InvalidArgument("the key is not an Ed25519 key");
  }
  std::unique_ptr<Ed25519Signer> signer(new Ed25519Signer(key));
  unsigned char raw[32];
  size_t len = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != 32)
    return Status::Internal("cannot read the Ed25519 public key");
  signer->public_raw_.assign(reinterpret_cast<char*>(raw), len);
  return signer;
}

Result<std::unique_ptr<Ed25519Signer>> Ed25519Signer::FromPem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), int(pem.size()));
  if (bio == nullptr) return Status::Internal("BIO_new_mem_buf failed");
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return Status::InvalidArgument("no PEM private key found");
  return Adopt(key);
}

Result<std::unique_ptr<Ed25519Signer>> Ed25519Signer::FromPemFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read signing key file " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  auto signer = FromPem(buf.str());
  if (!signer.ok()) return Status::InvalidArgument(path + ": " + signer.status().message());
  return signer;
}

Result<std::unique_ptr<Ed25519Signer>> Ed25519Signer::Generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) return Status::Internal("Ed25519 key generation failed");
  return Adopt(key);
}

Result<std::string> Ed25519Signer::Sign(std::string_view message) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return Status::Internal("EVP_MD_CTX_new failed");
  unsigned char sig[64];
  size_t sig_len = sizeof sig;
  // Ed25519 is a one-shot signature: no digest (nullptr), EVP_DigestSign over the whole message.
  bool ok = EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
            EVP_DigestSign(ctx, sig, &sig_len,
                           reinterpret_cast<const unsigned char*>(message.data()),
                           message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || sig_len != 64) return Status::Internal("Ed25519 signing failed");
  return std::string(reinterpret_cast<char*>(sig), sig_len);
}

std::string Ed25519Signer::public_key_base64() const { return core::Base64Encode(public_raw_); }

Result<std::string> Ed25519Signer::PrivateKeyPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return Status::Internal("BIO_new failed");
  std::string out;
  if (PEM_write_bio_PrivateKey(bio, key_, nullptr, nullptr, 0, nullptr, nullptr) == 1) {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    out.assign(data, size_t(len));
  }
  BIO_free(bio);
  if (out.empty()) return Status::Internal("cannot write the private key as PEM");
  return out;
}

std::string HmacSha256Hex(std::string_view key, std::string_view message) {
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 15]);
  }
  return out;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  // RAND_bytes only fails when the OS entropy source is broken; the sim cannot run then.
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), int(n)) != 1) std::abort();
  return out;
}

std::string NewUuid() {
  std::string b = RandomBytes(16);
  b[6] = char((b[6] & 0x0F) | 0x40);
  b[8] = char((b[8] & 0x3F) | 0x80);
  char buf[37];
  const auto* u = reinterpret_cast<const unsigned char*>(b.data());
  std::snprintf(buf, sizeof buf,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
                u[15]);
  return buf;
}

std::string NewCallControlId() {
  std::string b64 = core::Base64Encode(RandomBytes(40));
  std::string out = "v3:";
  for (char c : b64) {
    if (c == '=') break;
    out.push_back(c == '+' ? '-' : c == '/' ? '_' : c);
  }
  return out;
}

bool SecureEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace callrec::telnyx_sim
