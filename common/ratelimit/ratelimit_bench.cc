// ratelimit_bench: throughput and latency of Limiter::Check against a real
// Redis. Not a test. Usage:
//   ratelimit_bench redis://127.0.0.1:6379 [checks=100000] [in_flight=50]
// Prints the checks/s with `in_flight` concurrent checks (distinct subjects,
// one policy, pipelined on the client's connections) and the p50/p99 latency
// of one check at a time (the latency a request sees on an idle limiter),
// next to a raw PING round trip on the same client for the "added" figure.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/ratelimit/limiter.h"
#include "common/ratelimit/ratelimit_test_util.h"

using namespace admit;  // NOLINT: a small tool
using Clock = std::chrono::steady_clock;

namespace {

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[static_cast<size_t>(p * (v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s REDIS_URL [checks] [in_flight]\n", argv[0]);
    return 2;
  }
  const int64_t checks = argc > 2 ? std::atoll(argv[2]) : 100000;
  const int64_t in_flight = argc > 3 ? std::atoll(argv[3]) : 50;
  ratelimit::LimiterOptions options;
  options.policies = {{"bench", "1000000/1000000/open"}};
  options.timeout = std::chrono::milliseconds(1000);
  redis::ClientOptions client_options;
  client_options.url = argv[1];
  auto client = redis::Client::Create(
      ratelimit::ClientOptionsFor(client_options, options));
  if (!client.ok())
    return std::fprintf(stderr, "%s\n", client.status().ToString().c_str()), 1;
  auto limiter = ratelimit::Limiter::Create(options, client->get(), nullptr);
  if (!limiter.ok())
    return std::fprintf(stderr, "%s\n", limiter.status().ToString().c_str()), 1;
  ratelimit::Limiter& l = **limiter;
  // Warm up: connect, load the script.
  for (int i = 0; i < 100; ++i) ratelimit::CheckSync(l, {{"bench", "warm"}});

  // Throughput: keep `in_flight` checks outstanding.
  std::mutex mu;
  std::condition_variable cv;
  int64_t issued = 0, completed = 0, failed = 0;
  const auto start = Clock::now();
  std::function<void()> issue = [&] {
    const int64_t n = issued++;
    l.Check({{"bench", absl::StrCat("s", n % 10000)}},
            [&](ratelimit::Decision d) {
              std::lock_guard lock(mu);
              ++completed;
              if (!d.status.ok() || d.degraded) ++failed;
              if (issued < checks) issue();
              cv.notify_all();
            });
  };
  {
    std::unique_lock lock(mu);
    for (int64_t i = 0; i < in_flight && issued < checks; ++i) issue();
    cv.wait(lock, [&] { return completed == checks; });
  }
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();

  // Latency, one at a time: Check vs a plain PING on the same client.
  std::vector<double> check_us, ping_us;
  for (int i = 0; i < 2000; ++i) {
    auto t0 = Clock::now();
    ratelimit::CheckSync(l, {{"bench", absl::StrCat("l", i % 100)}});
    auto t1 = Clock::now();
    (void)(*client)->CommandSync({"PING"});
    auto t2 = Clock::now();
    check_us.push_back(
        std::chrono::duration<double, std::micro>(t1 - t0).count());
    ping_us.push_back(
        std::chrono::duration<double, std::micro>(t2 - t1).count());
  }
  std::printf(
      "checks=%lld in_flight=%lld failed=%lld\n"
      "throughput: %.0f checks/s\n"
      "sequential check latency: p50 %.0f us, p99 %.0f us\n"
      "sequential PING latency:  p50 %.0f us, p99 %.0f us\n"
      "added p50 over a PING round trip: %.0f us\n"
      "client: average batch %.1f commands, max batch %llu\n",
      static_cast<long long>(checks), static_cast<long long>(in_flight),
      static_cast<long long>(failed), checks / seconds,
      Percentile(check_us, 0.5), Percentile(check_us, 0.99),
      Percentile(ping_us, 0.5), Percentile(ping_us, 0.99),
      Percentile(check_us, 0.5) - Percentile(ping_us, 0.5),
      (*client)->stats().average_batch(),
      static_cast<unsigned long long>((*client)->stats().max_batch));
  client->reset();
  return 0;
}
