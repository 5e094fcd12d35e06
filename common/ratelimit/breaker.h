// A circuit breaker in front of Redis, so that a dead Redis costs each
// request nothing rather than its timeout.
//
//   closed    --N consecutive failures-->        open
//   open      --cool_down elapsed, next Admit--> half-open (one probe)
//   half-open --probe succeeds-->                closed
//   half-open --probe fails-->                   open (cool-down restarts)
//
// Thread-safe. The clock is injected so tests drive it.
#ifndef ADMIT_COMMON_RATELIMIT_BREAKER_H_
#define ADMIT_COMMON_RATELIMIT_BREAKER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>

namespace admit::ratelimit {

class CircuitBreaker {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  enum class State { kClosed, kOpen, kHalfOpen };

  // `failure_threshold` >= 1; `clock` defaults to steady_clock::now.
  CircuitBreaker(int64_t failure_threshold, std::chrono::milliseconds cool_down,
                 Clock clock = nullptr);

  // Whether a call may go to Redis now. True when closed; when open, false
  // until the cool-down has passed, then true exactly once (the half-open
  // probe) and false for everyone else until that probe reports.
  bool Admit();
  // Outcome of a call that Admit() let through. Success closes the breaker
  // and resets the count; failure counts (closed) or re-opens (half-open).
  void OnSuccess();
  void OnFailure();

  State state() const;
  // True while requests are answered without asking Redis (open or
  // half-open): the value of the admit_rate_limit_breaker_open gauge.
  bool is_open() const { return state() != State::kClosed; }

 private:
  const int64_t threshold_;
  const std::chrono::milliseconds cool_down_;
  const Clock clock_;
  mutable std::mutex mu_;
  State state_ = State::kClosed;
  int64_t failures_ = 0;
  bool probe_in_flight_ = false;
  std::chrono::steady_clock::time_point opened_at_{};
};

}  // namespace admit::ratelimit

#endif  // ADMIT_COMMON_RATELIMIT_BREAKER_H_
