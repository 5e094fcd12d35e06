// The pool across a Postgres restart, against a private Postgres this test
// stops and starts (deploy/local/postgres.sh through PrivatePostgres).
#include <gtest/gtest.h>

#include <future>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/pg/pool.h"
#include "pqxx/nontransaction"
#include "tests/support/test_support.h"

namespace admit::pg {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

absl::StatusOr<int> SelectOne(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  return tx.exec1("SELECT 1")[0].as<int>();
}

// A query that keeps its worker busy for a moment, so that n > pool size of
// them at once occupy every worker (a fast query may all run on one).
absl::StatusOr<int> SleepThenOne(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  return tx.exec1("SELECT 1 FROM pg_sleep(0.05)")[0].as<int>();
}

// Submits `n` queries (`query`, default SELECT 1) at once; true when every
// one succeeded.
bool AllSucceed(Pool& pool, int n,
                absl::StatusOr<int> (*query)(pqxx::connection&) = SelectOne) {
  std::vector<std::future<absl::StatusOr<int>>> results;
  for (int i = 0; i < n; ++i) {
    auto promise = std::make_shared<std::promise<absl::StatusOr<int>>>();
    results.push_back(promise->get_future());
    pool.Submit(query, [promise](absl::StatusOr<int> r) {
      promise->set_value(std::move(r));
    });
  }
  bool ok = true;
  for (auto& result : results) ok = result.get().ok() && ok;
  return ok;
}

TEST(PoolRestart, FailsWithUnavailableWhilePostgresIsDownAndRecoversAfter) {
  testing::PrivatePostgres postgres;
  ASSERT_TRUE(postgres.Start().ok()) << "see " << postgres.dir();
  PoolOptions options;
  options.url = postgres.Url();
  options.size = 4;
  options.connect_timeout = seconds(2);
  options.statement_timeout = seconds(30);
  options.queue_timeout = seconds(2);
  auto created = Pool::Create(options);
  ASSERT_TRUE(created.ok()) << created.status();
  Pool& pool = **created;
  ASSERT_TRUE(testing::WaitFor(
      [&] { return pool.stats().open_connections == 4; }, seconds(30)));
  ASSERT_TRUE(AllSucceed(pool, 8));
  ASSERT_TRUE(pool.Run([](pqxx::connection& conn) -> absl::Status {
                    pqxx::nontransaction tx(conn);
                    tx.exec(
                        "CREATE TABLE survivors (id int);"
                        "INSERT INTO survivors VALUES (7)");
                    return absl::OkStatus();
                  })
                  .ok());

  // A query in flight when the server stops fails, and is not re-run.
  std::promise<absl::Status> in_flight;
  pool.Submit(
      [](pqxx::connection& conn) -> absl::Status {
        pqxx::nontransaction tx(conn);
        tx.exec("SELECT pg_sleep(20)");
        return absl::OkStatus();
      },
      [&](absl::Status s) { in_flight.set_value(std::move(s)); });
  ASSERT_TRUE(
      testing::WaitFor([&] { return pool.stats().busy == 1; }, seconds(10)));

  ASSERT_TRUE(postgres.Stop().ok());
  absl::Status interrupted = in_flight.get_future().get();
  EXPECT_EQ(interrupted.code(), absl::StatusCode::kUnavailable) << interrupted;

  for (int i = 0; i < 8; ++i) {
    auto result = pool.Run(SelectOne);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable)
        << i << ": " << result.status();
  }

  ASSERT_TRUE(postgres.Start().ok()) << "see " << postgres.dir();
  EXPECT_TRUE(
      testing::WaitFor([&] { return pool.Run(SelectOne).ok(); }, seconds(30)));
  // Every worker reconnects, not just the first one to try. Workers
  // reconnect when they get a job, so keep all of them busy meanwhile.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return AllSucceed(pool, 16, SleepThenOne) &&
               pool.stats().open_connections == 4;
      },
      seconds(30)));
  auto survivor = pool.Run([](pqxx::connection& conn) -> absl::StatusOr<int> {
    pqxx::nontransaction tx(conn);
    return tx.exec1("SELECT id FROM survivors")[0].as<int>();
  });
  ASSERT_TRUE(survivor.ok()) << survivor.status();
  EXPECT_EQ(*survivor, 7);
  EXPECT_GE(pool.stats().broken_connections_total, 4);
}

}  // namespace
}  // namespace admit::pg
