// admit's rate limiter: GCRA policies checked in Redis, several per request
// in one pipelined round trip, with per-policy fail modes and a circuit
// breaker. See README.md for the algorithm, keys, defaults and wiring.
//
//   auto limiter = ratelimit::Limiter::Create(options, redis, &registry);
//   (*limiter)->Check({{"ip", addr}, {"email", email}, {"event", event_id}},
//                     [](ratelimit::Decision d) {
//     if (!d.status.ok()) return Finish(d.status);  // RESOURCE_EXHAUSTED
//     ...                                           // or UNAVAILABLE
//   });
//
// Thread safety: Check() may be called from any thread concurrently.
#ifndef ADMIT_COMMON_RATELIMIT_LIMITER_H_
#define ADMIT_COMMON_RATELIMIT_LIMITER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/config/config.h"
#include "common/ratelimit/breaker.h"
#include "common/ratelimit/client_address.h"
#include "common/ratelimit/policy.h"
#include "common/redis/client.h"
#include "prometheus/registry.h"

namespace admit::ratelimit {

struct LimiterOptions {
  // Policy name -> "rate/burst[/open|closed]"; ADMIT_RATE_LIMIT_<NAME>.
  std::map<std::string, std::string> policies = DefaultPolicySpecs();
  // How long a check may wait for Redis. Enforced by the redis::Client's
  // command_timeout: give the limiter a Client built with
  // ClientOptionsFor() (Create refuses a client whose command_timeout is
  // longer). After NOSCRIPT (Redis restarted or SCRIPT FLUSH) a check may
  // take twice this once, while the script is reloaded.
  std::chrono::milliseconds timeout{30};
  // Consecutive failed checks that open the breaker; its cool-down before a
  // half-open probe.
  int64_t breaker_failures = 5;
  std::chrono::milliseconds breaker_cool_down{1000};
  // Comma-separated CIDRs of proxies whose x-forwarded-for is believed.
  std::string trusted_proxies;
  // Key prefix; the full key is <prefix>{<policy>:<subject>}.
  std::string key_prefix = "admit:rl:";
  // The breaker's clock (tests); null = steady_clock.
  CircuitBreaker::Clock clock;
};

// Registers ADMIT_RATE_LIMIT_<POLICY> for every policy in options->policies,
// ADMIT_RATE_LIMIT_TIMEOUT, ADMIT_RATE_LIMIT_BREAKER_FAILURES,
// ADMIT_RATE_LIMIT_BREAKER_COOL_DOWN and ADMIT_TRUSTED_PROXIES, writing into
// `options` (current values are the defaults). Policy specs are validated by
// Limiter::Create. `options` must outlive settings.Load().
void AddRateLimitSettings(config::Settings& settings, LimiterOptions* options);

// `base` with command_timeout = options.timeout: the Client to give the
// limiter (a service normally creates one Client for it).
redis::ClientOptions ClientOptionsFor(redis::ClientOptions base,
                                      const LimiterOptions& options);

// One policy applied to one subject. `subject` may be personal (an email, an
// address): it only goes into the Redis key, hashed (SHA-256, truncated), never
// into logs or metrics.
struct Subject {
  std::string policy;
  std::string subject;
};

// The outcome of a Check.
struct Decision {
  // OK: proceed. RESOURCE_EXHAUSTED from RateLimited() (the policy with the
  // longest retry_after among refusals); UNAVAILABLE when a fail-closed
  // policy could not be checked; INVALID_ARGUMENT for an unknown policy
  // name (a bug in the caller).
  absl::Status status;
  // The refusing policy (RESOURCE_EXHAUSTED) or the failed fail-closed
  // policy (UNAVAILABLE); "" when allowed.
  std::string policy;
  std::chrono::milliseconds retry_after{0};
  // Smallest `remaining` among policies that answered; -1 if none did.
  int64_t remaining = -1;
  // Some fail-open policy could not be checked and was let through.
  bool degraded = false;
};

// RESOURCE_EXHAUSTED with RetryInfo(retry_after), QuotaFailure naming
// "policy:<policy>", and ErrorInfo reason RATE_LIMITED (domain admit.v1).
absl::Status RateLimited(const std::string& policy,
                         std::chrono::milliseconds retry_after);

class Limiter {
 public:
  using Callback = std::function<void(Decision)>;

  // Parses the policies and proxies (INVALID_ARGUMENT naming the
  // ADMIT_RATE_LIMIT_* / ADMIT_TRUSTED_PROXIES variable at fault) and
  // registers the metrics in `registry` (may be null: no metrics). `redis`
  // and `registry` must outlive the Limiter. Does not contact Redis.
  static absl::StatusOr<std::unique_ptr<Limiter>> Create(
      LimiterOptions options, redis::Client* redis,
      prometheus::Registry* registry);

  // Checks every subject, each with one EVALSHA, all pipelined at once, and
  // calls `done` exactly once: on a Redis I/O thread, or on the calling
  // thread when no Redis call is needed (breaker open, empty list, unknown
  // policy). Never blocks. Refused if any policy refuses; a policy that
  // admitted (and so consumed) while another refused gets its token back
  // with a fire-and-forget refund. Redis failures apply each policy's fail
  // mode. `done` must not block.
  void Check(std::vector<Subject> subjects, Callback done);

  // Counts a refusal by `policy` decided without asking Redis (a caller
  // that remembers an earlier verdict) in admit_rate_limited_total, so the
  // metric counts every refused request. Unknown policies are ignored.
  void CountRefusal(const std::string& policy);

  // ClientAddress(peer, xff, the configured trusted proxies).
  std::string ClientAddressOf(std::string_view peer,
                              std::string_view x_forwarded_for) const;

  // The Redis key of one subject (tests and operators).
  std::string KeyFor(const Subject& subject) const;

  const std::map<std::string, Policy>& policies() const { return policies_; }
  CircuitBreaker::State breaker_state() const { return breaker_.state(); }

  ~Limiter();

 private:
  struct Metrics;
  struct Pending;
  Limiter(LimiterOptions options, redis::Client* redis);
  void Finish(Pending& pending);

  LimiterOptions options_;
  redis::Client* redis_;
  std::map<std::string, Policy> policies_;
  std::vector<Cidr> trusted_;
  CircuitBreaker breaker_;
  std::unique_ptr<Metrics> metrics_;
};

}  // namespace admit::ratelimit

#endif  // ADMIT_COMMON_RATELIMIT_LIMITER_H_
