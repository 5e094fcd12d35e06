// The migration runner against a real Postgres (ADMIT_TEST_PG_URL). Each test
// migrates its own fresh schema, so tests may run in parallel.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <latch>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/pg/migrations.h"
#include "pqxx/connection"
#include "pqxx/nontransaction"
#include "pqxx/result"
#include "tests/support/test_support.h"

namespace admit::pg {
namespace {

namespace fs = std::filesystem;

class Migrations : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = testing::RequireEnv("ADMIT_TEST_PG_URL");
    ASSERT_FALSE(url_.empty());
    static std::atomic<int> counter{0};
    static const uint32_t salt = std::random_device{}();
    schema_ = absl::StrCat("mig_test_", ::getpid(), "_", salt % 100000, "_",
                           counter++);
    std::string templ =
        (fs::temp_directory_path() / "admit-migrations-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }

  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
    if (!url_.empty()) {
      pqxx::connection conn(url_);
      pqxx::nontransaction tx(conn);
      tx.exec(absl::StrCat("DROP SCHEMA IF EXISTS ", schema_, " CASCADE"));
    }
  }

  void Write(const std::string& name, const std::string& sql) {
    std::ofstream(dir_ / name) << sql;
  }

  absl::StatusOr<std::vector<std::string>> Apply() {
    return ApplyMigrations(url_, schema_, dir_.string());
  }

  // Runs `sql` (one value) against the test database.
  std::string Query(const std::string& sql) {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    pqxx::row row = tx.exec1(sql);
    return row[0].is_null() ? "NULL" : row[0].as<std::string>();
  }

  std::string Versions() {
    return Query(
        absl::StrCat("SELECT string_agg(version::text, ',' ORDER BY "
                     "version) FROM ",
                     schema_, ".schema_migrations"));
  }

  bool TableExists(const std::string& table) {
    return Query(absl::StrCat("SELECT to_regclass('", schema_, ".", table,
                              "') IS NOT NULL")) == "t";
  }

  std::string url_;
  std::string schema_;
  fs::path dir_;
};

TEST_F(Migrations, AppliesFilesInNumericOrderExactlyOnce) {
  Write("001_init.sql", "CREATE TABLE events (id int PRIMARY KEY);");
  Write("2_seed.sql", "INSERT INTO events VALUES (1);");
  Write("9_nine.sql", "ALTER TABLE events ADD COLUMN name text;");
  Write("10_ten.sql", "UPDATE events SET name = 'needs column from 9';");
  Write("notes.txt", "not a migration");

  auto first = Apply();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, (std::vector<std::string>{"001_init.sql", "2_seed.sql",
                                              "9_nine.sql", "10_ten.sql"}));
  EXPECT_EQ(Versions(), "1,2,9,10");
  EXPECT_EQ(Query(absl::StrCat("SELECT name FROM ", schema_,
                               ".schema_migrations WHERE version = 9")),
            "9_nine.sql");
  EXPECT_EQ(Query(absl::StrCat("SELECT count(*) FROM ", schema_, ".events")),
            "1");

  auto again = Apply();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->empty());
  EXPECT_EQ(Query(absl::StrCat("SELECT count(*) FROM ", schema_, ".events")),
            "1");

  Write("11_more.sql", "INSERT INTO events VALUES (2, 'two');");
  auto later = Apply();
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(*later, std::vector<std::string>{"11_more.sql"});
  EXPECT_EQ(Versions(), "1,2,9,10,11");
}

TEST_F(Migrations, RecordsTheSha256OfEachFile) {
  Write("1_a.sql", "SELECT 1;");
  ASSERT_TRUE(Apply().ok());
  auto files = ListMigrations(dir_.string());
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(Query(absl::StrCat("SELECT checksum FROM ", schema_,
                               ".schema_migrations")),
            (*files)[0].checksum);
}

TEST_F(Migrations, RejectsAnAppliedFileWhoseContentChanged) {
  Write("001_init.sql", "CREATE TABLE a (id int);");
  ASSERT_TRUE(Apply().ok());
  Write("001_init.sql", "CREATE TABLE a (id bigint);");
  Write("002_next.sql", "CREATE TABLE b (id int);");
  auto result = Apply();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(result.status().message().find("001_init.sql"), std::string::npos)
      << result.status();
  EXPECT_FALSE(TableExists("b"));
}

TEST_F(Migrations, AFailingFileRollsBackEntirelyAndIsNamedInTheError) {
  Write("001_ok.sql", "CREATE TABLE a (id int);");
  Write("002_broken.sql",
        "CREATE TABLE half (id int);\n"
        "INSERT INTO a VALUES (1);\n"
        "INSERT INTO no_such_table VALUES (1);\n");
  Write("003_after.sql", "CREATE TABLE c (id int);");
  auto result = Apply();
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("002_broken.sql"), std::string::npos)
      << result.status();
  EXPECT_NE(result.status().message().find("no_such_table"), std::string::npos)
      << result.status();
  EXPECT_EQ(Versions(), "1");
  EXPECT_FALSE(TableExists("half"));
  EXPECT_FALSE(TableExists("c"));
  EXPECT_EQ(Query(absl::StrCat("SELECT count(*) FROM ", schema_, ".a")), "0");

  Write("002_broken.sql", "CREATE TABLE half (id int);");
  auto fixed = Apply();
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(*fixed,
            (std::vector<std::string>{"002_broken.sql", "003_after.sql"}));
  EXPECT_EQ(Versions(), "1,2,3");
}

TEST_F(Migrations, UnknownAppliedVersionsFromANewerReleaseAreIgnored) {
  Write("1_a.sql", "CREATE TABLE a (id int);");
  Write("2_b.sql", "CREATE TABLE b (id int);");
  ASSERT_TRUE(Apply().ok());
  fs::remove(dir_ / "2_b.sql");
  auto older = Apply();
  ASSERT_TRUE(older.ok()) << older.status();
  EXPECT_TRUE(older->empty());
}

TEST_F(Migrations, ConcurrentRunnersApplyEachFileExactlyOnce) {
  // Not idempotent: a second application of any of these would fail (CREATE
  // TABLE) or show up in the row count (INSERT).
  Write("001_slow.sql",
        "CREATE TABLE t (id int PRIMARY KEY); SELECT pg_sleep(0.3);");
  Write("002_insert.sql",
        "CREATE TABLE log (n int); INSERT INTO log VALUES (1);");
  Write("003_insert.sql", "INSERT INTO log VALUES (2);");
  Write("004_alter.sql", "ALTER TABLE t ADD COLUMN name text;");
  constexpr int kRunners = 4;
  std::latch start(kRunners);
  std::vector<absl::StatusOr<std::vector<std::string>>> results(
      kRunners, absl::UnknownError("not run"));
  std::vector<std::thread> runners;
  runners.reserve(kRunners);
  for (int i = 0; i < kRunners; ++i) {
    runners.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = Apply();
    });
  }
  for (std::thread& t : runners) t.join();

  std::multiset<std::string> applied;
  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    applied.insert(result->begin(), result->end());
  }
  EXPECT_EQ(applied,
            (std::multiset<std::string>{"001_slow.sql", "002_insert.sql",
                                        "003_insert.sql", "004_alter.sql"}));
  EXPECT_EQ(Versions(), "1,2,3,4");
  EXPECT_EQ(Query(absl::StrCat("SELECT count(*) FROM ", schema_, ".log")), "2");
}

}  // namespace
}  // namespace admit::pg
