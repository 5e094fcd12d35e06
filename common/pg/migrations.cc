#include "common/pg/migrations.h"

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log/log.h"
#include "common/pg/pool.h"
#include "pqxx/connection"
#include "pqxx/nontransaction"
#include "pqxx/result"
#include "pqxx/transaction"

namespace admit::pg {
namespace {

namespace fs = std::filesystem;

std::string Sha256(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(size_t{length} * 2);
  for (unsigned int i = 0; i < length; ++i) {
    absl::StrAppendFormat(&hex, "%02x", digest[i]);
  }
  return hex;
}

bool ValidSchemaName(const std::string& schema) {
  if (schema.empty() || schema.size() > 63) return false;
  if (absl::ascii_isdigit(schema[0])) return false;
  return std::all_of(schema.begin(), schema.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_';
  });
}

// Turns the exception being handled into a Status whose message says what
// was being done.
absl::Status Failed(const std::string& what) {
  absl::Status status = ExceptionToStatus(std::current_exception());
  return absl::Status(status.code(),
                      absl::StrCat(what, ": ", status.message()));
}

struct Applied {
  std::string name;
  std::string checksum;
};

}  // namespace

int64_t MigrationLockKey(const std::string& schema) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  const std::string input = "admit.schema_migrations:" + schema;
  EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha256(),
             nullptr);
  uint64_t key = 0;
  for (int i = 0; i < 8; ++i) key = (key << 8) | digest[i];
  return static_cast<int64_t>(key);
}

absl::StatusOr<std::vector<MigrationFile>> ListMigrations(
    const std::string& directory) {
  std::error_code ec;
  fs::directory_iterator it(directory, ec);
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("migrations directory ", directory, ": ", ec.message()));
  }
  std::vector<MigrationFile> files;
  std::map<int64_t, std::string> seen;
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".sql") continue;
    if (!entry.is_regular_file(ec)) continue;
    size_t digits = 0;
    while (digits < name.size() && absl::ascii_isdigit(name[digits])) ++digits;
    MigrationFile file;
    if (digits == 0 || digits > 18 ||
        !absl::SimpleAtoi(name.substr(0, digits), &file.version)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "migration ", name, " in ", directory,
          ": the name must start with its version number (001_init.sql)"));
    }
    auto [other, inserted] = seen.emplace(file.version, name);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("migrations ", other->second, " and ", name, " in ",
                       directory, " have the same version ", file.version));
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return absl::NotFoundError(
          absl::StrCat("cannot read migration ", entry.path().string()));
    }
    file.name = name;
    file.path = entry.path().string();
    file.sql = content.str();
    file.checksum = Sha256(file.sql);
    files.push_back(std::move(file));
  }
  std::sort(files.begin(), files.end(),
            [](const MigrationFile& a, const MigrationFile& b) {
              return a.version < b.version;
            });
  return files;
}

absl::StatusOr<std::vector<std::string>> ApplyMigrations(
    const std::string& url, const std::string& schema,
    const std::string& directory, std::chrono::milliseconds connect_timeout) {
  if (!ValidSchemaName(schema)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "schema name '", schema, "' must match [a-z_][a-z0-9_]{0,62}"));
  }
  auto listed = ListMigrations(directory);
  if (!listed.ok()) return listed.status();
  const std::vector<MigrationFile>& files = *listed;

  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(
        WithConnectTimeout(url, connect_timeout));
  } catch (...) {
    return Failed(absl::StrCat("migrations for schema ", schema,
                               ": cannot connect to postgres at ",
                               RedactUrl(url)));
  }

  const int64_t lock_key = MigrationLockKey(schema);
  // The schema name was checked above, so it needs no quoting beyond this.
  const std::string table = absl::StrCat("\"", schema, "\".schema_migrations");
  std::vector<std::string> applied_now;
  std::map<int64_t, Applied> applied;
  try {
    pqxx::nontransaction session(*conn);
    session.exec_params("SELECT pg_advisory_lock($1)", lock_key);
    session.exec(absl::StrCat("CREATE SCHEMA IF NOT EXISTS \"", schema, "\""));
    session.exec(
        absl::StrCat("CREATE TABLE IF NOT EXISTS ", table,
                     " (version bigint PRIMARY KEY, name text NOT NULL,"
                     " checksum text NOT NULL,"
                     " applied_at timestamptz NOT NULL DEFAULT now())"));
    for (const pqxx::row& row : session.exec(
             absl::StrCat("SELECT version, name, checksum FROM ", table))) {
      applied[row[0].as<int64_t>()] =
          Applied{row[1].as<std::string>(), row[2].as<std::string>()};
    }
  } catch (...) {
    return Failed(absl::StrCat("migrations for schema ", schema));
  }
  // From here on the session holds the lock; closing the connection (on any
  // return) releases it, so an explicit unlock is only a courtesy.

  absl::Status result;
  for (const MigrationFile& file : files) {
    auto done = applied.find(file.version);
    if (done != applied.end()) {
      if (done->second.checksum != file.checksum) {
        result = absl::FailedPreconditionError(absl::StrCat(
            "migration ", file.name,
            " was changed after it was applied to schema ", schema, " (as ",
            done->second.name, "; recorded sha256 ", done->second.checksum,
            ", file now ", file.checksum,
            "): add a new migration instead of editing an applied one"));
        break;
      }
      continue;
    }
    const auto started = std::chrono::steady_clock::now();
    try {
      pqxx::work tx(*conn);
      tx.exec(absl::StrCat("SET LOCAL search_path TO \"", schema, "\""));
      tx.exec(file.sql);
      tx.exec_params(absl::StrCat("INSERT INTO ", table,
                                  " (version, name, checksum)"
                                  " VALUES ($1, $2, $3)"),
                     file.version, file.name, file.checksum);
      tx.commit();
    } catch (...) {
      result = Failed(absl::StrCat("migration ", file.name, " (schema ", schema,
                                   ") failed and was rolled back"));
      log::Error("migration failed",
                 {{"schema", schema},
                  {"file", file.name},
                  {"error", std::string(result.message())}});
      break;
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    log::Info("applied migration", {{"schema", schema},
                                    {"version", file.version},
                                    {"file", file.name},
                                    {"duration_ms", static_cast<int64_t>(ms)}});
    applied_now.push_back(file.name);
  }

  try {
    pqxx::nontransaction session(*conn);
    session.exec_params("SELECT pg_advisory_unlock($1)", lock_key);
  } catch (...) {
    // The lock goes with the connection, which is closed right after.
  }
  if (!result.ok()) return result;
  log::Info("migrations up to date",
            {{"schema", schema},
             {"applied", static_cast<int64_t>(applied_now.size())},
             {"files", static_cast<int64_t>(files.size())}});
  return applied_now;
}

}  // namespace admit::pg
