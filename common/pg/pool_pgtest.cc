// The pool against a real Postgres (ADMIT_TEST_PG_URL). Every test uses its
// own schema or application_name, so test binaries may share one database.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/pg/pool.h"
#include "pqxx/nontransaction"
#include "tests/support/test_support.h"

namespace admit::pg {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string UniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static const uint32_t salt = std::random_device{}();
  return absl::StrCat(prefix, "_", ::getpid(), "_", salt % 100000, "_",
                      counter++);
}

std::string WithParam(const std::string& url, const std::string& param) {
  if (url.find("://") == std::string::npos)
    return absl::StrCat(url, " ", param);
  return absl::StrCat(url, url.find('?') == std::string::npos ? "?" : "&",
                      param);
}

PoolOptions Options() {
  PoolOptions options;
  options.url = testing::RequireEnv("ADMIT_TEST_PG_URL");
  options.size = 4;
  return options;
}

absl::StatusOr<int> SelectOne(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  return tx.exec1("SELECT 1")[0].as<int>();
}

absl::Status Exec(Pool& pool, const std::string& sql) {
  return pool.Run([sql](pqxx::connection& conn) -> absl::Status {
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
    return absl::OkStatus();
  });
}

// A job that holds its worker until Release(); Started() resolves once it
// runs. Lets tests fill the pool without timing.
class Blocker {
 public:
  void SubmitTo(Pool& pool) {
    pool.Submit(
        [this](pqxx::connection&) -> absl::Status {
          started_.set_value();
          release_future_.wait();
          return absl::OkStatus();
        },
        [this](absl::Status status) { done_.set_value(std::move(status)); });
  }
  void WaitStarted() { started_.get_future().wait(); }
  void Release() { release_.set_value(); }
  absl::Status Done() { return done_.get_future().get(); }

 private:
  std::promise<void> started_;
  std::promise<void> release_;
  std::shared_future<void> release_future_ = release_.get_future().share();
  std::promise<absl::Status> done_;
};

// A schema for one test, dropped at the end.
class PoolWithSchema : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pool = Pool::Create(Options());
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    schema_ = UniqueName("pool_test");
    ASSERT_TRUE(Exec(*pool_, absl::StrCat("CREATE SCHEMA ", schema_)).ok());
  }
  void TearDown() override {
    if (pool_ != nullptr) {
      EXPECT_TRUE(
          Exec(*pool_, absl::StrCat("DROP SCHEMA ", schema_, " CASCADE")).ok());
    }
  }
  std::unique_ptr<Pool> pool_;
  std::string schema_;
};

TEST(Pool, SubmitRunsOnAPoolThreadAndDeliversTheResult) {
  auto pool = Pool::Create(Options());
  ASSERT_TRUE(pool.ok()) << pool.status();
  const std::thread::id caller = std::this_thread::get_id();
  std::thread::id work_thread;
  std::promise<std::pair<absl::StatusOr<int>, std::thread::id>> delivered;
  (*pool)->Submit(
      [&](pqxx::connection& conn) -> absl::StatusOr<int> {
        work_thread = std::this_thread::get_id();
        pqxx::nontransaction tx(conn);
        return tx.exec_params1("SELECT $1::int + 1", 41)[0].as<int>();
      },
      [&](absl::StatusOr<int> result) {
        delivered.set_value({std::move(result), std::this_thread::get_id()});
      });
  auto future = delivered.get_future();
  ASSERT_EQ(future.wait_for(seconds(30)), std::future_status::ready);
  auto [result, done_thread] = future.get();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, 42);
  EXPECT_NE(work_thread, caller);
  EXPECT_EQ(done_thread, work_thread);
}

