// RegistrationStore on Postgres (schema `registration`, see
// schema/002_registrations.sql), through the shared connection pool: every
// operation (a batch of pre-check lookups, see below) is one transaction or
// one autocommit read on a pool thread (pg::Transact, READ
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

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/pg/pool.h"
#include "services/registration/registration_store.h"

namespace admit::registration {

class PgRegistrationStore final : public RegistrationStore {
 public:
  explicit PgRegistrationStore(pg::Pool* pool, pg::RetryPolicy retry = {});
  // Waits for the pre-check reads in flight (their callbacks use this).
  ~PgRegistrationStore() override;
  PgRegistrationStore(const PgRegistrationStore&) = delete;
  PgRegistrationStore& operator=(const PgRegistrationStore&) = delete;

  // Pre-checks are grouped per event: while one read of an event is in
  // flight, the event's new lookups queue; when it returns, they go out
  // together (up to kMaxLookupBatch) as one statement (two index probes per
  // request). No timer: a lone lookup is sent at once.

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
  static constexpr size_t kMaxLookupBatch = 512;
  struct PendingLookup {
    std::string request_id;
    std::string email;
    StoreCallback<RegisterLookup> done;
  };
  std::vector<PendingLookup> TakeLookupsLocked(
      std::deque<PendingLookup>& queue);
  void DispatchLookups(const std::string& event_id,
                       std::vector<PendingLookup> batch);
  void OnLookupsDone(const std::string& event_id,
                     std::vector<PendingLookup> batch,
                     absl::StatusOr<std::vector<RegisterLookup>> result);

  pg::Pool* const pool_;
  const pg::RetryPolicy retry_;

  std::mutex mu_;
  std::condition_variable idle_cv_;
  // Events with a pre-check read in flight, and their queued lookups.
  std::map<std::string, std::deque<PendingLookup>> lookups_;
};

namespace internal {

// A Postgres array literal for a text[] parameter ("$1::text[]"): libpqxx
// 6.4 converts no arrays. Every element is double-quoted with '"' and '\'
// escaped, so any string round-trips.
std::string TextArray(const std::vector<std::string>& values);
// A Postgres array literal for an int[] or bigint[] parameter.
std::string IntArray(const std::vector<int64_t>& values);

// Shared with lifecycle_store.cc (same tables, same rules):
// Locks the event's event_counters row (creating it on first use), in a
// statement of its own.
void LockEvent(pqxx::work& tx, const std::string& event_id);
// The registration by id (FOR UPDATE OF r when `for_update`), or NOT_FOUND
// REGISTRATION_NOT_FOUND.
absl::StatusOr<RegistrationRecord> SelectRecord(pqxx::transaction_base& tx,
                                                const std::string& id,
                                                bool for_update);

}  // namespace internal
}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_PG_REGISTRATION_STORE_H_
