#include "services/registration/api_key.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/token.h"
#include "common/status/status.h"
#include "openssl/rand.h"

namespace admit::registration {
namespace {

constexpr std::string_view kPrefix = "admit_";

absl::Status NotPermitted(std::string_view why) {
  return WithErrorInfo(absl::PermissionDeniedError(absl::StrCat(
                           "this API key may not ", std::string(why))),
                       "API_KEY_NOT_PERMITTED");
}

}  // namespace

std::string_view KeyScopeName(KeyScope scope) {
  switch (scope) {
    case KeyScope::kAdmin:
      return "admin";
    case KeyScope::kOrganizer:
      return "organizer";
  }
  return "unknown";
}

bool IsApiKeyId(std::string_view id) {
  if (id.empty() || id.size() > 32) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

std::optional<KeyParts> ParseApiKey(std::string_view text) {
  if (text.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  text.remove_prefix(kPrefix.size());
  const size_t sep = text.find('_');
  if (sep == std::string_view::npos) return std::nullopt;
  std::string_view id = text.substr(0, sep);
  std::string_view secret = text.substr(sep + 1);
  if (!IsApiKeyId(id) || !crypto::IsWellFormedToken(secret)) {
    return std::nullopt;
  }
  return KeyParts{std::string(id), std::string(secret)};
}

std::string FormatApiKey(const KeyParts& parts) {
  return absl::StrCat(std::string(kPrefix), parts.id, "_", parts.secret);
}

KeyParts NewApiKey() {
  unsigned char bytes[8];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // The CSPRNG failing is not something to continue after.
    std::abort();
  }
  KeyParts parts;
  parts.id = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
  parts.secret = crypto::NewToken();
  return parts;
}

std::string HashSecret(std::string_view secret) {
  return crypto::TokenHash(secret);
}

bool SecretMatches(const ApiKeyRecord& record, std::string_view secret) {
  return crypto::ConstantTimeEquals(HashSecret(secret), record.secret_hash);
}

absl::Status Authorize(const Caller& caller, OrganizerCall call,
                       std::string_view event_id) {
  if (call != OrganizerCall::kRead && caller.read_only) {
    return NotPermitted("change anything (it is read-only)");
  }
  if (caller.scope == KeyScope::kAdmin) return absl::OkStatus();
  if (call == OrganizerCall::kCreateEvent) {
    return NotPermitted("create events (admin keys only)");
  }
  if (std::find(caller.event_ids.begin(), caller.event_ids.end(), event_id) ==
      caller.event_ids.end()) {
    return NotPermitted("use this event");
  }
  return absl::OkStatus();
}

absl::Status ApiKeyInvalidError(std::string_view why) {
  return WithErrorInfo(
      absl::UnauthenticatedError(absl::StrCat(
          std::string(why), "; send \"authorization: Bearer <api key>\"")),
      "API_KEY_INVALID");
}

}  // namespace admit::registration