TEST(Pool, ThousandConcurrentSubmitsFromEightThreadsAllComplete) {
  PoolOptions options = Options();
  options.queue_timeout = seconds(60);
  auto pool = Pool::Create(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 125;
  std::atomic<int> done{0};
  std::atomic<int> ok{0};
  std::atomic<int64_t> sum{0};
  std::vector<std::thread> submitters;
  submitters.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int value = t * kPerThread + i;
        (*pool)->Submit(
            [value](pqxx::connection& conn) -> absl::StatusOr<int> {
              pqxx::nontransaction tx(conn);
              return tx.exec_params1("SELECT $1::int", value)[0].as<int>();
            },
            [&](absl::StatusOr<int> result) {
              if (result.ok()) {
                sum += *result;
                ++ok;
              }
              ++done;
            });
      }
    });
  }
  for (std::thread& t : submitters) t.join();
  constexpr int kTotal = kThreads * kPerThread;
  EXPECT_TRUE(
      testing::WaitFor([&] { return done.load() == kTotal; }, seconds(120)));
  EXPECT_EQ(ok.load(), kTotal);
  EXPECT_EQ(sum.load(), int64_t{kTotal} * (kTotal - 1) / 2);
  PoolStats stats = (*pool)->stats();
  EXPECT_EQ(stats.submitted_total, kTotal);
  EXPECT_EQ(stats.rejected_total, 0);
  EXPECT_EQ(stats.queued, 0);
}

TEST_F(PoolWithSchema, UniqueViolationIsAlreadyExists) {
  ASSERT_TRUE(Exec(*pool_, absl::StrCat("CREATE TABLE ", schema_,
                                        ".people (email text PRIMARY KEY)"))
                  .ok());
  const std::string insert = absl::StrCat("INSERT INTO ", schema_,
                                          ".people VALUES ('ada@example.org')");
  ASSERT_TRUE(Exec(*pool_, insert).ok());
  absl::Status second = Exec(*pool_, insert);
  EXPECT_EQ(second.code(), absl::StatusCode::kAlreadyExists) << second;
  EXPECT_EQ(second.message().find("ada@example.org"), std::string::npos);
}

