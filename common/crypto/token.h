// Secret tokens: manage tokens and confirmation tokens (see "Secrets" in
// proto/admit/v1/common.proto).
//
// A token is 128 random bits encoded as 22 characters of unpadded base64url
// (RFC 4648 section 5). The token itself is shown once; the database keeps
// only TokenHash(token), and a presented token is checked by hashing it and
// comparing the hashes with ConstantTimeEquals.
//
// All functions are thread-safe.
#ifndef ADMIT_COMMON_CRYPTO_TOKEN_H_
#define ADMIT_COMMON_CRYPTO_TOKEN_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace admit::crypto {

// Length of a token as text.
inline constexpr size_t kTokenLength = 22;
// Length of TokenHash()'s result in bytes.
inline constexpr size_t kTokenHashLength = 32;

// A new token from the operating system's CSPRNG (OpenSSL RAND_bytes).
// Never fails: if the CSPRNG cannot deliver, the process logs and aborts,
// since handing out a guessable token is worse than stopping.
std::string NewToken();

// True iff `text` is exactly what NewToken() can return: 22 characters of
// [A-Za-z0-9_-] whose last character carries no bits beyond the 128 (so that
// each 128-bit value has exactly one accepted spelling). Use it to reject a
// malformed token before touching the database.
bool IsWellFormedToken(std::string_view text);

// The raw 32-byte SHA-256 digest of `token` (what the database stores, as
// bytea). Defined for any input; callers normally check IsWellFormedToken
// first.
std::string TokenHash(std::string_view token);

// Lower-case hex SHA-256 of `data` (64 characters), for fingerprints in logs
// and metrics where a raw value must not appear.
std::string Sha256Hex(std::string_view data);

// True iff `a` and `b` are byte-for-byte equal. For equal lengths the
// running time depends only on the length, never on where the contents
// differ (CRYPTO_memcmp). Different lengths compare unequal at once: lengths
// are not treated as secret.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace admit::crypto

#endif  // ADMIT_COMMON_CRYPTO_TOKEN_H_
