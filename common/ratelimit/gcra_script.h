// The GCRA Lua script the limiter runs with EVALSHA, and its reply.
#ifndef ADMIT_COMMON_RATELIMIT_GCRA_SCRIPT_H_
#define ADMIT_COMMON_RATELIMIT_GCRA_SCRIPT_H_

#include <chrono>
#include <cstdint>

#include "absl/status/statusor.h"
#include "common/redis/client.h"
#include "common/redis/reply.h"

namespace admit::ratelimit {

// KEYS[1] = the bucket key (admit:rl:{policy:subject}); ARGV = emission
// interval T in microseconds, burst b, cost c, mode ("take" or "refund").
//
// State: one string, the theoretical arrival time (TAT) in microseconds of
// Redis server time (TIME), so every replica of every service agrees on
// "now". take: tat = max(TAT, now); new = tat + c*T; allowed iff
// new - b*T <= now; on success TAT := new with PEXPIRE at new - now (the
// horizon after which the key carries no information). refund: gives back c*T
// (TAT -= c*T, not below now), used when another policy refused the request.
// Reply: {allowed 0|1, retry_after_ms, remaining}.
const redis::Script& GcraScript();

struct GcraResult {
  bool allowed = false;
  std::chrono::milliseconds retry_after{0};  // 0 when allowed
  int64_t remaining = 0;  // requests that would pass right now after this one
};

// Reads the script's reply; INTERNAL for any other shape, error replies and
// transport failures as redis::AsArray does.
absl::StatusOr<GcraResult> ParseGcraReply(
    const absl::StatusOr<redis::Reply>& reply);

}  // namespace admit::ratelimit

#endif  // ADMIT_COMMON_RATELIMIT_GCRA_SCRIPT_H_
