#include "common/crypto/sealer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/key.h"
#include "common/log/log.h"

namespace admit::crypto {
namespace {

using CipherCtx =
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

CipherCtx NewCtx() {
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  if (ctx == nullptr) {
    log::Error("EVP_CIPHER_CTX_new failed");
    std::abort();
  }
  return ctx;
}

[[noreturn]] void Fail(const char* what) {
  log::Error("libcrypto failed while sealing", {{"step", what}});
  std::abort();
}

void RandomBytes(unsigned char* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    log::Error("RAND_bytes failed: no secure randomness");
    std::abort();
  }
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

absl::StatusOr<Sealer> Sealer::FromBase64Key(std::string_view key_base64) {
  absl::StatusOr<std::string> raw =
      DecodeBase64Key(key_base64, kKeyBytes, "sealing key");
  if (!raw.ok()) return raw.status();
  std::array<unsigned char, kKeyBytes> key;
  std::copy(raw->begin(), raw->end(), key.begin());
  OPENSSL_cleanse(raw->data(), raw->size());
  Sealer sealer(key);
  OPENSSL_cleanse(key.data(), key.size());
  return sealer;
}

std::string Sealer::NewBase64Key() {
  std::array<unsigned char, kKeyBytes> key;
  RandomBytes(key.data(), key.size());
  std::string text = absl::Base64Escape(
      absl::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
  OPENSSL_cleanse(key.data(), key.size());
  return text;
}

Sealer::~Sealer() { OPENSSL_cleanse(key_.data(), key_.size()); }

std::string Sealer::Seal(std::string_view plaintext,
                         std::string_view associated_data) const {
  if (plaintext.size() > kMaxInputBytes ||
      associated_data.size() > kMaxInputBytes) {
    // OpenSSL's EVP interface takes int lengths; the contract excludes this.
    log::Error("Sealer::Seal input over 1 GiB");
    std::abort();
  }
  std::string out(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  unsigned char* ciphertext = nonce + kNonceBytes;
  unsigned char* tag = ciphertext + plaintext.size();
  RandomBytes(nonce, kNonceBytes);

  // One context per call: EVP contexts are not safe to share across threads.
  CipherCtx ctx = NewCtx();
  int len = 0;
  // GCM's default IV length in OpenSSL is 12 bytes, the size used here.
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(),
                         nonce) != 1) {
    Fail("EncryptInit");
  }
  if (!associated_data.empty() &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(associated_data),
                        static_cast<int>(associated_data.size())) != 1) {
    Fail("EncryptUpdate(aad)");
  }
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(ctx.get(), ciphertext, &len, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1) {
    Fail("EncryptUpdate");
  }
  // GCM is a stream mode: Final writes no further bytes.
  if (EVP_EncryptFinal_ex(ctx.get(), ciphertext + plaintext.size(), &len) !=
      1) {
    Fail("EncryptFinal");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, tag) !=
      1) {
    Fail("GET_TAG");
  }
  return out;
}

absl::StatusOr<std::string> Sealer::Open(
    std::string_view sealed, std::string_view associated_data) const {
  if (sealed.size() < kOverhead) {
    return absl::DataLossError(
        absl::StrCat("sealed value is ", sealed.size(),
                     " bytes, shorter than the 28 of nonce and tag"));
  }
  if (sealed.size() > kMaxInputBytes + kOverhead ||
      associated_data.size() > kMaxInputBytes) {
    return absl::DataLossError("sealed value or associated data over 1 GiB");
  }
  const unsigned char* nonce = Bytes(sealed);
  const size_t text_size = sealed.size() - kOverhead;
  const unsigned char* ciphertext = nonce + kNonceBytes;
  // EVP_CTRL_GCM_SET_TAG takes a non-const pointer but only reads it.
  unsigned char tag[kTagBytes];
  std::copy(ciphertext + text_size, ciphertext + text_size + kTagBytes, tag);

  CipherCtx ctx = NewCtx();
  std::string plaintext(text_size, '\0');
  int len = 0;
  bool ok =
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(),
                         nonce) == 1 &&
      (associated_data.empty() ||
       EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(associated_data),
                         static_cast<int>(associated_data.size())) == 1) &&
      (text_size == 0 ||
       EVP_DecryptUpdate(ctx.get(),
                         reinterpret_cast<unsigned char*>(plaintext.data()),
                         &len, ciphertext, static_cast<int>(text_size)) == 1) &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) ==
          1 &&
      // Verifies the tag; GCM writes no bytes here.
      EVP_DecryptFinal_ex(
          ctx.get(),
          reinterpret_cast<unsigned char*>(plaintext.data()) + text_size,
          &len) == 1;
  if (!ok) {
    // The unauthenticated plaintext must not leak out.
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return absl::DataLossError(
        "sealed value failed authentication: wrong key, wrong associated "
        "data, or altered bytes");
  }
  return plaintext;
}

}  // namespace admit::crypto
