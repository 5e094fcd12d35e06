// Schema migrations: numbered SQL files applied in order, each exactly once.
//
// A service keeps its migrations in services/<svc>/schema/ as NNN_name.sql
// ("001_init.sql", "002_add_waitlist.sql") and applies them to its own
// Postgres schema at start-up, before it serves:
//
//   auto applied = pg::ApplyMigrations(options.url, "quota", schema_dir);
//   if (!applied.ok()) { log and exit non-zero }
//
// Rules for migration files:
//   - The leading digits of the file name are its version; versions are
//     applied in numeric order ("9_x.sql" before "10_y.sql") and must be
//     unique. Files not ending in ".sql" are ignored.
//   - Each file runs in its own transaction, together with the insert of its
//     row into <schema>.schema_migrations; so a file must not contain
//     BEGIN/COMMIT, nor statements that refuse to run in a transaction
//     (CREATE INDEX CONCURRENTLY, VACUUM, ALTER TYPE ... ADD VALUE before 12).
//   - search_path is the schema alone while a file runs: unqualified names
//     are created in and resolved against the service's schema.
//   - A file is never edited once applied (its SHA-256 is recorded and
//     checked); fix mistakes with a new file.
#ifndef ADMIT_COMMON_PG_MIGRATIONS_H_
#define ADMIT_COMMON_PG_MIGRATIONS_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace admit::pg {

struct MigrationFile {
  int64_t version = 0;
  std::string name;      // the file name, "001_init.sql"
  std::string path;      // directory + name
  std::string checksum;  // lowercase hex SHA-256 of the content (= sha256sum)
  std::string sql;       // the content
};

// The migrations in `directory`, sorted by version, with their contents read.
// NOT_FOUND when the directory does not exist or cannot be read;
// INVALID_ARGUMENT naming the file for a .sql file whose name does not start
// with a digit, or for two files with the same version.
absl::StatusOr<std::vector<MigrationFile>> ListMigrations(
    const std::string& directory);

// Brings `schema` up to date with the files in `directory`, on a dedicated
// connection to `url` (libpq connection string; connect_timeout is added
// unless present).
//
// Creates the schema and <schema>.schema_migrations(version bigint primary
// key, name, checksum, applied_at) if missing, all while holding a session
// advisory lock (pg_advisory_lock) whose key is derived from the schema name:
// several replicas starting at once serialize here, and each file is applied
// exactly once; a waiting replica blocks until the one applying finishes,
// without a time limit (a crashed holder's lock is released by Postgres).
//
// Returns the names of the files this call applied, in order (empty when the
// schema was already up to date). Versions recorded in the table but missing
// from `directory` (a newer release already ran) are not an error. Errors:
//   INVALID_ARGUMENT    `schema` is not [a-z_][a-z0-9_]{0,62}, or a file
//                       name is invalid (see ListMigrations);
//   NOT_FOUND           `directory` does not exist;
//   FAILED_PRECONDITION an applied file changed (names the file);
//   UNAVAILABLE         Postgres cannot be reached or the connection broke;
//   any other code      a file failed: its transaction was rolled back (none
//                       of its changes remain, later files were not tried)
//                       and the message names the file and carries Postgres'
//                       message; the code follows ExceptionToStatus().
// Files applied before an error stay applied. Logs each applied file (info).
// Thread-safe; blocks for as long as the migrations take.
absl::StatusOr<std::vector<std::string>> ApplyMigrations(
    const std::string& url, const std::string& schema,
    const std::string& directory,
    std::chrono::milliseconds connect_timeout = std::chrono::seconds(5));

// The advisory-lock key ApplyMigrations uses for `schema` (first 8 bytes of
// SHA-256("admit.schema_migrations:" + schema)), for operators and tests.
int64_t MigrationLockKey(const std::string& schema);

}  // namespace admit::pg

#endif  // ADMIT_COMMON_PG_MIGRATIONS_H_
