// OrganizerService API keys: their text form, their stored form, and what a
// key may do. Pure: no database, no gRPC.
//
// A key as handed to its holder (once, by the admin command) is
//   admit_<id>_<secret>
// where <id> is 1-32 characters of [a-z0-9] (16 random hex digits for keys
// the admin command creates) and <secret> a 128-bit random token (22
// characters of unpadded base64url, crypto::NewToken; it may itself contain
// '_'). admit stores the id and SHA-256(secret) only, and compares hashes in
// constant time. The id is not secret (it is logged and listed); the secret
// never leaves the holder's hands except in the authorization header.
#ifndef ADMIT_SERVICES_REGISTRATION_API_KEY_H_
#define ADMIT_SERVICES_REGISTRATION_API_KEY_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace admit::registration {

enum class KeyScope {
  // Every call on every event, CreateEvent included.
  kAdmin = 1,
  // Every call but CreateEvent, on the key's events only.
  kOrganizer = 2,
};

// "admin" / "organizer".
std::string_view KeyScopeName(KeyScope scope);

// A key as stored: never its secret.
struct ApiKeyRecord {
  std::string id;
  std::string secret_hash;  // SHA-256 of the secret: 32 raw bytes
  KeyScope scope = KeyScope::kAdmin;
  std::vector<std::string> event_ids;  // organizer keys: their events
  bool read_only = false;
  std::string name;  // for people reading `keys list`; may be empty
  absl::Time created_at = absl::UnixEpoch();
  std::optional<absl::Time> revoked_at;
};

// The parts of a key's text form.
struct KeyParts {
  std::string id;
  std::string secret;
};

// Splits "admit_<id>_<secret>"; nullopt unless the prefix, the id and the
// secret (crypto::IsWellFormedToken) are all well formed.
std::optional<KeyParts> ParseApiKey(std::string_view text);
// "admit_<id>_<secret>".
std::string FormatApiKey(const KeyParts& parts);
// A fresh key: 16 random hex digits of id, a crypto::NewToken() secret.
KeyParts NewApiKey();
// Whether `id` is a well-formed key id (1-32 of [a-z0-9]).
bool IsApiKeyId(std::string_view id);
// SHA-256 of the secret, raw (crypto::TokenHash).
std::string HashSecret(std::string_view secret);
// Whether `secret` is the secret of `record`, comparing SHA-256 hashes in
// constant time (crypto::ConstantTimeEquals): the time taken does not
// depend on how much of the hash matches.
bool SecretMatches(const ApiKeyRecord& record, std::string_view secret);

// The kinds of OrganizerService calls, as far as permissions go
// (organizer.proto, "Authentication").
enum class OrganizerCall {
  kCreateEvent,  // admin keys only, not read-only
  kRead,         // GetEvent, counts, watch, list, export
  kWrite,        // UpdateEvent, SetAllotment, CheckIn, EraseAttendeeData
};

// Who is calling: an authenticated key.
struct Caller {
  std::string key_id;
  KeyScope scope = KeyScope::kAdmin;
  bool read_only = false;
  std::vector<std::string> event_ids;  // organizer keys
};

// OK when `caller` may make `call` on `event_id` (ignored for
// kCreateEvent); otherwise PERMISSION_DENIED with ErrorInfo reason
// API_KEY_NOT_PERMITTED (the same answer whether or not the event exists).
absl::Status Authorize(const Caller& caller, OrganizerCall call,
                       std::string_view event_id);

// UNAUTHENTICATED with ErrorInfo reason API_KEY_INVALID; `why` goes into the
// message (never put a key in it).
absl::Status ApiKeyInvalidError(std::string_view why);

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_API_KEY_H_
