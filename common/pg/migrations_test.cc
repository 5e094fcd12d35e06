#include "common/pg/migrations.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace admit::pg {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string templ =
        (fs::temp_directory_path() / "admit-mig-XXXXXX").string();
    path_ = ::mkdtemp(templ.data());
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  void Write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name) << content;
  }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

TEST(ListMigrations, SortsByNumericVersionAndIgnoresOtherFiles) {
  TempDir dir;
  dir.Write("10_ten.sql", "SELECT 10;");
  dir.Write("9_nine.sql", "SELECT 9;");
  dir.Write("001_init.sql", "SELECT 1;");
  dir.Write("README.md", "not a migration");
  auto files = ListMigrations(dir.path());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].name, "001_init.sql");
  EXPECT_EQ((*files)[0].version, 1);
  EXPECT_EQ((*files)[0].sql, "SELECT 1;");
  EXPECT_EQ((*files)[1].name, "9_nine.sql");
  EXPECT_EQ((*files)[2].name, "10_ten.sql");
  EXPECT_EQ((*files)[2].version, 10);
}

TEST(ListMigrations, ChecksumIsTheSha256OfTheContent) {
  TempDir dir;
  dir.Write("1_a.sql", "abc");
  auto files = ListMigrations(dir.path());
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ((*files)[0].checksum,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ListMigrations, RejectsTwoFilesWithTheSameVersion) {
  TempDir dir;
  dir.Write("001_a.sql", "");
  dir.Write("1_b.sql", "");
  auto files = ListMigrations(dir.path());
  EXPECT_EQ(files.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(files.status().message().find("1_b.sql"), std::string::npos);
}

TEST(ListMigrations, RejectsASqlFileWithoutAVersion) {
  TempDir dir;
  dir.Write("init.sql", "");
  auto files = ListMigrations(dir.path());
  EXPECT_EQ(files.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(files.status().message().find("init.sql"), std::string::npos);
}

TEST(ListMigrations, MissingDirectoryIsNotFound) {
  EXPECT_EQ(ListMigrations("/nonexistent/admit/schema").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ApplyMigrations, RejectsABadSchemaNameBeforeConnecting) {
  TempDir dir;
  for (const char* schema : {"", "Quota", "1abc", "a-b", "a\"; DROP"}) {
    EXPECT_EQ(
        ApplyMigrations("postgresql://127.0.0.1:1/none", schema, dir.path())
            .status()
            .code(),
        absl::StatusCode::kInvalidArgument)
        << schema;
  }
}

TEST(MigrationLockKey, DependsOnTheSchemaOnly) {
  EXPECT_EQ(MigrationLockKey("quota"), MigrationLockKey("quota"));
  EXPECT_NE(MigrationLockKey("quota"), MigrationLockKey("registration"));
}

}  // namespace
}  // namespace admit::pg
