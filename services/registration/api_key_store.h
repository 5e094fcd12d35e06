// API keys in Postgres (table registration.api_keys): create, list, revoke,
// and the load the in-memory key cache refreshes from.
//
// Every function runs one transaction through `pool` and BLOCKS until it is
// done (pg::Pool::Run): for the admin command, the key cache's refresher
// thread and tests. Never call them on a gRPC thread or a pool thread.
// Errors besides those listed: UNAVAILABLE (Postgres unreachable or busy),
// UNKNOWN (the connection broke during the commit), INTERNAL.
#ifndef ADMIT_SERVICES_REGISTRATION_API_KEY_STORE_H_
#define ADMIT_SERVICES_REGISTRATION_API_KEY_STORE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pg/pool.h"
#include "services/registration/api_key.h"

namespace admit::registration {

struct ApiKeySpec {
  KeyScope scope = KeyScope::kAdmin;
  // Organizer keys: the events (ready events, each named once); admin keys:
  // none.
  std::vector<std::string> event_ids;
  bool read_only = false;
  // Free text for `keys list`, at most 200 characters, no control
  // characters. Don't put secrets in it.
  std::string name;
};

struct CreatedApiKey {
  ApiKeyRecord record;
  // The key's text form: shown to the operator once, never stored.
  std::string key;
};

// Creates a key with a fresh id and secret and stores its hash.
// INVALID_ARGUMENT (field violations on "scope", "event", "name") for an
// organizer key without events or an admin key with some, a malformed or
// repeated event id, or a bad name; NOT_FOUND (EVENT_NOT_FOUND) naming the
// first event that does not exist.
absl::StatusOr<CreatedApiKey> CreateApiKey(pg::Pool& pool,
                                           const ApiKeySpec& spec);

// Every key, revoked ones included, oldest first.
absl::StatusOr<std::vector<ApiKeyRecord>> ListApiKeys(pg::Pool& pool);

// Revokes key `id` and returns it; revoking a revoked key changes nothing
// (its first revoked_at stays). NOT_FOUND when there is no such key.
absl::StatusOr<ApiKeyRecord> RevokeApiKey(pg::Pool& pool,
                                          const std::string& id);

// The keys that are not revoked (what Authenticate may accept).
absl::StatusOr<std::vector<ApiKeyRecord>> LoadActiveApiKeys(pg::Pool& pool);

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_API_KEY_STORE_H_
