// The audit log of organizer writes (table registration.audit_log, schema
// 006): who (the API key's id), what (the RPC or admin action), on what
// (event, target id), when (the database's now()), and a JSON detail of the
// changed settings and outcomes. The detail never carries personal data: no
// email, name or ticket code (registration and key ids are fine).
//
// Writers append in the transaction of the change they record, so the row
// commits (or rolls back) with it.
#ifndef ADMIT_SERVICES_REGISTRATION_AUDIT_LOG_H_
#define ADMIT_SERVICES_REGISTRATION_AUDIT_LOG_H_

#include <string>

#include "absl/status/status.h"
#include "common/pg/pool.h"
#include "pqxx/transaction_base"

namespace admit::registration {

// The key id of writes made by the admin command (keys create / revoke).
inline constexpr char kAdminCommandActor[] = "admin-command";

struct AuditEntry {
  std::string key_id;    // the caller's API key id, or kAdminCommandActor
  std::string action;    // "CreateEvent", "UpdateEvent", "keys.revoke", ...
  std::string event_id;  // "" when not about one event
  std::string target;    // e.g. a registration id, an organization key
  std::string detail_json = "{}";  // a JSON object
};

// Appends `entry` in `tx`.
void AppendAudit(pqxx::transaction_base& tx, const AuditEntry& entry);

// Appends `entry` in a transaction of its own (blocking: not on a gRPC
// thread).
absl::Status AppendAudit(pg::Pool& pool, const AuditEntry& entry);

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_AUDIT_LOG_H_
