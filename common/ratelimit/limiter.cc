#include "common/ratelimit/limiter.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/token.h"
#include "common/ratelimit/gcra_script.h"
#include "common/status/status.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"

namespace admit::ratelimit {

namespace {

std::string VariableFor(const std::string& policy) {
  return absl::StrCat("ADMIT_RATE_LIMIT_", absl::AsciiStrToUpper(policy));
}

}  // namespace

struct Limiter::Metrics {
  std::map<std::string, prometheus::Counter*> limited;
  std::map<std::string, prometheus::Counter*> errors;
  prometheus::Histogram* latency = nullptr;
  prometheus::Gauge* breaker_open = nullptr;
};

// One Check in flight: a result slot per subject, each written once by its
// own Redis callback; the callback that completes the count finishes.
struct Limiter::Pending {
  std::vector<const Policy*> policies;
  std::vector<std::string> keys;
  std::vector<absl::StatusOr<GcraResult>> results;
  std::atomic<size_t> outstanding{0};
  std::chrono::steady_clock::time_point start;
  Callback done;
};

void AddRateLimitSettings(config::Settings& settings, LimiterOptions* options) {
  for (auto& [name, spec] : options->policies) {
    settings.AddString(
        VariableFor(name), spec,
        absl::StrCat("Rate-limit policy ", name,
                     ": rate/burst[/open|closed] (requests per second, "
                     "requests admitted at once, behaviour when Redis "
                     "cannot answer)."),
        &spec);
  }
  settings.AddDuration("ADMIT_RATE_LIMIT_TIMEOUT", options->timeout,
                       "Longest a rate-limit check waits for Redis before the "
                       "policy's fail mode applies.",
                       &options->timeout);
  settings.AddInt("ADMIT_RATE_LIMIT_BREAKER_FAILURES",
                  options->breaker_failures,
                  "Consecutive failed rate-limit checks after which Redis is "
                  "skipped (fail modes apply at once) for the cool-down.",
                  &options->breaker_failures, 1, 1'000'000);
  settings.AddDuration("ADMIT_RATE_LIMIT_BREAKER_COOL_DOWN",
                       options->breaker_cool_down,
                       "How long the rate-limit breaker skips Redis before one "
                       "probe check tries it again.",
                       &options->breaker_cool_down);
  settings.AddString("ADMIT_TRUSTED_PROXIES", options->trusted_proxies,
                     "Comma-separated CIDRs (IPv4/IPv6) of proxies whose "
                     "x-forwarded-for names the client; empty = none.",
                     &options->trusted_proxies);
}

redis::ClientOptions ClientOptionsFor(redis::ClientOptions base,
                                      const LimiterOptions& options) {
  base.command_timeout = options.timeout;
  return base;
}

absl::Status RateLimited(const std::string& policy,
                         std::chrono::milliseconds retry_after) {
  return admit::WithErrorInfo(
      admit::RateLimitedError(
          absl::StrCat("rate limited by policy ", policy, "; retry in ",
                       retry_after.count(), " ms"),
          retry_after, absl::StrCat("policy:", policy),
          "too many requests for this policy"),
      "RATE_LIMITED");
}

Limiter::Limiter(LimiterOptions options, redis::Client* redis)
    : options_(std::move(options)),
      redis_(redis),
      breaker_(options_.breaker_failures, options_.breaker_cool_down,
               options_.clock) {}

Limiter::~Limiter() = default;

absl::StatusOr<std::unique_ptr<Limiter>> Limiter::Create(
    LimiterOptions options, redis::Client* redis,
    prometheus::Registry* registry) {
  if (redis == nullptr) {
    return absl::InvalidArgumentError("ratelimit: no redis client");
  }
  if (options.timeout <= std::chrono::milliseconds(0)) {
    return absl::InvalidArgumentError("ADMIT_RATE_LIMIT_TIMEOUT must be > 0");
  }
  if (redis->options().command_timeout > options.timeout) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ratelimit: the redis client's command_timeout (",
        redis->options().command_timeout.count(),
        " ms) exceeds ADMIT_RATE_LIMIT_TIMEOUT (", options.timeout.count(),
        " ms); build it with ratelimit::ClientOptionsFor()"));
  }
  std::map<std::string, Policy> policies;
  for (const auto& [name, spec] : options.policies) {
    auto policy = ParsePolicy(name, spec);
    if (!policy.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(VariableFor(name), ": ", policy.status().message()));
    }
    policies.emplace(name, *policy);
  }
  auto trusted = ParseCidrList(options.trusted_proxies);
  if (!trusted.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ADMIT_TRUSTED_PROXIES: ", trusted.status().message()));
  }
  std::unique_ptr<Limiter> limiter(new Limiter(std::move(options), redis));
  limiter->policies_ = std::move(policies);
  limiter->trusted_ = std::move(*trusted);
  if (registry != nullptr) {
    auto m = std::make_unique<Metrics>();
    auto& limited = prometheus::BuildCounter()
                        .Name("admit_rate_limited_total")
                        .Help(
                            "Requests refused by a rate-limit policy, by "
                            "refusing policy.")
                        .Register(*registry);
    auto& errors = prometheus::BuildCounter()
                       .Name("admit_rate_limit_errors_total")
                       .Help(
                           "Rate-limit checks Redis did not answer (timeout, "
                           "down, breaker open), by policy; the policy's "
                           "fail mode applied.")
                       .Register(*registry);
    for (const auto& [name, policy] : limiter->policies_) {
      m->limited[name] = &limited.Add({{"policy", name}});
      m->errors[name] = &errors.Add({{"policy", name}});
    }
    m->latency = &prometheus::BuildHistogram()
                      .Name("admit_rate_limit_check_seconds")
                      .Help("Time from Limiter::Check to its decision.")
                      .Register(*registry)
                      .Add({}, prometheus::Histogram::BucketBoundaries{
                                   0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05, 0.1, 0.25});
    m->breaker_open = &prometheus::BuildGauge()
                           .Name("admit_rate_limit_breaker_open")
                           .Help(
                               "1 while the rate limiter skips Redis and "
                               "applies fail modes at once, else 0.")
                           .Register(*registry)
                           .Add({});
    limiter->metrics_ = std::move(m);
  }
  return limiter;
}

