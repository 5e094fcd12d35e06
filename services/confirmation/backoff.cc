#include "services/confirmation/backoff.h"

#include <algorithm>
#include <cstdint>

namespace admit::confirmation {

std::chrono::milliseconds BackoffCeiling(const BackoffPolicy& policy,
                                         int failed_attempts) {
  const int64_t base = std::max<int64_t>(policy.base.count(), 1);
  const int64_t max = std::max<int64_t>(policy.max.count(), base);
  int64_t ceiling = base;
  for (int i = 1; i < failed_attempts && ceiling < max; ++i) ceiling *= 2;
  return std::chrono::milliseconds(std::min(ceiling, max));
}

std::chrono::milliseconds RetryDelay(const BackoffPolicy& policy,
                                     int failed_attempts, double uniform) {
  const double u = std::clamp(uniform, 0.0, 1.0);
  const auto ceiling = BackoffCeiling(policy, failed_attempts).count();
  const auto delay = static_cast<int64_t>(u * static_cast<double>(ceiling));
  return std::chrono::milliseconds(std::clamp<int64_t>(delay, 1, ceiling));
}

}  // namespace admit::confirmation
