// Integration tests against the harness's Redis (ADMIT_TEST_REDIS_URL).
// Subjects are unique per process and test, so runs do not collide. Rates
// are measured against Redis TIME; waits are condition-based.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/ratelimit/limiter.h"
#include "common/ratelimit/ratelimit_test_util.h"
#include "common/status/status.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/support/test_support.h"

namespace admit::ratelimit {
namespace {

using std::chrono::milliseconds;

class LimiterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string url = testing::RequireEnv("ADMIT_TEST_REDIS_URL");
    if (url.empty()) GTEST_SKIP() << "ADMIT_TEST_REDIS_URL not set";
    options_.policies = {{"burst", "5/10/open"}, {"slow", "1/1/closed"},
                         {"wide", "1/20/open"},  {"pair_a", "1/2/open"},
                         {"pair_b", "1/1/open"}, {"closed", "100/100/closed"}};
    options_.timeout = milliseconds(200);  // generous: a shared, busy machine
    redis::ClientOptions client_options;
    client_options.url = url;
    client_options.connections = 1;  // keeps a refund ordered before reads
    auto client =
        redis::Client::Create(ClientOptionsFor(client_options, options_));
    ASSERT_TRUE(client.ok()) << client.status();
    redis_ = std::move(*client);
    auto limiter = Limiter::Create(options_, redis_.get(), &registry_);
    ASSERT_TRUE(limiter.ok()) << limiter.status();
    limiter_ = std::move(*limiter);
    prefix_ = absl::StrCat(::getpid(), ":", std::random_device{}(), ":");
  }
  void TearDown() override {
    redis_.reset();  // completes callbacks while the limiter is alive
    limiter_.reset();
  }

  std::string S(const std::string& name) { return prefix_ + name; }

  // Redis server time in microseconds.
  int64_t RedisNowMicros() {
    auto reply = redis_->CommandSync({"TIME"});
    EXPECT_TRUE(reply.ok() && reply->elements().size() == 2);
    if (!reply.ok() || reply->elements().size() != 2) return 0;
    return std::stoll(reply->elements()[0].str()) * 1'000'000 +
           std::stoll(reply->elements()[1].str());
  }

  LimiterOptions options_;
  prometheus::Registry registry_;
  std::unique_ptr<redis::Client> redis_;
  std::unique_ptr<Limiter> limiter_;
  std::string prefix_;
};

TEST_F(LimiterTest, AdmitsExactlyBurstThenRatePerSecondOfRedisTime) {
  const Subject s{"burst", S("a")};  // 5/s, burst 10
  std::atomic<int> allowed{0};
  std::atomic<int> answered{0};
  for (int i = 0; i < 12; ++i) {  // all at once, pipelined
    limiter_->Check({s}, [&](Decision d) {
      if (d.status.ok()) allowed++;
      answered++;
    });
  }
  ASSERT_TRUE(
      testing::WaitFor([&] { return answered == 12; }, milliseconds(5000)));
  EXPECT_EQ(allowed, 10);
  // Now exactly one more per 200 ms of Redis time: poll for 2 s of it.
  const int64_t start = RedisNowMicros();
  int later = 0;
  int64_t now = start;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        if (CheckSync(*limiter_, {s}).status.ok()) later++;
        now = RedisNowMicros();
        return now - start >= 2'000'000;
      },
      milliseconds(30000), milliseconds(10)));
  const double expected = (now - start) / 200'000.0;  // 5/s
  EXPECT_GE(later, static_cast<int>(expected) - 1) << expected;
  EXPECT_LE(later, static_cast<int>(expected) + 1) << expected;
}

TEST_F(LimiterTest, ThirtyTwoConcurrentCheckersNeverExceedThePolicy) {
  const Subject s{"wide", S("race")};  // 1/s, burst 20
  std::atomic<int> allowed{0};
  const int64_t start = RedisNowMicros();
  std::vector<std::thread> threads;
  for (int t = 0; t < 32; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (CheckSync(*limiter_, {s}).status.ok()) allowed++;
      }
    });
  }
  for (auto& t : threads) t.join();
  const int64_t elapsed = RedisNowMicros() - start;
  // burst + what the rate added while they raced (+1: the partial second).
  EXPECT_LE(allowed, 20 + static_cast<int>(elapsed / 1'000'000) + 1);
  EXPECT_GE(allowed, 20);
}

