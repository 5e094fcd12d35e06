// Integration tests against the harness's Redis (ADMIT_TEST_REDIS_URL).
// Keys are prefixed per process so parallel runs do not collide. Nothing
// here blocks or restarts that shared server (see client_restart_redistest
// for that, on a private one).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/redis/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_support.h"

namespace admit::redis {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

class RedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = testing::RequireEnv("ADMIT_TEST_REDIS_URL");
    if (url_.empty()) GTEST_SKIP() << "ADMIT_TEST_REDIS_URL not set";
    prefix_ = absl::StrCat("admit:test:redis:", ::getpid(), ":",
                           std::random_device()(), ":");
  }

  std::unique_ptr<Client> NewClient(
      milliseconds command_timeout = milliseconds(2000), int connections = 2) {
    ClientOptions options;
    options.url = url_;
    options.connections = connections;
    options.command_timeout = command_timeout;
    options.connect_timeout = milliseconds(1000);
    auto client = Client::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  std::string Key(std::string_view name) const {
    return prefix_ + std::string(name);
  }

  std::string url_;
  std::string prefix_;
};

TEST_F(RedisTest, SetGetIncrRoundTrip) {
  auto client = NewClient();
  ASSERT_NE(client, nullptr);
  const std::string binary("va\0l\r\nue", 8);
  EXPECT_EQ(client->CommandSync({"SET", Key("s"), binary, "EX", "60"}).value(),
            Reply::Status("OK"));
  EXPECT_EQ(client->CommandSync({"GET", Key("s")}).value(),
            Reply::String(binary));
  EXPECT_EQ(client->CommandSync({"GET", Key("missing")}).value(), Reply::Nil());
  EXPECT_EQ(*AsInteger(client->CommandSync({"INCR", Key("n")})), 1);
  EXPECT_EQ(*AsInteger(client->CommandSync({"INCRBY", Key("n"), "41"})), 42);
  auto array = AsArray(client->CommandSync({"MGET", Key("n"), Key("missing")}));
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(*array, (std::vector<Reply>{Reply::String("42"), Reply::Nil()}));
  client->CommandSync({"DEL", Key("s"), Key("n")}).IgnoreError();
}

