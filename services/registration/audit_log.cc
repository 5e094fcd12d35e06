#include "services/registration/audit_log.h"

#include "pqxx/pqxx"

namespace admit::registration {

void AppendAudit(pqxx::transaction_base& tx, const AuditEntry& entry) {
  tx.exec_params(
      "INSERT INTO registration.audit_log "
      "(key_id, action, event_id, target, detail) "
      "VALUES ($1, $2, $3, $4, $5::jsonb)",
      entry.key_id, entry.action, entry.event_id, entry.target,
      entry.detail_json);
}

absl::Status AppendAudit(pg::Pool& pool, const AuditEntry& entry) {
  return pool.Run(pg::Transact([entry](pqxx::work& tx) -> absl::Status {
    AppendAudit(tx, entry);
    return absl::OkStatus();
  }));
}

}  // namespace admit::registration