TEST_F(LimiterTest, RetryAfterIsWhenARequestPassesAgain) {
  const Subject s{"slow", S("r")};  // 1/s, burst 1
  ASSERT_TRUE(CheckSync(*limiter_, {s}).status.ok());
  const int64_t refused_at = RedisNowMicros();
  const Decision refused = CheckSync(*limiter_, {s});
  ASSERT_EQ(refused.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.policy, "slow");
  EXPECT_GT(refused.retry_after, milliseconds(0));
  EXPECT_LE(refused.retry_after, milliseconds(1000));
  EXPECT_EQ(GetErrorReason(refused.status), "RATE_LIMITED");
  // Before retry_after has passed (it is still most of a second away):
  // refused again, with a smaller delay.
  const Decision early = CheckSync(*limiter_, {s});
  if (RedisNowMicros() <
      refused_at + refused.retry_after.count() * 1000 - 50'000) {
    EXPECT_EQ(early.status.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_LE(early.retry_after, refused.retry_after);
  }
  // Once Redis time has passed it: admitted.
  const int64_t due = refused_at + refused.retry_after.count() * 1000;
  ASSERT_TRUE(testing::WaitFor([&] { return RedisNowMicros() >= due + 1000; },
                               milliseconds(5000)));
  EXPECT_TRUE(CheckSync(*limiter_, {s}).status.ok());
}

TEST_F(LimiterTest, RefusalByOnePolicyGivesTheOthersTokensBack) {
  const Subject a{"pair_a", S("a")};                   // burst 2
  const Subject b{"pair_b", S("b")};                   // burst 1
  ASSERT_TRUE(CheckSync(*limiter_, {b}).status.ok());  // b now empty
  for (int i = 0; i < 3; ++i) {
    const Decision d = CheckSync(*limiter_, {a, b});
    EXPECT_EQ(d.status.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(d.policy, "pair_b");
  }
  // a gave back every token it took for the refused requests.
  EXPECT_TRUE(CheckSync(*limiter_, {a}).status.ok());
  EXPECT_TRUE(CheckSync(*limiter_, {a}).status.ok());
  EXPECT_FALSE(CheckSync(*limiter_, {a}).status.ok());
}

TEST_F(LimiterTest, LargestRetryAfterWinsAmongRefusals) {
  const Subject fast{"burst", S("f")};  // 5/s
  const Subject slow{"slow", S("s")};   // 1/s
  for (int i = 0; i < 10; ++i) CheckSync(*limiter_, {fast});
  CheckSync(*limiter_, {slow});
  const Decision d = CheckSync(*limiter_, {fast, slow});
  ASSERT_EQ(d.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(d.policy, "slow");
  EXPECT_GT(d.retry_after, milliseconds(200));
}

TEST_F(LimiterTest, UnknownPolicyIsACallerBug) {
  const Decision d = CheckSync(*limiter_, {{"nope", "x"}});
  EXPECT_EQ(d.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckSync(*limiter_, {}).status.ok());
}

TEST_F(LimiterTest, KeysAreHashTaggedAndExpire) {
  const Subject s{"slow", S("person@example.org")};
  const std::string key = limiter_->KeyFor(s);
  EXPECT_EQ(key.rfind("admit:rl:{slow:", 0), 0u) << key;
  EXPECT_EQ(key.back(), '}');
  EXPECT_EQ(key.find("example.org"), std::string::npos);
  ASSERT_TRUE(CheckSync(*limiter_, {s}).status.ok());
  auto ttl = redis::AsInteger(redis_->CommandSync({"PTTL", key}));
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_GT(*ttl, 0);
  EXPECT_LE(*ttl, 1000);
}

TEST_F(LimiterTest, ScriptFlushIsSurvived) {
  ASSERT_TRUE(redis_->CommandSync({"SCRIPT", "FLUSH"}).ok());
  EXPECT_TRUE(CheckSync(*limiter_, {{"closed", S("flush")}}).status.ok());
}

}  // namespace
}  // namespace admit::ratelimit
