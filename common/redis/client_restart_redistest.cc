// Integration tests that stop, restart or block Redis, so each runs its own
// private redis-server (deploy/local/redis.sh through PrivateRedis) and the
// shared one is never disturbed.
#include <chrono>
#include <thread>

#include "common/redis/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_support.h"

namespace admit::redis {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// "No hang": far above any timeout in play, far below the CTest timeout.
constexpr auto kNoHang = std::chrono::seconds(5);

std::unique_ptr<Client> NewClient(const std::string& url,
                                  milliseconds command_timeout) {
  ClientOptions options;
  options.url = url;
  options.connections = 2;
  options.command_timeout = command_timeout;
  options.connect_timeout = milliseconds(200);
  auto client = Client::Create(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

bool Pings(Client& client) {
  auto r = client.CommandSync({"PING"});
  return r.ok() && *r == Reply::Status("PONG");
}

TEST(RedisRestart, ClientFailsFastWhileDownAndRecoversAfterRestart) {
  testing::PrivateRedis redis;
  ASSERT_TRUE(redis.Start().ok());
  auto client = NewClient(redis.Url(), milliseconds(50));
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(
      testing::WaitFor([&] { return Pings(*client); }, milliseconds(10000)));
  ASSERT_EQ(client->CommandSync({"SET", "k", "before"}).value(),
            Reply::Status("OK"));

  ASSERT_TRUE(redis.Stop().ok());
  // Every command fails, promptly and with UNAVAILABLE (the first ones may
  // race the client noticing the closed connection: still UNAVAILABLE).
  for (int i = 0; i < 20; ++i) {
    const auto start = Clock::now();
    auto r = client->CommandSync({"GET", "k"});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
    EXPECT_LT(Clock::now() - start, kNoHang);
  }
  EXPECT_GE(client->stats().connect_failures, 1u);

  ASSERT_TRUE(redis.Start().ok());
  // Same Client, no intervention: commands succeed again once it reconnects
  // (the data is gone: this Redis keeps nothing across restarts).
  ASSERT_TRUE(
      testing::WaitFor([&] { return Pings(*client); }, milliseconds(10000)));
  EXPECT_EQ(client->CommandSync({"GET", "k"}).value(), Reply::Nil());
  EXPECT_EQ(client->CommandSync({"SET", "k", "after"}).value(),
            Reply::Status("OK"));
  EXPECT_GE(client->stats().reconnects, 1u);

  // EVALSHA survives the restart's empty script cache.
  Script script("return redis.call('GET', KEYS[1])");
  EXPECT_EQ(client->EvalShaSync(script, {"k"}, {}).value(),
            Reply::String("after"));
}

TEST(RedisRestart, BlockedRedisGivesDeadlineExceededThenRecovers) {
  testing::PrivateRedis redis;
  ASSERT_TRUE(redis.Start().ok());
  auto admin = NewClient(redis.Url(), milliseconds(2000));
  auto client = NewClient(redis.Url(), milliseconds(50));
  ASSERT_NE(admin, nullptr);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(
      testing::WaitFor([&] { return Pings(*client); }, milliseconds(10000)));

  // Redis holds every client's commands for 500 ms.
  ASSERT_EQ(admin->CommandSync({"CLIENT", "PAUSE", "500", "ALL"}).value(),
            Reply::Status("OK"));
  const auto start = Clock::now();
  auto r = client->CommandSync({"INCR", "n"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded)
      << r.status();
  EXPECT_LT(Clock::now() - start, kNoHang);
  EXPECT_GE(client->stats().timeouts, 1u);

  // Once the pause ends, the same client works again.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return client->CommandSync({"INCR", "n"}).ok();
      },
      milliseconds(10000)));
}

}  // namespace
}  // namespace admit::redis
