// Secret keys given in configuration as base64 text (ADMIT_*_KEY settings).
//
// Thread-safe; no state.
#ifndef ADMIT_COMMON_CRYPTO_KEY_H_
#define ADMIT_COMMON_CRYPTO_KEY_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace admit::crypto {

// The raw bytes of `text`: exactly `size` bytes written in standard (RFC 4648
// section 4) or URL-safe (section 5) base64, with or without '=' padding,
// nothing else (no whitespace). INVALID_ARGUMENT otherwise, with a message
// that starts with `what` (e.g. "sealing key") and never contains the key.
// The caller should wipe the result (OPENSSL_cleanse) when done with it.
absl::StatusOr<std::string> DecodeBase64Key(std::string_view text, size_t size,
                                            std::string_view what);

}  // namespace admit::crypto

#endif  // ADMIT_COMMON_CRYPTO_KEY_H_
