// Authenticates OrganizerService calls by their API key, from memory.
//
// Every replica keeps the set of unrevoked keys (ids, scopes, SHA-256 of the
// secrets) in memory and reloads it from Postgres every refresh_interval on
// a thread of its own, so:
//   - checking a key never touches the database or blocks (a hash lookup, a
//     SHA-256 and a constant-time compare): safe on a gRPC thread;
//   - a key revoked with the admin command stops working on every replica
//     within refresh_interval (+ one load); a new key starts working within
//     the same time;
//   - while Postgres is unreachable the last loaded set keeps being used for
//     up to max_staleness after the last successful load; after that (and
//     before the first load) keys stored in Postgres get UNAVAILABLE, since
//     whether they were revoked cannot be known.
//
// The bootstrap admin key (ADMIT_BOOTSTRAP_ADMIN_KEY) lets a fresh install
// create its first events: an admin key, not read-only, that is not stored
// in Postgres and cannot be revoked except by restarting without it. Only
// its id and hash are kept (ParseBootstrapKey).
//
// Never logs a key or a secret; failures are logged at debug level with the
// key id only.
//
// Thread safety: Authenticate, Refresh and Start/Stop may be called from any
// thread. The loader must stay usable until Stop() returned (the destructor
// calls it).
#ifndef ADMIT_SERVICES_REGISTRATION_API_KEYS_H_
#define ADMIT_SERVICES_REGISTRATION_API_KEYS_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"
#include "services/registration/api_key.h"

namespace admit::ratelimit {
class Limiter;  // common/ratelimit/limiter.h
}  // namespace admit::ratelimit

namespace admit::registration {

struct ApiKeyCacheOptions {
  // Pause between reloads of the key set.
  std::chrono::milliseconds refresh_interval{2000};
  // How long the last loaded set stays usable when reloads fail.
  std::chrono::milliseconds max_staleness{60000};
};

// The bootstrap key from `value` (the variable's text): nullopt when empty;
// INVALID_ARGUMENT naming ADMIT_BOOTSTRAP_ADMIN_KEY when it is not a
// well-formed key (admit_<id>_<secret>). Overwrites `value` with zeros
// either way, so the secret does not stay in memory.
absl::StatusOr<std::optional<ApiKeyRecord>> ParseBootstrapKey(
    std::string& value);

class ApiKeyAuthenticator {
 public:
  // Loads the unrevoked keys (LoadActiveApiKeys over a pool, or a fake).
  using Loader = std::function<absl::StatusOr<std::vector<ApiKeyRecord>>()>;
  using Clock = std::function<absl::Time()>;

  ApiKeyAuthenticator(
      Loader loader, std::optional<ApiKeyRecord> bootstrap,
      ApiKeyCacheOptions options = {},
      Clock clock = [] { return absl::Now(); });
  // Stops the refresher.
  ~ApiKeyAuthenticator();
  ApiKeyAuthenticator(const ApiKeyAuthenticator&) = delete;
  ApiKeyAuthenticator& operator=(const ApiKeyAuthenticator&) = delete;

  // Loads the key set now (blocking: from main at start-up, the refresher,
  // tests) and returns the loader's error, if any (the previous set is kept).
  absl::Status Refresh();

  // Starts the thread that calls Refresh() every refresh_interval. Call
  // once; Stop() (or the destructor) ends it.
  void Start();
  void Stop();

  // The caller behind `authorization` (the value of the `authorization`
  // metadata entry; nullopt when absent). Errors:
  //   UNAUTHENTICATED (API_KEY_INVALID): absent, not "Bearer <key>", a
  //     malformed key, an unknown or revoked id, a wrong secret;
  //   UNAVAILABLE: a stored key while the key set is not loaded or stale
  //     (see above).
  absl::StatusOr<Caller> Authenticate(
      std::optional<std::string_view> authorization) const;

  // Authenticate() on the `authorization` metadata of `context` (more than
  // one entry is UNAUTHENTICATED), then, with a limiter set, the key's
  // "api_key" rate-limit policy (by key id): RESOURCE_EXHAUSTED with
  // RetryInfo and QuotaFailure (ratelimit::RateLimited) while the key is
  // refused. Every OrganizerService call goes through here.
  absl::StatusOr<Caller> Authenticate(
      const grpc::ServerContextBase& context) const;

  // Rate limiting of authenticated keys; null (the default) = none. Set
  // before serving; the limiter (and its redis::Client, whose callbacks
  // use this object) must be destroyed before this authenticator.
  //
  // Authenticate() is synchronous and the limiter is not, so a key's
  // verdict is asynchronous: each call of an admitted key sends one
  // Limiter::Check (consuming a token) and proceeds; a refusal is
  // remembered until its retry_after passes, and the key's calls until
  // then are refused at once without asking Redis. A key may thus exceed
  // its budget by the calls it starts within one Redis round trip of the
  // refusal (well under a millisecond). A fail-closed api_key policy that
  // cannot be checked refuses the key's calls with UNAVAILABLE for 1 s.
  void SetLimiter(ratelimit::Limiter* limiter) { limiter_ = limiter; }

 private:
  using KeyMap = std::unordered_map<std::string, ApiKeyRecord>;

  void RefreshLoop();
  // The api_key verdict of `key_id` (see SetLimiter).
  absl::Status Admit(const std::string& key_id) const;

  struct Refusal {
    std::chrono::steady_clock::time_point until;
    bool unavailable = false;
  };
  ratelimit::Limiter* limiter_ = nullptr;
  mutable std::mutex verdicts_mu_;
  mutable std::unordered_map<std::string, Refusal> refusals_;

  const Loader loader_;
  const std::optional<ApiKeyRecord> bootstrap_;
  const ApiKeyCacheOptions options_;
  const Clock clock_;

  mutable std::mutex mu_;
  std::shared_ptr<const KeyMap> keys_;  // null until the first load
  absl::Time loaded_at_ = absl::InfinitePast();
  bool stop_ = false;
  std::condition_variable stop_cv_;
  std::thread refresher_;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_API_KEYS_H_
