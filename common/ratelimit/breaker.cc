#include "common/ratelimit/breaker.h"

#include <utility>

namespace admit::ratelimit {

CircuitBreaker::CircuitBreaker(int64_t failure_threshold,
                               std::chrono::milliseconds cool_down, Clock clock)
    : threshold_(failure_threshold < 1 ? 1 : failure_threshold),
      cool_down_(cool_down),
      clock_(clock ? std::move(clock)
                   : Clock([] { return std::chrono::steady_clock::now(); })) {}

bool CircuitBreaker::Admit() {
  std::lock_guard lock(mu_);
  switch (state_) {
    case State::kClosed:
      return true;
    case State::kOpen:
      if (clock_() - opened_at_ < cool_down_) return false;
      state_ = State::kHalfOpen;
      probe_in_flight_ = true;
      return true;
    case State::kHalfOpen:
      return false;  // the probe is in flight
  }
  return false;
}

void CircuitBreaker::OnSuccess() {
  std::lock_guard lock(mu_);
  state_ = State::kClosed;
  failures_ = 0;
  probe_in_flight_ = false;
}

void CircuitBreaker::OnFailure() {
  std::lock_guard lock(mu_);
  // A late failure of a call admitted before the breaker opened must not
  // push the end of the cool-down further away.
  if (state_ == State::kOpen) return;
  if (state_ == State::kHalfOpen || ++failures_ >= threshold_) {
    state_ = State::kOpen;
    opened_at_ = clock_();
    probe_in_flight_ = false;
    failures_ = 0;
  }
}

CircuitBreaker::State CircuitBreaker::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

}  // namespace admit::ratelimit
