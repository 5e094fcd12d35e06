#include "services/registration/api_key_store.h"

#include <cstdint>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status/status.h"
#include "pqxx/pqxx"
#include "services/registration/event_store.h"
#include "services/registration/validation.h"

namespace admit::registration {
namespace {

// Columns read by ReadKey, table aliased `k`. event_ids travel as one text
// joined with ',' (slugs contain no comma).
constexpr char kKeyColumns[] =
    "k.id, encode(k.secret_hash, 'hex'), k.scope, "
    "array_to_string(k.event_ids, ','), k.read_only, k.name, "
    "(extract(epoch FROM k.created_at) * 1000000)::bigint, "
    "(extract(epoch FROM k.revoked_at) * 1000000)::bigint";

ApiKeyRecord ReadKey(const pqxx::row& r) {
  ApiKeyRecord k;
  k.id = r[0].as<std::string>();
  k.secret_hash = absl::HexStringToBytes(r[1].as<std::string>());
  k.scope = static_cast<KeyScope>(r[2].as<int>());
  const std::string events = r[3].as<std::string>();
  if (!events.empty()) k.event_ids = absl::StrSplit(events, ',');
  k.read_only = r[4].as<bool>();
  k.name = r[5].as<std::string>();
  k.created_at = absl::FromUnixMicros(r[6].as<int64_t>());
  if (!r[7].is_null()) k.revoked_at = absl::FromUnixMicros(r[7].as<int64_t>());
  return k;
}

bool IsPlainName(std::string_view s) {
  if (s.size() > 800) return false;  // 200 code points of at most 4 bytes
  size_t code_points = 0;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
    if ((c & 0xC0) != 0x80) ++code_points;
  }
  return code_points <= 200;
}

absl::Status ValidateSpec(const ApiKeySpec& spec) {
  std::vector<FieldViolation> violations;
  if (spec.scope == KeyScope::kAdmin && !spec.event_ids.empty()) {
    violations.push_back(
        {"event", "an admin key covers every event; name none"});
  }
  if (spec.scope == KeyScope::kOrganizer && spec.event_ids.empty()) {
    violations.push_back(
        {"event", "an organizer key needs at least one event"});
  }
  if (spec.scope != KeyScope::kAdmin && spec.scope != KeyScope::kOrganizer) {
    violations.push_back({"scope", "must be admin or organizer"});
  }
  std::set<std::string> seen;
  for (const std::string& id : spec.event_ids) {
    if (!IsSlug(id)) {
      violations.push_back(
          {"event", absl::StrCat("\"", id, "\" is not an event id")});
    } else if (!seen.insert(id).second) {
      violations.push_back(
          {"event", absl::StrCat("\"", id, "\" is named twice")});
    }
  }
  if (!IsPlainName(spec.name)) {
    violations.push_back(
        {"name", "at most 200 characters, no control characters"});
  }
  if (violations.empty()) return absl::OkStatus();
  return WithErrorInfo(InvalidArgumentError(std::move(violations)),
                       "INVALID_FIELDS");
}

std::string TextArray(const std::vector<std::string>& slugs) {
  // Slugs need no quoting.
  std::string out = "{";
  for (size_t i = 0; i < slugs.size(); ++i) {
    if (i > 0) out += ',';
    out += slugs[i];
  }
  out += '}';
  return out;
}

}  // namespace

absl::StatusOr<CreatedApiKey> CreateApiKey(pg::Pool& pool,
                                           const ApiKeySpec& spec) {
  RETURN_IF_ERROR(ValidateSpec(spec));
  const KeyParts parts = NewApiKey();
  const std::string hash_hex = absl::BytesToHexString(HashSecret(parts.secret));
  auto record = pool.Run(
      pg::Transact([&](pqxx::work& tx) -> absl::StatusOr<ApiKeyRecord> {
        if (!spec.event_ids.empty()) {
          // The events must exist (and be ready): a typo would otherwise
          // give a key that silently never works. Locked against a
          // concurrent delete, should one ever exist.
          pqxx::result found = tx.exec_params(
              "SELECT id FROM registration.events "
              "WHERE id = ANY($1::text[]) AND ready FOR SHARE",
              TextArray(spec.event_ids));
          std::set<std::string> present;
          for (const auto& row : found)
            present.insert(row[0].as<std::string>());
          for (const std::string& id : spec.event_ids) {
            if (!present.count(id)) return EventNotFoundError(id);
          }
        }
        pqxx::result r = tx.exec_params(
            absl::StrCat("INSERT INTO registration.api_keys AS k "
                         "(id, secret_hash, scope, event_ids, read_only, name) "
                         "VALUES ($1, decode($2, 'hex'), $3, $4::text[], $5, "
                         "$6) RETURNING ",
                         kKeyColumns),
            parts.id, hash_hex, static_cast<int>(spec.scope),
            TextArray(spec.event_ids), spec.read_only, spec.name);
        return ReadKey(r[0]);
      }));
  if (!record.ok()) return record.status();
  return CreatedApiKey{std::move(*record), FormatApiKey(parts)};
}

absl::StatusOr<std::vector<ApiKeyRecord>> ListApiKeys(pg::Pool& pool) {
  return pool.Run(
      [](pqxx::connection& conn) -> absl::StatusOr<std::vector<ApiKeyRecord>> {
        pqxx::nontransaction tx(conn);  // one statement
        pqxx::result r = tx.exec(absl::StrCat(
            "SELECT ", kKeyColumns,
            " FROM registration.api_keys k ORDER BY k.created_at, k.id"));
        std::vector<ApiKeyRecord> out;
        for (const auto& row : r) out.push_back(ReadKey(row));
        return out;
      });
}

absl::StatusOr<ApiKeyRecord> RevokeApiKey(pg::Pool& pool,
                                          const std::string& id) {
  return pool.Run(
      pg::Transact([&](pqxx::work& tx) -> absl::StatusOr<ApiKeyRecord> {
        pqxx::result r = tx.exec_params(
            absl::StrCat("UPDATE registration.api_keys AS k "
                         "SET revoked_at = coalesce(k.revoked_at, now()) "
                         "WHERE k.id = $1 RETURNING ",
                         kKeyColumns),
            id);
        if (r.empty()) {
          return absl::NotFoundError(absl::StrCat("no API key \"", id, "\""));
        }
        return ReadKey(r[0]);
      }));
}

absl::StatusOr<std::vector<ApiKeyRecord>> LoadActiveApiKeys(pg::Pool& pool) {
  return pool.Run(
      [](pqxx::connection& conn) -> absl::StatusOr<std::vector<ApiKeyRecord>> {
        pqxx::nontransaction tx(conn);  // one statement
        pqxx::result r = tx.exec(absl::StrCat(
            "SELECT ", kKeyColumns,
            " FROM registration.api_keys k WHERE k.revoked_at IS NULL"));
        std::vector<ApiKeyRecord> out;
        out.reserve(r.size());
        for (const auto& row : r) out.push_back(ReadKey(row));
        return out;
      });
}

}  // namespace admit::registration
