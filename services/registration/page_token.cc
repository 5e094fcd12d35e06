#include "services/registration/page_token.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "openssl/crypto.h"
#include "openssl/evp.h"
#include "openssl/hmac.h"
#include "openssl/sha.h"
#include "services/registration/validation.h"

namespace admit::registration {
namespace {

constexpr unsigned char kVersion = 1;
constexpr size_t kDigestLength = 16;
constexpr size_t kMacLength = 16;
// Longest registration id accepted in a token (ids are at most 64).
constexpr size_t kMaxIdLength = 64;

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
       &length);
  return std::string(reinterpret_cast<const char*>(out), length);
}

void AppendLengthPrefixed(std::string& out, std::string_view part) {
  const uint64_t n = part.size();
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(n >> (i * 8)));
  out.append(part);
}

absl::Status BadToken(std::string_view why) {
  return InvalidFields({{"page_token", std::string(why)}});
}

}  // namespace

PageTokenCodec::PageTokenCodec(std::string key) : key_(std::move(key)) {}

std::string PageTokenCodec::Mac(std::string_view data) const {
  return HmacSha256(key_, data).substr(0, kMacLength);
}

std::string PageTokenCodec::Encode(const PageCursor& cursor,
                                   std::string_view binding) const {
  std::string body;
  body.push_back(static_cast<char>(kVersion));
  const uint64_t us = static_cast<uint64_t>(cursor.created_us);
  for (int i = 7; i >= 0; --i) body.push_back(static_cast<char>(us >> (i * 8)));
  body.append(binding.substr(0, kDigestLength));
  body.append(cursor.registration_id);
  body.append(Mac(body));
  return absl::WebSafeBase64Escape(body);
}

absl::StatusOr<PageCursor> PageTokenCodec::Decode(
    std::string_view token, std::string_view binding) const {
  std::string body;
  if (token.size() > 256 ||
      !absl::WebSafeBase64Unescape(
          absl::string_view(token.data(), token.size()), &body) ||
      body.size() < 1 + 8 + kDigestLength + 1 + kMacLength ||
      body.size() > 1 + 8 + kDigestLength + kMaxIdLength + kMacLength) {
    return BadToken("is not a page token of ListRegistrations");
  }
  const std::string_view all(body);
  const std::string_view signed_part = all.substr(0, all.size() - kMacLength);
  const std::string expected = Mac(signed_part);
  if (CRYPTO_memcmp(expected.data(), all.data() + signed_part.size(),
                    kMacLength) != 0 ||
      static_cast<unsigned char>(all[0]) != kVersion) {
    return BadToken("is not a page token of ListRegistrations");
  }
  if (binding.size() < kDigestLength ||
      CRYPTO_memcmp(all.data() + 9, binding.data(), kDigestLength) != 0) {
    return BadToken(
        "was issued for another event_id or other filters; send the same "
        "event_id and filters as the call that returned it");
  }
  PageCursor cursor;
  uint64_t us = 0;
  for (int i = 1; i <= 8; ++i) {
    us = (us << 8) | static_cast<unsigned char>(all[i]);
  }
  cursor.created_us = static_cast<int64_t>(us);
  cursor.registration_id =
      std::string(signed_part.substr(1 + 8 + kDigestLength));
  return cursor;
}

std::string FilterBinding(std::string_view event_id, int status,
                          std::string_view ticket_type_id,
                          std::string_view organization_key,
                          std::string_view email_prefix) {
  std::string data = "admit.v1.ListRegistrations";
  AppendLengthPrefixed(data, event_id);
  AppendLengthPrefixed(data, absl::StrCat(status));
  AppendLengthPrefixed(data, ticket_type_id);
  AppendLengthPrefixed(data, organization_key);
  AppendLengthPrefixed(data, email_prefix);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         digest);
  return std::string(reinterpret_cast<const char*>(digest), kDigestLength);
}

std::string DerivePageTokenKey(std::string_view token_key_text) {
  return HmacSha256(token_key_text, "admit page token v1");
}

}  // namespace admit::registration
