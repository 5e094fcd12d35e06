#include "loadtest/driver.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

namespace admit::loadtest {
namespace {

// Counts answers; Wait returns when all n are in.
class Completion {
 public:
  explicit Completion(int64_t n) : remaining_(n) {}
  void One() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--remaining_ == 0) cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return remaining_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t remaining_;
};

}  // namespace

std::vector<Timing> RunClosedLoop(int64_t n, int clients, const IssueFn& issue,
                                  const RunClock& clock) {
  std::vector<Timing> timings(static_cast<size_t>(n));
  if (n <= 0) return timings;
  Completion completion(n);
  std::atomic<int64_t> next{0};
  // One client's loop: take the next index, send it, and on its answer go
  // again. Each index is taken by exactly one client, so timings[i] has one
  // writer; Completion's mutex orders those writes before our read.
  std::function<void()> client = [&] {
    const int64_t i = next.fetch_add(1);
    if (i >= n) return;
    Timing& t = timings[static_cast<size_t>(i)];
    t.intended_us = t.sent_us = clock.NowUs();
    issue(i, [&, i] {
      timings[static_cast<size_t>(i)].done_us = clock.NowUs();
      client();
      completion.One();
    });
  };
  for (int c = 0; c < clients; ++c) client();
  completion.Wait();
  return timings;
}

std::vector<Timing> RunOpenLoop(int64_t n, double rate_per_s, uint64_t seed,
                                const IssueFn& issue, const RunClock& clock) {
  std::vector<Timing> timings(static_cast<size_t>(n));
  if (n <= 0) return timings;
  Completion completion(n);
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(rate_per_s / 1e6);  // per µs
  const int64_t start = clock.NowUs();
  std::thread dispatcher([&] {
    double at = static_cast<double>(start);
    for (int64_t i = 0; i < n; ++i) {
      at += gap(rng);
      const auto intended = static_cast<int64_t>(at);
      std::this_thread::sleep_until(clock.At(intended));
      Timing& t = timings[static_cast<size_t>(i)];
      t.intended_us = intended;
      t.sent_us = clock.NowUs();
      issue(i, [&, i] {
        timings[static_cast<size_t>(i)].done_us = clock.NowUs();
        completion.One();
      });
    }
  });
  dispatcher.join();
  completion.Wait();
  return timings;
}

}  // namespace admit::loadtest
