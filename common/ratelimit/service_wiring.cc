#include "common/ratelimit/service_wiring.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/server/guard.h"
#include "common/status/status.h"

namespace admit::ratelimit {

void AddServiceLimiterSettings(config::Settings& settings,
                               ServiceLimiterOptions* options,
                               bool add_redis_settings) {
  settings.AddBool("ADMIT_RATE_LIMIT_ENABLED", options->enabled,
                   "Check the ADMIT_RATE_LIMIT_* policies in Redis "
                   "(ADMIT_REDIS_URL) before doing a request's work; false "
                   "turns rate limiting off (benchmarks, a Redis-less "
                   "setup).",
                   &options->enabled);
  AddRateLimitSettings(settings, &options->limiter);
  if (!add_redis_settings) return;
  // redis::AddClientSettings but ADMIT_REDIS_COMMAND_TIMEOUT: the limiter's
  // client waits ADMIT_RATE_LIMIT_TIMEOUT (ClientOptionsFor).
  redis::ClientOptions& r = options->redis;
  settings.AddString("ADMIT_REDIS_URL", r.url,
                     "Redis server of the rate limiter: "
                     "redis://[[username]:password@]host[:port][/db].",
                     &r.url);
  settings.AddInt("ADMIT_REDIS_CONNECTIONS", r.connections,
                  "Connections to Redis (one I/O thread each); concurrent "
                  "rate-limit checks are pipelined on them.",
                  &r.connections, 1, 64);
  settings.AddDuration("ADMIT_REDIS_CONNECT_TIMEOUT", r.connect_timeout,
                       "Bound on opening one Redis connection (and the "
                       "longest wait between reconnect attempts).",
                       &r.connect_timeout);
}

absl::StatusOr<std::unique_ptr<ServiceLimiter>> ServiceLimiter::Create(
    const ServiceLimiterOptions& options, prometheus::Registry* registry) {
  std::unique_ptr<ServiceLimiter> out(new ServiceLimiter());
  if (!options.enabled) return out;
  auto client =
      redis::Client::Create(ClientOptionsFor(options.redis, options.limiter));
  if (!client.ok()) return client.status();
  out->redis_ = *std::move(client);
  auto limiter = Limiter::Create(options.limiter, out->redis_.get(), registry);
  if (!limiter.ok()) return limiter.status();
  out->limiter_ = *std::move(limiter);
  return out;
}

ServiceLimiter::~ServiceLimiter() {
  // The client first: its callbacks use the limiter.
  redis_.reset();
  limiter_.reset();
}

std::string XForwardedFor(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto [begin, end] = metadata.equal_range("x-forwarded-for");
  std::string out;
  for (auto it = begin; it != end; ++it) {
    if (!out.empty()) out += ", ";
    out.append(it->second.data(), it->second.size());
  }
  return out;
}

std::string ClientAddressOf(const Limiter* limiter,
                            const grpc::ServerContextBase& context) {
  if (limiter == nullptr) return context.peer();
  return limiter->ClientAddressOf(context.peer(), XForwardedFor(context));
}

void AdmitThen(Limiter* limiter, std::vector<Subject> subjects,
               grpc::ServerUnaryReactor* reactor,
               absl::AnyInvocable<void()> next) {
  if (limiter == nullptr) {
    next();
    return;
  }
  // Limiter::Callback is a std::function (copyable): share the move-only
  // continuation.
  auto shared = std::make_shared<absl::AnyInvocable<void()>>(std::move(next));
  limiter->Check(std::move(subjects), [reactor, shared](Decision decision) {
    if (!decision.status.ok()) {
      reactor->Finish(ToGrpcStatus(decision.status));
      return;
    }
    // Limiter callbacks must not throw (the redis::Client would drop the
    // exception and the call would never finish).
    grpc::Status failed = server::CallGuarded("rate limit", [&] {
      (*shared)();
      return grpc::Status::OK;
    });
    if (!failed.ok()) reactor->Finish(failed);
  });
}

}  // namespace admit::ratelimit
