// HoldStore on Postgres (schema `quota`, see schema/*.sql), through the
// shared connection pool: every operation is one transaction run on a pool
// thread (pg::Transact, READ COMMITTED, retried on serialization failures
// and deadlocks), and `done` runs on that pool thread.
//
// Correctness with any number of replicas comes from Postgres row locks, not
// from memory: every transaction that changes an event's seats first locks
// the event's quota rows it touches with SELECT ... FOR UPDATE in canonical
// order (the EVENT row first, then kind, organization, ticket_type_id; byte
// order), so concurrent transactions on one event serialize and never
// deadlock on each other. held/sold only change in the transaction that
// changes the holds they count. Time is the database's (now()).
//
// Thread safety: as HoldStore. The pool must outlive the store.
#ifndef ADMIT_SERVICES_QUOTA_PG_HOLD_STORE_H_
#define ADMIT_SERVICES_QUOTA_PG_HOLD_STORE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/pg/pool.h"
#include "services/quota/hold_store.h"

namespace admit::quota {

struct PgHoldStoreOptions {
  // Retries of a transaction that hit a serialization failure or deadlock
  // (none are expected with the lock order above; this is the safety net).
  pg::RetryPolicy retry;
};

class PgHoldStore final : public HoldStore {
 public:
  explicit PgHoldStore(pg::Pool* pool, PgHoldStoreOptions options = {});

  void SetQuotas(SetQuotasCommand command,
                 StoreCallback<EventUsage> done) override;
  void ReserveBatch(std::string event_id, std::vector<ReserveCommand> commands,
                    StoreCallback<ReserveBatchResult> done) override;
  void Commit(std::string hold_id, StoreCallback<HoldChange> done) override;
  void Release(std::string hold_id, ReleaseReason reason,
               StoreCallback<HoldChange> done) override;
  void GetHold(std::string hold_id, StoreCallback<Hold> done) override;
  void GetUsage(std::string event_id, StoreCallback<EventUsage> done) override;
  void ExpireDue(int limit, StoreCallback<SweepResult> done) override;

 private:
  pg::Pool* const pool_;
  const PgHoldStoreOptions options_;
};

namespace internal {

// Postgres array literals for text/bigint parameters ("$1::text[]"): libpqxx
// 6.4 has no array parameter conversion. Elements of a text array are
// double-quoted with '"' and '\' escaped, so any string round-trips.
std::string TextArrayLiteral(const std::vector<std::string>& values);
std::string BigintArrayLiteral(const std::vector<int64_t>& values);
// "1,22,3" (array_to_string of a bigint[]) -> {1, 22, 3}; "" -> {}.
std::vector<int64_t> ParseIdList(std::string_view text);

}  // namespace internal
}  // namespace admit::quota

#endif  // ADMIT_SERVICES_QUOTA_PG_HOLD_STORE_H_
