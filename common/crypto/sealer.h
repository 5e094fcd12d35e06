// Authenticated encryption of small secrets at rest (AES-256-GCM).
//
// Use: Register stores a sealed copy of the manage token next to its
// idempotency record, so that a retry of the same request_id can return the
// same token although tokens are otherwise kept only as hashes. The
// associated data binds a sealed value to where it belongs (e.g. the event
// and request_id): moved to another row it no longer opens.
//
// Format of a sealed value: 12-byte random nonce || ciphertext (as long as
// the plaintext) || 16-byte GCM tag; binary, store it as bytea.
// Nonces are random, so one key must not seal more than about 2^32 values
// (NIST SP 800-38D); rotate the key long before that.
//
// Thread safety: a Sealer is immutable; Seal and Open may be called from any
// number of threads at once.
#ifndef ADMIT_COMMON_CRYPTO_SEALER_H_
#define ADMIT_COMMON_CRYPTO_SEALER_H_

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace admit::crypto {

class Sealer {
 public:
  static constexpr size_t kKeyBytes = 32;
  static constexpr size_t kNonceBytes = 12;
  static constexpr size_t kTagBytes = 16;
  // Seal() output is this much longer than its plaintext.
  static constexpr size_t kOverhead = kNonceBytes + kTagBytes;
  // Largest plaintext and associated data accepted (1 GiB; OpenSSL takes int
  // lengths). Sealed secrets are tiny; this bound only keeps the casts safe.
  static constexpr size_t kMaxInputBytes = size_t{1} << 30;

  // A Sealer with the key `key_base64`: exactly 32 bytes written in standard
  // (RFC 4648 section 4) or URL-safe (section 5) base64, with or without '='
  // padding, nothing else (no whitespace). INVALID_ARGUMENT otherwise; the
  // message says what is wrong and never contains the key.
  static absl::StatusOr<Sealer> FromBase64Key(std::string_view key_base64);

  // A new random key in the form FromBase64Key accepts (standard base64,
  // padded: 44 characters), for tooling and tests. Aborts if the CSPRNG
  // fails.
  static std::string NewBase64Key();

  Sealer(const Sealer&) = default;
  Sealer& operator=(const Sealer&) = default;
  // Wipes the key from memory.
  ~Sealer();

  // Encrypts and authenticates `plaintext`, and authenticates
  // `associated_data` (which is not part of the output: Open needs the same
  // value). Each call uses a fresh random nonce, so sealing the same input
  // twice gives different outputs. Precondition: both inputs at most
  // kMaxInputBytes. Aborts (after logging) if that is broken or if the
  // CSPRNG or libcrypto fails.
  std::string Seal(std::string_view plaintext,
                   std::string_view associated_data) const;

  // The plaintext of a value Seal() produced with this key and the same
  // `associated_data`. DATA_LOSS if `sealed` is too short to be a sealed
  // value or fails authentication (a different key, different associated
  // data, or any changed byte) or if an input is over kMaxInputBytes; no part
  // of the plaintext is returned then.
  absl::StatusOr<std::string> Open(std::string_view sealed,
                                   std::string_view associated_data) const;

 private:
  explicit Sealer(const std::array<unsigned char, kKeyBytes>& key)
      : key_(key) {}

  std::array<unsigned char, kKeyBytes> key_;
};

}  // namespace admit::crypto

#endif  // ADMIT_COMMON_CRYPTO_SEALER_H_
