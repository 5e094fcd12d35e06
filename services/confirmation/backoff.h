// Retry delays of email delivery: exponential backoff with full jitter
// (AWS architecture blog, "Exponential Backoff And Jitter").
//
// Pure functions: the random draw is passed in, so tests check the bounds
// without a clock or a random generator. Thread-safe.
#ifndef ADMIT_SERVICES_CONFIRMATION_BACKOFF_H_
#define ADMIT_SERVICES_CONFIRMATION_BACKOFF_H_

#include <chrono>

namespace admit::confirmation {

struct BackoffPolicy {
  std::chrono::milliseconds base{1000};
  std::chrono::milliseconds max{5 * 60 * 1000};
};

// The upper bound of the wait after the `failed_attempts`-th failed attempt
// (1-based): min(max, base * 2^(failed_attempts - 1)). Never overflows;
// failed_attempts < 1 is treated as 1.
std::chrono::milliseconds BackoffCeiling(const BackoffPolicy& policy,
                                         int failed_attempts);

// Full jitter: `uniform` (in [0, 1); values outside are clamped) scaled to
// [0, BackoffCeiling]. The result is at least 1 ms so that a retry is never
// due in the same instant it was scheduled.
std::chrono::milliseconds RetryDelay(const BackoffPolicy& policy,
                                     int failed_attempts, double uniform);

}  // namespace admit::confirmation

#endif  // ADMIT_SERVICES_CONFIRMATION_BACKOFF_H_
