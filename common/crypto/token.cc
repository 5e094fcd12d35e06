#include "common/crypto/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdlib>

#include "absl/strings/escaping.h"
#include "common/log/log.h"

namespace admit::crypto {
namespace {

constexpr size_t kTokenBytes = 16;

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

std::array<unsigned char, 32> Sha256(std::string_view data) {
  std::array<unsigned char, 32> digest;
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(),
                 nullptr) != 1 ||
      length != digest.size()) {
    // Only a broken libcrypto fails here; there is no sensible fallback.
    log::Error("SHA-256 failed in libcrypto");
    std::abort();
  }
  return digest;
}

}  // namespace

std::string NewToken() {
  std::array<unsigned char, kTokenBytes> bytes;
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    log::Error("RAND_bytes failed: no secure randomness for a token");
    std::abort();
  }
  std::string token;
  // absl::WebSafeBase64Escape is RFC 4648 section 5 without padding: 16
  // bytes -> 22 characters.
  absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()),
                        bytes.size()),
      &token);
  return token;
}

bool IsWellFormedToken(std::string_view text) {
  if (text.size() != kTokenLength) return false;
  for (char c : text) {
    if (!IsBase64UrlChar(c)) return false;
  }
  // 22 characters carry 132 bits; the last character's 4 low bits are
  // padding and must be zero. Its value is then a multiple of 16, i.e. one
  // of 'A' (0), 'Q' (16), 'g' (32), 'w' (48). absl's decoder does not check
  // this, hence the hand-written test.
  const char last = text.back();
  return last == 'A' || last == 'Q' || last == 'g' || last == 'w';
}

std::string TokenHash(std::string_view token) {
  const auto digest = Sha256(token);
  return std::string(reinterpret_cast<const char*>(digest.data()),
                     digest.size());
}

std::string Sha256Hex(std::string_view data) {
  return absl::BytesToHexString(TokenHash(data));
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Lengths are not secret (tokens and hashes have public, fixed lengths),
  // so a mismatch may return at once; contents are never compared early-out.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace admit::crypto