TEST(Pool, StatementTimeoutIsDeadlineExceededAndTheConnectionStaysUsable) {
  PoolOptions options = Options();
  options.size = 1;
  options.statement_timeout = milliseconds(200);
  auto pool = Pool::Create(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::Status slow = Exec(**pool, "SELECT pg_sleep(5)");
  EXPECT_EQ(slow.code(), absl::StatusCode::kDeadlineExceeded) << slow;
  auto after = (*pool)->Run(SelectOne);
  EXPECT_TRUE(after.ok()) << after.status();
  EXPECT_EQ((*pool)->stats().broken_connections_total, 0);
}

TEST(Pool, AJobThatWaitsLongerThanTheQueueTimeoutFailsWithUnavailable) {
  PoolOptions options = Options();
  options.size = 1;
  options.queue_timeout = milliseconds(100);
  auto pool = Pool::Create(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  Blocker blocker;
  blocker.SubmitTo(**pool);
  blocker.WaitStarted();
  std::promise<absl::StatusOr<int>> waiting;
  (*pool)->Submit(SelectOne, [&](absl::StatusOr<int> result) {
    waiting.set_value(std::move(result));
  });
  absl::StatusOr<int> result = waiting.get_future().get();
  blocker.Release();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(result.status().message().find("database busy"), std::string::npos);
  EXPECT_TRUE(blocker.Done().ok());
  EXPECT_EQ((*pool)->stats().queue_timeouts_total, 1);
}

TEST(Pool, AFullQueueRejectsOnTheCallingThreadBeforeSubmitReturns) {
  PoolOptions options = Options();
  options.size = 1;
  options.max_queue = 1;
  options.queue_timeout = seconds(60);
  auto pool = Pool::Create(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  Blocker blocker;
  blocker.SubmitTo(**pool);
  blocker.WaitStarted();
  std::promise<absl::StatusOr<int>> queued;
  (*pool)->Submit(SelectOne, [&](absl::StatusOr<int> result) {
    queued.set_value(std::move(result));
  });
  std::optional<absl::StatusOr<int>> rejected;
  std::thread::id rejected_on;
  (*pool)->Submit(SelectOne, [&](absl::StatusOr<int> result) {
    rejected = std::move(result);
    rejected_on = std::this_thread::get_id();
  });
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(rejected_on, std::this_thread::get_id());
  blocker.Release();
  auto result = queued.get_future().get();
  EXPECT_TRUE(result.ok()) << result.status();
  EXPECT_EQ((*pool)->stats().rejected_total, 1);
}

TEST(Pool, RunOnAPoolThreadIsFailedPreconditionInsteadOfADeadlock) {
  auto pool = Pool::Create(Options());
  ASSERT_TRUE(pool.ok()) << pool.status();
  Pool* raw = pool->get();
  auto nested = raw->Run([raw](pqxx::connection&) -> absl::Status {
    return raw->Run(SelectOne).status();
  });
  EXPECT_EQ(nested.code(), absl::StatusCode::kFailedPrecondition) << nested;
}

TEST(Pool, ExceptionsFromWorkBecomeStatusesAndTheWorkerCarriesOn) {
  PoolOptions options = Options();
  options.size = 1;
  auto pool = Pool::Create(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::Status thrown = (*pool)->Run([](pqxx::connection&) -> absl::Status {
    throw std::runtime_error("boom");
  });
  EXPECT_EQ(thrown.code(), absl::StatusCode::kInternal);
  absl::Status bad_sql = Exec(**pool, "SELECT * FROM no_such_table_anywhere");
  EXPECT_EQ(bad_sql.code(), absl::StatusCode::kInternal);
  EXPECT_NE(bad_sql.message().find("42P01"), std::string::npos) << bad_sql;
  EXPECT_TRUE((*pool)->Run(SelectOne).ok());
}

TEST_F(PoolWithSchema, TransactCommitsWhatWorkDidAndRollsBackOnAnError) {
  ASSERT_TRUE(
      Exec(*pool_, absl::StrCat("CREATE TABLE ", schema_, ".t (id int)")).ok());
  const std::string table = schema_ + ".t";
  absl::Status committed =
      pool_->Run(Transact([&](pqxx::work& tx) -> absl::Status {
        tx.exec(absl::StrCat("INSERT INTO ", table, " VALUES (1)"));
        return absl::OkStatus();
      }));
  ASSERT_TRUE(committed.ok()) << committed;
  absl::Status rolled_back =
      pool_->Run(Transact([&](pqxx::work& tx) -> absl::Status {
        tx.exec(absl::StrCat("INSERT INTO ", table, " VALUES (2)"));
        return absl::NotFoundError("changed my mind");
      }));
  EXPECT_EQ(rolled_back.code(), absl::StatusCode::kNotFound);
  auto ids = pool_->Run([&](pqxx::connection& conn) -> absl::StatusOr<int> {
    pqxx::nontransaction tx(conn);
    return tx.exec1(absl::StrCat("SELECT sum(id) FROM ", table))[0].as<int>();
  });
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, 1);
}

class TransactRetry : public PoolWithSchema {
 protected:
  void SetUp() override {
    PoolWithSchema::SetUp();
    ASSERT_TRUE(
        Exec(*pool_, absl::StrCat("CREATE TABLE ", schema_,
                                  ".counter (id int PRIMARY KEY, v int);"
                                  "INSERT INTO ",
                                  schema_, ".counter VALUES (1, 0)"))
            .ok());
  }

  // Commits "v = v + 100" from another connection: a SERIALIZABLE
  // transaction that already read the row can no longer update it.
  void InterfereFromAnotherConnection() {
    pqxx::connection other(Options().url);
    pqxx::transaction<pqxx::serializable> tx(other);
    tx.exec(absl::StrCat("UPDATE ", schema_, ".counter SET v = v + 100"));
    tx.commit();
  }

  // Reads the counter, lets `interfere(attempt)` decide whether another
  // transaction commits in between, then increments it.
  absl::StatusOr<int> Increment(std::function<bool(int)> interfere,
                                RetryPolicy policy, int* attempts) {
    return pool_->Run(Transact<pqxx::serializable>(
        [&](pqxx::transaction<pqxx::serializable>& tx) -> absl::StatusOr<int> {
          ++*attempts;
          const int v = tx.exec1(absl::StrCat("SELECT v FROM ", schema_,
                                              ".counter WHERE id = 1"))[0]
                            .as<int>();
          if (interfere(*attempts)) InterfereFromAnotherConnection();
          tx.exec(absl::StrCat("UPDATE ", schema_, ".counter SET v = v + 1"));
          return v + 1;
        },
        policy));
  }

  int Counter() {
    auto v = pool_->Run([&](pqxx::connection& conn) -> absl::StatusOr<int> {
      pqxx::nontransaction tx(conn);
      return tx.exec1(absl::StrCat("SELECT v FROM ", schema_, ".counter"))[0]
          .as<int>();
    });
    EXPECT_TRUE(v.ok()) << v.status();
    return v.value_or(-1);
  }
};

TEST_F(TransactRetry, RetriesASerializationFailureAndCommitsOnce) {
  int attempts = 0;
  auto result = Increment([](int attempt) { return attempt == 1; },
                          RetryPolicy{}, &attempts);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(*result, 101);
  EXPECT_EQ(Counter(), 101);
}

TEST_F(TransactRetry, GivesUpWithAbortedAfterMaxAttempts) {
  int attempts = 0;
  RetryPolicy policy;
  policy.max_attempts = 3;
  auto result = Increment([](int) { return true; }, policy, &attempts);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted)
      << result.status();
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(Counter(), 300);
}

TEST(Pool, ReplacesConnectionsTheServerTerminatedWithoutFailingQueries) {
  const std::string app = UniqueName("pool_test_app");
  PoolOptions options = Options();
  options.size = 2;
  options.url = WithParam(options.url, "application_name=" + app);
  auto pool = Pool::Create(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  pqxx::connection admin(Options().url);
  auto backends = [&] {
    pqxx::nontransaction tx(admin);
    return tx
        .exec_params1(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            app)[0]
        .as<int>();
  };
  ASSERT_TRUE(testing::WaitFor(
      [&] { return (*pool)->stats().open_connections == 2; }, seconds(30)));
  ASSERT_EQ(backends(), 2);
  {
    pqxx::nontransaction tx(admin);
    tx.exec_params(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = $1",
        app);
  }
  // Gone from pg_stat_activity = the backend has sent its goodbye and exited.
  ASSERT_TRUE(testing::WaitFor([&] { return backends() == 0; }, seconds(30)));
  for (int i = 0; i < 10; ++i) {
    auto result = (*pool)->Run(SelectOne);
    EXPECT_TRUE(result.ok()) << i << ": " << result.status();
  }
  PoolStats stats = (*pool)->stats();
  EXPECT_EQ(stats.broken_connections_total, 2);
  EXPECT_EQ(stats.open_connections, 2);
}

TEST(Pool, DestructionFailsQueuedJobsAndRejectsNewOnes) {
  PoolOptions options = Options();
  options.size = 1;
  options.queue_timeout = seconds(60);
  auto created = Pool::Create(options);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<Pool> pool = std::move(*created);
  Pool* raw = pool.get();
  std::promise<void> started;
  std::atomic<bool> first_ok{false};
  // Holds the only worker until the destructor has begun.
  raw->Submit(
      [&](pqxx::connection&) -> absl::Status {
        started.set_value();
        testing::WaitFor([&] { return !raw->stats().accepting; }, seconds(30));
        return absl::OkStatus();
      },
      [&](const absl::Status& s) { first_ok = s.ok(); });
  started.get_future().wait();
  std::vector<absl::Status> queued(5);
  std::vector<absl::Status> resubmitted(5);
  for (int i = 0; i < 5; ++i) {
    raw->Submit(SelectOne, [&, i](const absl::StatusOr<int>& result) {
      queued[i] = result.status();
      raw->Submit(SelectOne, [&, i](const absl::StatusOr<int>& again) {
        resubmitted[i] = again.status();
      });
    });
  }
  pool.reset();
  EXPECT_TRUE(first_ok.load());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(queued[i].code(), absl::StatusCode::kUnavailable) << queued[i];
    EXPECT_EQ(resubmitted[i].code(), absl::StatusCode::kUnavailable)
        << resubmitted[i];
  }
}

}  // namespace
}  // namespace admit::pg
