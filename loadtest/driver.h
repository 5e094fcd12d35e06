// Sends numbered calls either closed-loop (a fixed number of clients, each
// sending its next call as soon as its previous one is answered) or
// open-loop (Poisson arrivals at a fixed rate, whatever the answers do), and
// records when each call was meant to go, went and was answered.
//
// Open loop measures latency from the *intended* send time: when the
// generator or the server falls behind, the wait counts against the server
// instead of being hidden (no coordinated omission).
#ifndef ADMIT_LOADTEST_DRIVER_H_
#define ADMIT_LOADTEST_DRIVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace admit::loadtest {

// Microseconds since the run's start (steady clock).
class RunClock {
 public:
  RunClock() : start_(std::chrono::steady_clock::now()) {}
  int64_t NowUs() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now() - start_)
        .count();
  }
  std::chrono::steady_clock::time_point At(int64_t us) const {
    return start_ + std::chrono::microseconds(us);
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

struct Timing {
  int64_t intended_us = -1;  // closed loop: = sent_us
  int64_t sent_us = -1;
  int64_t done_us = -1;
  int64_t latency_us() const { return done_us - intended_us; }
};

// Starts call `index`; must arrange for `done` to be called exactly once when
// it is answered (from any thread, typically a gRPC callback thread), and
// must not block.
using IssueFn = std::function<void(int64_t index, std::function<void()> done)>;

// Calls 0..n-1 from `clients` concurrent clients; returns once all are done.
std::vector<Timing> RunClosedLoop(int64_t n, int clients, const IssueFn& issue,
                                  const RunClock& clock);

// Calls 0..n-1 at Poisson arrivals of `rate_per_s` (seeded), sent from one
// dispatcher thread; returns once all are done.
std::vector<Timing> RunOpenLoop(int64_t n, double rate_per_s, uint64_t seed,
                                const IssueFn& issue, const RunClock& clock);

}  // namespace admit::loadtest

#endif  // ADMIT_LOADTEST_DRIVER_H_