std::string Limiter::KeyFor(const Subject& subject) const {
  // Hashed: keys must not hold emails or addresses in clear (SCAN, MONITOR,
  // RDB files). 128 bits is plenty against collisions.
  return absl::StrCat(options_.key_prefix, "{", subject.policy, ":",
                      crypto::Sha256Hex(subject.subject).substr(0, 32), "}");
}

void Limiter::CountRefusal(const std::string& policy) {
  if (!metrics_) return;
  auto it = metrics_->limited.find(policy);
  if (it != metrics_->limited.end()) it->second->Increment();
}

std::string Limiter::ClientAddressOf(std::string_view peer,
                                     std::string_view x_forwarded_for) const {
  return ClientAddress(peer, x_forwarded_for, trusted_);
}

void Limiter::Check(std::vector<Subject> subjects, Callback done) {
  auto pending = std::make_shared<Pending>();
  pending->start = std::chrono::steady_clock::now();
  pending->done = std::move(done);
  for (const Subject& s : subjects) {
    const auto it = policies_.find(s.policy);
    if (it == policies_.end()) {
      Decision d;
      d.status = absl::InvalidArgumentError(
          absl::StrCat("ratelimit: unknown policy \"", s.policy, "\""));
      pending->done(std::move(d));
      return;
    }
    pending->policies.push_back(&it->second);
    pending->keys.push_back(KeyFor(s));
  }
  const size_t n = pending->policies.size();
  pending->results.assign(n, absl::UnavailableError("not checked"));
  if (n == 0) {
    Finish(*pending);
    return;
  }
  if (!breaker_.Admit()) {
    for (auto& r : pending->results) {
      r = absl::UnavailableError("ratelimit: circuit breaker open");
    }
    Finish(*pending);
    return;
  }
  pending->outstanding.store(n, std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) {
    const Policy& p = *pending->policies[i];
    redis_->EvalSha(
        GcraScript(), {pending->keys[i]},
        {absl::StrCat(p.EmissionMicros()), absl::StrCat(p.burst), "1", "take"},
        [this, pending, i](absl::StatusOr<redis::Reply> reply) {
          pending->results[i] = ParseGcraReply(reply);
          if (pending->outstanding.fetch_sub(1, std::memory_order_acq_rel) ==
              1) {
            bool failed = false;
            for (const auto& r : pending->results) {
              failed = failed || !r.ok();
            }
            if (failed) {
              breaker_.OnFailure();
            } else {
              breaker_.OnSuccess();
            }
            Finish(*pending);
          }
        });
  }
}

void Limiter::Finish(Pending& pending) {
  Decision d;
  const Policy* refused = nullptr;
  const Policy* unavailable = nullptr;
  for (size_t i = 0; i < pending.results.size(); ++i) {
    const Policy& p = *pending.policies[i];
    const auto& r = pending.results[i];
    if (!r.ok()) {
      if (metrics_) metrics_->errors[p.name]->Increment();
      if (p.fail_mode == FailMode::kClosed) {
        if (unavailable == nullptr) unavailable = &p;
      } else {
        d.degraded = true;
      }
      continue;
    }
    d.remaining =
        d.remaining < 0 ? r->remaining : std::min(d.remaining, r->remaining);
    if (!r->allowed) {
      if (metrics_) metrics_->limited[p.name]->Increment();
      if (refused == nullptr || r->retry_after > d.retry_after) {
        refused = &p;
        d.retry_after = r->retry_after;
      }
    }
  }
  if (refused != nullptr) {
    d.policy = refused->name;
    d.status = RateLimited(refused->name, d.retry_after);
  } else if (unavailable != nullptr) {
    d.policy = unavailable->name;
    d.retry_after = std::chrono::milliseconds(0);
    d.status = absl::UnavailableError(absl::StrCat(
        "rate limiter unavailable for policy ", unavailable->name));
  }
  if (!d.status.ok()) {
    // Policies that admitted this request took a token it will not use.
    for (size_t i = 0; i < pending.results.size(); ++i) {
      const auto& r = pending.results[i];
      if (!r.ok() || !r->allowed) continue;
      const Policy& p = *pending.policies[i];
      redis_->EvalSha(GcraScript(), {pending.keys[i]},
                      {absl::StrCat(p.EmissionMicros()), absl::StrCat(p.burst),
                       "1", "refund"},
                      [](absl::StatusOr<redis::Reply>) {});
    }
  }
  if (metrics_) {
    metrics_->latency->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                      pending.start)
            .count());
    metrics_->breaker_open->Set(breaker_.is_open() ? 1 : 0);
  }
  Callback done = std::move(pending.done);
  done(std::move(d));
}

}  // namespace admit::ratelimit
