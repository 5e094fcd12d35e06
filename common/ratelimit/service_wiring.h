// How a gRPC service uses the rate limiter: its settings and construction in
// main(), the client address of a call, and "check, then continue" for
// unary handlers. See README.md ("Wiring a service").
//
//   // main.cc
//   ratelimit::ServiceLimiterOptions rl;
//   ratelimit::AddServiceLimiterSettings(settings, &rl);  // before LoadOrExit
//   auto limiter = ratelimit::ServiceLimiter::Create(rl, &registry);
//   service.SetLimiter(limiter->get());  // null when disabled
//
//   // a handler, on the gRPC callback thread, after validating:
//   handed_off = true;
//   ratelimit::AdmitThen(limiter_, {{"ip", ClientAddressOf(limiter_, *ctx)}},
//                        reactor, [=] { ...hand off as before... });
#ifndef ADMIT_COMMON_RATELIMIT_SERVICE_WIRING_H_
#define ADMIT_COMMON_RATELIMIT_SERVICE_WIRING_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "common/config/config.h"
#include "common/ratelimit/limiter.h"
#include "common/redis/client.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "prometheus/registry.h"

namespace admit::ratelimit {

struct ServiceLimiterOptions {
  // ADMIT_RATE_LIMIT_ENABLED: false = no limiter at all (no Redis client).
  bool enabled = true;
  LimiterOptions limiter;
  // ADMIT_REDIS_URL, ADMIT_REDIS_CONNECTIONS, ADMIT_REDIS_CONNECT_TIMEOUT:
  // the limiter's own client (command timeout ADMIT_RATE_LIMIT_TIMEOUT).
  redis::ClientOptions redis;
};

// ADMIT_RATE_LIMIT_ENABLED, AddRateLimitSettings, and the limiter's Redis
// client's ADMIT_REDIS_URL, ADMIT_REDIS_CONNECTIONS and
// ADMIT_REDIS_CONNECT_TIMEOUT (its command timeout is
// ADMIT_RATE_LIMIT_TIMEOUT) unless `add_redis_settings` is false (the
// service registers them itself, for a client of its own).
void AddServiceLimiterSettings(config::Settings& settings,
                               ServiceLimiterOptions* options,
                               bool add_redis_settings = true);

// The limiter and the redis::Client it owns (destroyed client first).
class ServiceLimiter {
 public:
  // Null limiter (get() == nullptr) when disabled. INVALID_ARGUMENT naming
  // the variable at fault. Does not wait for Redis.
  static absl::StatusOr<std::unique_ptr<ServiceLimiter>> Create(
      const ServiceLimiterOptions& options, prometheus::Registry* registry);
  ~ServiceLimiter();

  Limiter* get() const { return limiter_.get(); }

 private:
  std::unique_ptr<Limiter> limiter_;
  std::unique_ptr<redis::Client> redis_;
};

// The call's x-forwarded-for entries, joined with ", " ("" when absent).
std::string XForwardedFor(const grpc::ServerContextBase& context);

// limiter->ClientAddressOf(peer, x-forwarded-for); the peer's address when
// `limiter` is null.
std::string ClientAddressOf(const Limiter* limiter,
                            const grpc::ServerContextBase& context);

// Checks `subjects`, then runs `next` if admitted; otherwise finishes
// `reactor` with the decision (RESOURCE_EXHAUSTED with RetryInfo and
// QuotaFailure, or UNAVAILABLE) and `next` is dropped. `limiter` null:
// `next` runs inline. Never blocks; `next` runs on a Redis I/O thread or
// inline, so it must only hand work off (it must not block). Exactly one of
// `next` running or `reactor` finishing happens.
void AdmitThen(Limiter* limiter, std::vector<Subject> subjects,
               grpc::ServerUnaryReactor* reactor,
               absl::AnyInvocable<void()> next);

}  // namespace admit::ratelimit

#endif  // ADMIT_COMMON_RATELIMIT_SERVICE_WIRING_H_
