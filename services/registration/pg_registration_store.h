// RegistrationStore on Postgres (schema `registration`, see
// schema/002_registrations.sql), through the shared connection pool: every
// operation is one transaction on a pool thread (pg::Transact, READ
// COMMITTED, retried on serialization failures and deadlocks); `done` runs on
// that pool thread.
//
// Lock order, the same in every writer: the event's event_counters row first
// (FOR UPDATE), then registration rows, then waitlist_counters rows. Inserts
// of one event therefore run one batch at a time across all replicas, and
// the unique indexes never make an insert wait on another transaction's
// uncommitted row of the same event.
//
// Thread safety: as RegistrationStore. The pool must outlive the store.
#ifndef ADMIT_SERVICES_REGISTRATION_PG_REGISTRATION_STORE_H_
#define ADMIT_SERVICES_REGISTRATION_PG_REGISTRATION_STORE_H_

#include <string>
#include <vector>

#include "common/pg/pool.h"
#include "services/registration/registration_store.h"

namespace admit::registration {

class PgRegistrationStore final : public RegistrationStore {
 public:
  explicit PgRegistrationStore(pg::Pool* pool, pg::RetryPolicy retry = {});

  void Lookup(std::string event_id, std::string request_id, std::string email,
              StoreCallback<RegisterLookup> done) override;
  void InsertBatch(
      std::string event_id, std::vector<NewRegistration> registrations,
      StoreCallback<std::vector<absl::StatusOr<InsertResult>>> done) override;
  void AbandonHold(std::string event_id, std::string hold_id,
                   StoreCallback<bool> done) override;
  void Get(std::string registration_id,
           StoreCallback<RegistrationRecord> done) override;
  void Cancel(std::string registration_id,
              StoreCallback<CancelResult> done) override;
  void WaitlistCounts(
      std::string event_id,
      StoreCallback<std::map<std::string, int32_t>> done) override;

 private:
  pg::Pool* const pool_;
  const pg::RetryPolicy retry_;
};

namespace internal {

// A Postgres array literal for a text[] parameter ("$1::text[]"): libpqxx
// 6.4 converts no arrays. Every element is double-quoted with '"' and '\'
// escaped, so any string round-trips.
std::string TextArray(const std::vector<std::string>& values);

}  // namespace internal
}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_PG_REGISTRATION_STORE_H_
