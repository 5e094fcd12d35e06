#include "common/crypto/key.h"

#include <openssl/crypto.h>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace admit::crypto {
namespace {

// Checks that `text` is written in one base64 alphabet with at most two
// trailing '=' and sets `url_safe` to which one. Hand-written because absl's
// decoders are lenient: they skip whitespace and take '.' for '='.
bool CheckBase64Alphabet(std::string_view text, bool& url_safe) {
  size_t end = text.size();
  while (end > 0 && text[end - 1] == '=') --end;
  if (text.size() - end > 2) return false;
  bool standard_only = false;
  url_safe = false;
  for (size_t i = 0; i < end; ++i) {
    const char c = text[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= '0' && c <= '9')) {
      continue;
    }
    if (c == '+' || c == '/') {
      standard_only = true;
    } else if (c == '-' || c == '_') {
      url_safe = true;
    } else {
      return false;
    }
  }
  return !(standard_only && url_safe);
}

}  // namespace

absl::StatusOr<std::string> DecodeBase64Key(std::string_view text, size_t size,
                                            std::string_view what_view) {
  // Debian's abseil has its own string_view type, which StrCat takes.
  const std::string what(what_view);
  if (text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  }
  bool url_safe = false;
  if (!CheckBase64Alphabet(text, url_safe)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what,
        " is not base64: it has characters outside one base64 alphabet "
        "(standard or URL-safe), or misplaced '=' padding"));
  }
  std::string raw;
  // Debian's abseil has its own string_view type, not std::string_view.
  const absl::string_view view(text.data(), text.size());
  const bool decoded = url_safe ? absl::WebSafeBase64Unescape(view, &raw)
                                : absl::Base64Unescape(view, &raw);
  if (!decoded) {
    OPENSSL_cleanse(raw.data(), raw.size());
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not valid base64 (wrong length or padding)"));
  }
  if (raw.size() != size) {
    const size_t got = raw.size();
    OPENSSL_cleanse(raw.data(), raw.size());
    return absl::InvalidArgumentError(absl::StrCat(
        what, " decodes to ", got, " bytes; it must be exactly ", size));
  }
  return raw;
}

}  // namespace admit::crypto
