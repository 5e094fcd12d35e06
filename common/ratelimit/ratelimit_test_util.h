// Helpers shared by the ratelimit integration tests and the benchmark.
#ifndef ADMIT_COMMON_RATELIMIT_RATELIMIT_TEST_UTIL_H_
#define ADMIT_COMMON_RATELIMIT_RATELIMIT_TEST_UTIL_H_

#include <chrono>
#include <future>
#include <vector>

#include "common/ratelimit/limiter.h"

namespace admit::ratelimit {

// Check() made blocking, for tests and tools (never on a gRPC thread).
inline Decision CheckSync(Limiter& limiter, std::vector<Subject> subjects) {
  std::promise<Decision> promise;
  auto future = promise.get_future();
  limiter.Check(std::move(subjects),
                [&promise](Decision d) { promise.set_value(std::move(d)); });
  return future.get();
}

}  // namespace admit::ratelimit

#endif  // ADMIT_COMMON_RATELIMIT_RATELIMIT_TEST_UTIL_H_
