// The limiter against a private Redis that the test kills and restarts:
// fail modes, bounded waits, the breaker opening, and recovery without a
// new Limiter.
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/ratelimit/limiter.h"
#include "common/ratelimit/ratelimit_test_util.h"
#include "gtest/gtest.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "tests/support/test_support.h"

namespace admit::ratelimit {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// The value of metric `family` whose label policy is `policy` ("" for an
// unlabelled one); -1 if absent.
double MetricValue(prometheus::Registry& registry, const std::string& family,
                   const std::string& policy) {
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      const bool match =
          policy.empty() ? m.label.empty()
                         : (m.label.size() == 1 && m.label[0].value == policy);
      if (!match) continue;
      return f.type == prometheus::MetricType::Counter ? m.counter.value
                                                       : m.gauge.value;
    }
  }
  return -1;
}

TEST(LimiterRestart, FailModesBreakerAndRecovery) {
  testing::PrivateRedis server;
  ASSERT_TRUE(server.Start().ok());
  LimiterOptions options;
  options.policies = {{"open", "1/1/open"}, {"closed", "1/1/closed"}};
  options.timeout = milliseconds(50);
  options.breaker_failures = 3;
  options.breaker_cool_down = milliseconds(300);
  redis::ClientOptions client_options;
  client_options.url = server.Url();
  client_options.connections = 1;
  auto client =
      redis::Client::Create(ClientOptionsFor(client_options, options));
  ASSERT_TRUE(client.ok()) << client.status();
  prometheus::Registry registry;
  auto limiter = Limiter::Create(options, client->get(), &registry);
  ASSERT_TRUE(limiter.ok()) << limiter.status();
  Limiter& l = **limiter;

  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return CheckSync(l, {{"closed", "warm"}}).status.ok();
      },
      milliseconds(10000)));
  EXPECT_TRUE(CheckSync(l, {{"open", "a"}}).status.ok());
  EXPECT_FALSE(CheckSync(l, {{"open", "a"}}).status.ok());  // limiting works

  ASSERT_TRUE(server.Stop().ok());
  // Every check answers within a bound (generous: timeout plus a loaded
  // machine), fail-open ones allow, fail-closed ones are UNAVAILABLE.
  for (int i = 0; i < 20; ++i) {
    const auto start = steady_clock::now();
    const Decision open = CheckSync(l, {{"open", absl::StrCat("x", i)}});
    const Decision closed = CheckSync(l, {{"closed", absl::StrCat("y", i)}});
    EXPECT_LT(steady_clock::now() - start, milliseconds(2000));
    EXPECT_TRUE(open.status.ok()) << open.status;
    EXPECT_TRUE(open.degraded);
    EXPECT_EQ(closed.status.code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_NE(l.breaker_state(), CircuitBreaker::State::kClosed);
  EXPECT_EQ(MetricValue(registry, "admit_rate_limit_breaker_open", ""), 1);
  EXPECT_GE(MetricValue(registry, "admit_rate_limit_errors_total", "open"), 20);
  EXPECT_GE(MetricValue(registry, "admit_rate_limit_errors_total", "closed"),
            20);

  ASSERT_TRUE(server.Start().ok());
  // Limiting resumes on the same Limiter and Client (the breaker probes,
  // the client reconnects, EVALSHA reloads the script after NOSCRIPT).
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return CheckSync(l, {{"closed", "back"}}).status.ok();
      },
      milliseconds(15000)));
  EXPECT_EQ(l.breaker_state(), CircuitBreaker::State::kClosed);
  EXPECT_TRUE(CheckSync(l, {{"open", "after"}}).status.ok());
  const Decision again = CheckSync(l, {{"open", "after"}});
  EXPECT_EQ(again.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(again.degraded);
  EXPECT_EQ(MetricValue(registry, "admit_rate_limit_breaker_open", ""), 0);
  EXPECT_GE(MetricValue(registry, "admit_rate_limited_total", "open"), 2);
  client->reset();  // before the limiter: its callbacks use it
}

}  // namespace
}  // namespace admit::ratelimit
