// Rate-limit policies: what a policy is, how one is written in the
// environment, and admit's defaults.
#ifndef ADMIT_COMMON_RATELIMIT_POLICY_H_
#define ADMIT_COMMON_RATELIMIT_POLICY_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace admit::ratelimit {

// What a check does when Redis cannot answer (timeout, down, breaker open).
enum class FailMode {
  kOpen,    // allow the request; count admit_rate_limit_errors_total{policy}
  kClosed,  // refuse it with UNAVAILABLE (the client may retry)
};

// One GCRA policy: a sustained `rate` per second and a `burst` admitted at
// once from idle. Values, freely copyable.
struct Policy {
  std::string name;   // [a-z0-9_]+; a metric label and part of the Redis key
  double rate = 1;    // requests per second, > 0 (0.1 = one per 10 s)
  int64_t burst = 1;  // >= 1
  FailMode fail_mode = FailMode::kOpen;

  // The GCRA emission interval T = 1/rate, in microseconds (>= 1).
  int64_t EmissionMicros() const;
};

// Parses "rate/burst[/open|closed]" (e.g. "10/20", "0.2/5/closed"); the fail
// mode defaults to open. INVALID_ARGUMENT saying what is wrong otherwise.
absl::StatusOr<Policy> ParsePolicy(std::string_view name,
                                   std::string_view spec);

// Policy name -> spec, admit's documented defaults (see README.md):
//   ip        10/20/open      per client address, every public call
//   email     0.2/5/open      per normalized email, Register
//   api_key   50/100/open     per API key
//   event     500/1000/open   per event, Register attempts (protects Postgres)
//   resend    0.0167/3/closed per registration, ResendConfirmation (~1/min)
//   organizer 20/50/open      per organizer key, organizer calls
const std::map<std::string, std::string>& DefaultPolicySpecs();

}  // namespace admit::ratelimit

#endif  // ADMIT_COMMON_RATELIMIT_POLICY_H_
