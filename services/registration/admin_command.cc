#include "services/registration/admin_command.h"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/log/log.h"
#include "common/pg/migrations.h"
#include "common/pg/pool.h"
#include "common/status/status.h"
#include "nlohmann/json.hpp"
#include "services/registration/api_key.h"
#include "services/registration/api_key_store.h"
#include "services/registration/audit_log.h"

#ifndef ADMIT_REGISTRATION_SCHEMA_DIR
#error "ADMIT_REGISTRATION_SCHEMA_DIR must be defined by the build"
#endif

namespace admit::registration {
namespace {

std::string Time(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string Events(const ApiKeyRecord& key) {
  return key.event_ids.empty() ? "*" : absl::StrJoin(key.event_ids, ",");
}

// The exit status for a failed store call; prints the reason (each bad
// option on its own line for INVALID_ARGUMENT).
int Failed(std::ostream& err, const absl::Status& status) {
  const std::vector<FieldViolation> violations = GetFieldViolations(status);
  if (violations.empty()) {
    err << "keys: " << status.message() << "\n";
  } else {
    for (const FieldViolation& v : violations) {
      err << "keys: --" << v.field << ": " << v.description << "\n";
    }
  }
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

struct DbSettings {
  pg::PoolOptions pool;
  std::string schema_dir = ADMIT_REGISTRATION_SCHEMA_DIR;
  bool migrate = true;
};

// Reads the database settings, applies the migrations, opens a pool of one
// connection. Prints the problem and sets *exit_code on failure.
std::unique_ptr<pg::Pool> OpenDatabase(const config::Lookup& env,
                                       std::ostream& err, int* exit_code) {
  config::Settings settings("admit-registration keys",
                            "API key administration.");
  DbSettings db;
  pg::AddPoolSettings(settings, &db.pool);
  settings.AddString("ADMIT_REGISTRATION_SCHEMA_DIR", db.schema_dir,
                     "Directory of the registration schema's migrations.",
                     &db.schema_dir);
  settings.AddBool("ADMIT_REGISTRATION_MIGRATE", true,
                   "Apply the schema migrations first.", &db.migrate);
  if (absl::Status s = settings.Load(env); !s.ok()) {
    err << "keys: " << s.message() << "\n";
    *exit_code = 2;
    return nullptr;
  }
  db.pool.size = 1;
  if (db.migrate) {
    auto applied = pg::ApplyMigrations(db.pool.url, "registration",
                                       db.schema_dir, db.pool.connect_timeout);
    if (!applied.ok()) {
      err << "keys: cannot apply the migrations: " << applied.status().message()
          << "\n";
      *exit_code = 1;
      return nullptr;
    }
  }
  auto pool = pg::Pool::Create(db.pool);
  if (!pool.ok()) {
    err << "keys: cannot open the database: " << pool.status().message()
        << "\n";
    *exit_code = 1;
    return nullptr;
  }
  return std::move(*pool);
}

// The audit row of a key change (audit_log.h). The change is made by then:
// a failure to record it is reported, not undone.
void AuditKeyChange(pg::Pool& pool, const std::string& action,
                    const ApiKeyRecord& k, std::ostream& err) {
  nlohmann::json detail = {{"scope", std::string(KeyScopeName(k.scope))},
                           {"event_ids", k.event_ids},
                           {"read_only", k.read_only}};
  absl::Status s =
      AppendAudit(pool, {kAdminCommandActor, action, "", k.id, detail.dump()});
  if (!s.ok()) {
    err << "keys: warning: the change was made but its audit row was not "
           "written: "
        << s.message() << "\n";
  }
}

int Create(pg::Pool& pool, const ApiKeySpec& spec, std::ostream& out,
           std::ostream& err) {
  auto created = CreateApiKey(pool, spec);
  if (!created.ok()) return Failed(err, created.status());
  const ApiKeyRecord& k = created->record;
  out << "id         " << k.id << "\n"
      << "key        " << created->key << "\n"
      << "scope      " << KeyScopeName(k.scope) << "\n"
      << "events     " << Events(k) << "\n"
      << "read-only  " << (k.read_only ? "yes" : "no") << "\n"
      << "name       " << k.name << "\n"
      << "created    " << Time(k.created_at) << "\n";
  AuditKeyChange(pool, "keys.create", k, err);
  err << "The key is shown only this once (admit keeps its hash): store it "
         "now. Every replica accepts it within "
         "ADMIT_API_KEY_REFRESH_INTERVAL.\n";
  return 0;
}

int List(pg::Pool& pool, std::ostream& out, std::ostream& err) {
  auto keys = ListApiKeys(pool);
  if (!keys.ok()) return Failed(err, keys.status());
  out << absl::StrFormat("%-32s  %-9s  %-9s  %-20s  %-20s  %s  %s\n", "ID",
                         "SCOPE", "READ-ONLY", "CREATED", "REVOKED", "EVENTS",
                         "NAME");
  for (const ApiKeyRecord& k : *keys) {
    out << absl::StrFormat("%-32s  %-9s  %-9s  %-20s  %-20s  %s  %s\n", k.id,
                           std::string(KeyScopeName(k.scope)),
                           k.read_only ? "yes" : "no", Time(k.created_at),
                           k.revoked_at ? Time(*k.revoked_at) : "-", Events(k),
                           k.name.empty() ? "-" : k.name);
  }
  return 0;
}

int Revoke(pg::Pool& pool, const std::string& id, std::ostream& out,
           std::ostream& err) {
  auto revoked = RevokeApiKey(pool, id);
  if (!revoked.ok()) return Failed(err, revoked.status());
  AuditKeyChange(pool, "keys.revoke", *revoked, err);
  out << "revoked " << revoked->id << " at " << Time(*revoked->revoked_at)
      << "\n";
  err << "Every replica refuses it within ADMIT_API_KEY_REFRESH_INTERVAL.\n";
  return 0;
}

}  // namespace

bool IsAdminCommand(int argc, char** argv) {
  return argc >= 2 && std::string(argv[1]) == "keys";
}

int RunAdminCommand(int argc, char** argv) {
  log::Init("registration", log::Level::kWarn);
  return RunAdminCommand(argc, argv, std::cout, std::cerr,
                         config::ProcessEnvironment());
}

int RunAdminCommand(int argc, char** argv, std::ostream& out, std::ostream& err,
                    const config::Lookup& env) {
  CLI::App app("Administers admit's OrganizerService API keys.",
               argc > 0 ? argv[0] : "admit-registration");
  CLI::App* keys = app.add_subcommand("keys", "API keys");
  keys->require_subcommand(1);

  CLI::App* create = keys->add_subcommand(
      "create", "Creates a key and prints it (once) with its id.");
  std::string scope;
  ApiKeySpec spec;
  create->add_option("--scope", scope, "admin or organizer")
      ->required()
      ->check(CLI::IsMember({"admin", "organizer"}));
  create->add_option("--event", spec.event_ids,
                     "An event the organizer key may use (repeatable).");
  create->add_flag("--read-only", spec.read_only,
                   "Only the reading calls (GetEvent, counts, lists, "
                   "exports).");
  create->add_option("--name", spec.name,
                     "A label for `keys list` (not secret).");

  keys->add_subcommand("list",
                       "Lists every key (id, scope, events, state; never a "
                       "secret).");
  CLI::App* revoke = keys->add_subcommand(
      "revoke", "Revokes a key; replicas refuse it within seconds.");
  std::string revoke_id;
  revoke->add_option("id", revoke_id, "The key's id.")->required();
  keys->add_subcommand("bootstrap",
                       "Prints a fresh key for ADMIT_BOOTSTRAP_ADMIN_KEY "
                       "(nothing is stored).");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    return code == 0 ? 0 : 2;
  }

  if (keys->got_subcommand("bootstrap")) {
    out << FormatApiKey(NewApiKey()) << "\n";
    err << "Set it as ADMIT_BOOTSTRAP_ADMIN_KEY (an admin key that is not "
           "stored; keep it secret, and remove it once real admin keys "
           "exist).\n";
    return 0;
  }

  int exit_code = 0;
  std::unique_ptr<pg::Pool> pool = OpenDatabase(env, err, &exit_code);
  if (pool == nullptr) return exit_code;

  if (keys->got_subcommand("create")) {
    spec.scope = scope == "admin" ? KeyScope::kAdmin : KeyScope::kOrganizer;
    return Create(*pool, spec, out, err);
  }
  if (keys->got_subcommand("list")) return List(*pool, out, err);
  return Revoke(*pool, revoke_id, out, err);
}

}  // namespace admit::registration