TEST_F(RedisTest, ConcurrentIncrsAreAllCountedAndPipelined) {
  constexpr int kThreads = 32;
  constexpr int kPerThread = 1000;
  auto client = NewClient();
  ASSERT_NE(client, nullptr);
  const std::string key = Key("counter");
  ASSERT_TRUE(client->CommandSync({"DEL", key}).ok());
  const ClientStats before = client->stats();

  std::atomic<int> failures{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        auto n = AsInteger(client->CommandSync({"INCR", key}));
        if (!n.ok()) {
          if (failures.fetch_add(1) < 5) ADD_FAILURE() << n.status();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(client->CommandSync({"GET", key}).value(),
            Reply::String(std::to_string(kThreads * kPerThread)));
  const ClientStats after = client->stats();
  const uint64_t sent = after.commands_sent - before.commands_sent;
  const uint64_t batches = after.batches - before.batches;
  ASSERT_GT(batches, 0u);
  const double average =
      static_cast<double>(sent) / static_cast<double>(batches);
  // 32 callers waiting on 2 connections: replies come back while new
  // commands queue up, so batches must hold more than one command.
  EXPECT_GT(average, 1.0) << "sent " << sent << " in " << batches << " batches";
  std::printf(
      "32x1000 INCR: %.0f commands/s, %.2f commands per batch "
      "(max %llu), %llu batches\n",
      kThreads * kPerThread / seconds, average,
      static_cast<unsigned long long>(after.max_batch),
      static_cast<unsigned long long>(batches));
  RecordProperty("incr_per_second",
                 static_cast<int>(kThreads * kPerThread / seconds));
  client->CommandSync({"DEL", key}).IgnoreError();
}

TEST_F(RedisTest, AsyncFloodCompletesInOrderPerConnection) {
  // One connection: replies must be matched to commands in order, so each
  // INCR's reply is exactly one more than the previous one's.
  constexpr int kCommands = 5000;  // below max_pending (10000)
  auto client = NewClient(milliseconds(5000), /*connections=*/1);
  ASSERT_NE(client, nullptr);
  const std::string key = Key("ordered");
  ASSERT_TRUE(client->CommandSync({"DEL", key}).ok());
  std::vector<int64_t> seen;
  seen.reserve(kCommands);
  std::atomic<int> done{0};
  std::atomic<int> errors{0};
  for (int i = 0; i < kCommands; ++i) {
    client->Command({"INCR", key}, [&](absl::StatusOr<Reply> r) {
      // All on the one I/O thread: no lock needed for `seen`.
      if (r.ok() && r->is_integer()) {
        seen.push_back(r->integer());
      } else {
        ++errors;
      }
      done.fetch_add(1, std::memory_order_release);
    });
  }
  ASSERT_TRUE(testing::WaitFor(
      [&] { return done.load(std::memory_order_acquire) == kCommands; },
      milliseconds(30000)));
  EXPECT_EQ(errors.load(), 0);
  ASSERT_EQ(seen.size(), static_cast<size_t>(kCommands));
  for (int i = 0; i < kCommands; ++i) ASSERT_EQ(seen[i], i + 1) << i;
  EXPECT_GT(client->stats().max_batch, 1u);
  client->CommandSync({"DEL", key}).IgnoreError();
}

TEST_F(RedisTest, ErrorRepliesAreRepliesNotStatuses) {
  auto client = NewClient();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->CommandSync({"SET", Key("str"), "x", "EX", "60"}).ok());
  auto wrongtype = client->CommandSync({"LPUSH", Key("str"), "y"});
  ASSERT_TRUE(wrongtype.ok()) << wrongtype.status();
  EXPECT_TRUE(wrongtype->is_error());
  EXPECT_EQ(wrongtype->error_code(), "WRONGTYPE");

  auto unknown = client->CommandSync({"NOSUCHCOMMAND", "a"});
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_TRUE(unknown->is_error());
  EXPECT_EQ(unknown->error_code(), "ERR");

  // The connection stays in step after errors.
  EXPECT_EQ(client->CommandSync({"GET", Key("str")}).value(),
            Reply::String("x"));
  EXPECT_GE(client->stats().error_replies, 2u);
  EXPECT_EQ(client->stats().failed, 0u);
  client->CommandSync({"DEL", Key("str")}).IgnoreError();
}

TEST_F(RedisTest, EvalShaFallsBackToEvalOnNoscript) {
  auto client = NewClient();
  ASSERT_NE(client, nullptr);
  // A source no other test loads, so the first EVALSHA surely misses.
  Script script(absl::StrCat("-- ", prefix_, "\n",
                             "return redis.call('INCRBY', KEYS[1], ARGV[1])"));
  const std::string key = Key("script");

  auto first = client->EvalShaSync(script, {key}, {"5"});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, Reply::Integer(5));
  EXPECT_EQ(client->stats().noscript_fallbacks, 1u);

  // Now cached: no fallback.
  EXPECT_EQ(client->EvalShaSync(script, {key}, {"1"}).value(),
            Reply::Integer(6));
  EXPECT_EQ(client->stats().noscript_fallbacks, 1u);

  // Script cache gone (as after a Redis restart): transparent again.
  ASSERT_EQ(client->CommandSync({"SCRIPT", "FLUSH"}).value(),
            Reply::Status("OK"));
  EXPECT_EQ(client->EvalShaSync(script, {key}, {"1"}).value(),
            Reply::Integer(7));
  EXPECT_EQ(client->stats().noscript_fallbacks, 2u);

  // Concurrent callers after a flush: every one succeeds.
  ASSERT_TRUE(client->CommandSync({"SCRIPT", "FLUSH"}).ok());
  std::atomic<int> ok{0};
  std::atomic<int> done{0};
  for (int i = 0; i < 100; ++i) {
    client->EvalSha(script, {key}, {"1"}, [&](absl::StatusOr<Reply> r) {
      if (r.ok() && r->is_integer()) ++ok;
      ++done;
    });
  }
  ASSERT_TRUE(testing::WaitFor([&] { return done.load() == 100; },
                               milliseconds(10000)));
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(client->CommandSync({"GET", key}).value(), Reply::String("107"));

  // An error raised by the script is an error reply.
  Script failing("return redis.error_reply('LIMITED by policy')");
  auto error = client->EvalShaSync(failing, {}, {});
  ASSERT_TRUE(error.ok()) << error.status();
  EXPECT_TRUE(error->is_error());
  EXPECT_THAT(error->str(), HasSubstr("LIMITED by policy"));
  client->CommandSync({"DEL", key}).IgnoreError();
}

TEST_F(RedisTest, ClosedPortFailsWithUnavailable) {
  ClientOptions options;
  options.url = absl::StrCat("redis://127.0.0.1:", testing::FreePort());
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok());
  const auto start = std::chrono::steady_clock::now();
  auto r = (*client)->CommandSync({"PING"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace admit::redis
