#include "common/pg/pool.h"

#include <gtest/gtest.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "tests/support/test_support.h"

namespace admit::pg {
namespace {

absl::Status Map(auto exception) {
  return ExceptionToStatus(std::make_exception_ptr(exception));
}

TEST(ExceptionToStatus, NullIsOk) {
  EXPECT_TRUE(ExceptionToStatus(nullptr).ok());
}

TEST(ExceptionToStatus, UniqueViolationIsAlreadyExistsWithoutTheKeyValues) {
  absl::Status s = Map(pqxx::unique_violation(
      "ERROR:  duplicate key value violates unique constraint "
      "\"registrations_email_key\"\n"
      "DETAIL:  Key (email)=(ada@example.org) already exists.\n",
      "INSERT INTO registrations ...", "23505"));
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(s.message().find("registrations_email_key"), std::string::npos);
  EXPECT_EQ(s.message().find("ada@example.org"), std::string::npos);
  EXPECT_EQ(s.message().find("ERROR:"), std::string::npos);
}

TEST(ExceptionToStatus, RetryableTransactionFailuresAreAborted) {
  EXPECT_EQ(Map(pqxx::serialization_failure("could not serialize")).code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(Map(pqxx::deadlock_detected("deadlock detected")).code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(Map(pqxx::transaction_rollback("rolled back")).code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(Map(pqxx::sql_error("could not serialize", "q", "40001")).code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(Map(pqxx::sql_error("lock not available", "q", "55P03")).code(),
            absl::StatusCode::kAborted);
}

TEST(ExceptionToStatus, ConnectionFailuresAreUnavailable) {
  EXPECT_EQ(Map(pqxx::broken_connection("server closed the connection")).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(Map(pqxx::too_many_connections("too many clients")).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(Map(pqxx::sql_error("FATAL:  terminating connection due to "
                                "administrator command",
                                "q", "57P01"))
                .code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(Map(pqxx::sql_error("connection failure", "q", "08006")).code(),
            absl::StatusCode::kUnavailable);
}

TEST(ExceptionToStatus, UnknownCommitOutcomeIsUnknown) {
  EXPECT_EQ(Map(pqxx::in_doubt_error("lost connection during commit")).code(),
            absl::StatusCode::kUnknown);
  EXPECT_EQ(Map(pqxx::statement_completion_unknown("unknown")).code(),
            absl::StatusCode::kUnknown);
}

TEST(ExceptionToStatus, StatementTimeoutIsDeadlineExceeded) {
  absl::Status s = Map(
      pqxx::sql_error("ERROR:  canceling statement due to statement timeout\n",
                      "SELECT pg_sleep(10)", "57014"));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(s.message(),
            "pg 57014: canceling statement due to statement timeout");
}

TEST(ExceptionToStatus, OtherSqlErrorsAreInternalWithTheSqlState) {
  absl::Status s = Map(pqxx::undefined_table(
      "ERROR:  relation \"nope\" does not exist\nLINE 1: SELECT ...\n",
      "SELECT * FROM nope", "42P01"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s.message(), "pg 42P01: relation \"nope\" does not exist");
}

TEST(ExceptionToStatus, NonPqxxExceptionsAreInternal) {
  EXPECT_EQ(Map(std::runtime_error("boom")).code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(Map(pqxx::conversion_error("not an int")).code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(Map(42).code(), absl::StatusCode::kInternal);
}

config::Lookup FromMap(std::map<std::string, std::string> values) {
  return [values = std::move(values)](
             const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

TEST(AddPoolSettings, DefaultsWhenUnset) {
  PoolOptions options;
  config::Settings settings("admit-test", "Test.");
  AddPoolSettings(settings, &options);
  ASSERT_TRUE(settings.Load(FromMap({})).ok());
  EXPECT_EQ(options.url, "postgresql://postgres@127.0.0.1:5432/admit");
  EXPECT_EQ(options.size, 8);
  EXPECT_EQ(options.connect_timeout, std::chrono::seconds(5));
  EXPECT_EQ(options.statement_timeout, std::chrono::seconds(5));
  EXPECT_EQ(options.queue_timeout, std::chrono::seconds(2));
  EXPECT_EQ(options.max_queue, 10000);
  const std::string help = settings.Help();
  for (const char* name :
       {"ADMIT_PG_URL", "ADMIT_PG_POOL_SIZE", "ADMIT_PG_CONNECT_TIMEOUT",
        "ADMIT_PG_STATEMENT_TIMEOUT", "ADMIT_PG_QUEUE_TIMEOUT",
        "ADMIT_PG_MAX_QUEUE"}) {
    EXPECT_NE(help.find(name), std::string::npos) << name;
  }
}

TEST(AddPoolSettings, ReadsEveryVariable) {
  PoolOptions options;
  config::Settings settings("admit-test", "Test.");
  AddPoolSettings(settings, &options);
  ASSERT_TRUE(settings
                  .Load(FromMap({{"ADMIT_PG_URL", "postgresql://db/x"},
                                 {"ADMIT_PG_POOL_SIZE", "3"},
                                 {"ADMIT_PG_CONNECT_TIMEOUT", "1s"},
                                 {"ADMIT_PG_STATEMENT_TIMEOUT", "250ms"},
                                 {"ADMIT_PG_QUEUE_TIMEOUT", "1m"},
                                 {"ADMIT_PG_MAX_QUEUE", "17"}}))
                  .ok());
  EXPECT_EQ(options.url, "postgresql://db/x");
  EXPECT_EQ(options.size, 3);
  EXPECT_EQ(options.connect_timeout, std::chrono::seconds(1));
  EXPECT_EQ(options.statement_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(options.queue_timeout, std::chrono::minutes(1));
  EXPECT_EQ(options.max_queue, 17);
}

TEST(AddPoolSettings, RejectsAPoolSizeOfZeroNamingTheVariable) {
  PoolOptions options;
  config::Settings settings("admit-test", "Test.");
  AddPoolSettings(settings, &options);
  absl::Status s = settings.Load(FromMap({{"ADMIT_PG_POOL_SIZE", "0"}}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("ADMIT_PG_POOL_SIZE"), std::string::npos);
}

TEST(WithConnectTimeout, AddsWholeSecondsRoundedUp) {
  using std::chrono::milliseconds;
  EXPECT_EQ(WithConnectTimeout("postgresql://h/db", milliseconds(5000)),
            "postgresql://h/db?connect_timeout=5");
  EXPECT_EQ(
      WithConnectTimeout("postgres://h/db?sslmode=disable", milliseconds(1500)),
      "postgres://h/db?sslmode=disable&connect_timeout=2");
  EXPECT_EQ(WithConnectTimeout("host=h dbname=db", milliseconds(1)),
            "host=h dbname=db connect_timeout=1");
  EXPECT_EQ(WithConnectTimeout("postgresql://h/db?connect_timeout=9",
                               milliseconds(1000)),
            "postgresql://h/db?connect_timeout=9");
}

TEST(RedactUrl, HidesPasswords) {
  EXPECT_EQ(RedactUrl("postgresql://admit:s3cr%40t@db:5432/admit"),
            "postgresql://admit:***@db:5432/admit");
  EXPECT_EQ(RedactUrl("postgresql://admit@db/admit?password=s3cret&x=1"),
            "postgresql://admit@db/admit?password=***&x=1");
  EXPECT_EQ(RedactUrl("host=db password='a b' dbname=admit"),
            "host=db password=*** dbname=admit");
  EXPECT_EQ(RedactUrl("postgresql://postgres@127.0.0.1:5432/admit"),
            "postgresql://postgres@127.0.0.1:5432/admit");
}

TEST(PoolCreate, RejectsInvalidOptions) {
  PoolOptions options;
  options.size = 0;
  EXPECT_EQ(Pool::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = PoolOptions{};
  options.queue_timeout = std::chrono::milliseconds(0);
  EXPECT_EQ(Pool::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = PoolOptions{};
  options.url = "";
  EXPECT_EQ(Pool::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PoolCreate, UnreachableDatabaseIsUnavailableWithoutThePassword) {
  PoolOptions options;
  options.url = absl::StrCat(
      "postgresql://admit:hunter2@127.0.0.1:", testing::FreePort(), "/admit");
  options.connect_timeout = std::chrono::seconds(2);
  auto pool = Pool::Create(options);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pool.status().message().find("hunter2"), std::string::npos);
  EXPECT_NE(pool.status().message().find("admit:***@127.0.0.1"),
            std::string::npos)
      << pool.status();
}

}  // namespace
}  // namespace admit::pg
