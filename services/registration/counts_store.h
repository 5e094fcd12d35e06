// Reading the registration counters that schema/005_counts.sql maintains
// (registration_counts: per event, dimension, key and slot), and turning
// them, with the event's settings and the quota service's usage, into
// admit.v1.RegistrationCounts.
//
// A read is one SELECT over the event's counter rows (at most
// (1 + ticket types + organizations + countries) x 16 rows, through the
// primary key), never over registrations; its figures are those of one
// snapshot, equal to a full scan of registrations in that snapshot.
//
// Compaction keeps reads cheap: writers spread their deltas over 16 slots,
// so an event's counter rows grow towards 16 per group. When a read finds
// more than two rows per group (and at least kCompactMinRows), the store
// queues a compaction of that event (at most one at a time, and once per
// kCompactEvery per event): one statement folds the slot 1..15 rows into
// slot 0, so the next reads sum about one row per group. The sums, and so
// every count and the version, are unchanged by it (one transaction); it
// waits at most 100 ms for a writer's row lock and otherwise gives up until
// the next read asks again, so it never holds up registrations for long.
//
// Errors (every read): UNAVAILABLE (Postgres unreachable or busy),
// DEADLINE_EXCEEDED (statement timeout), INTERNAL (a bug).
//
// Thread safety: every method may be called from any thread. The pool must
// outlive the store.
#ifndef ADMIT_SERVICES_REGISTRATION_COUNTS_STORE_H_
#define ADMIT_SERVICES_REGISTRATION_COUNTS_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "admit/v1/organizer.pb.h"
#include "admit/v1/quota.pb.h"
#include "common/pg/pool.h"

namespace admit::registration {

// Registrations per status of one group (event, ticket type, organization
// or country).
struct StatusTally {
  int32_t pending = 0;
  int32_t confirmed = 0;
  int32_t waitlisted = 0;
  int32_t cancelled = 0;
  int32_t expired = 0;
  int32_t checked_in = 0;

  bool operator==(const StatusTally& o) const {
    return pending == o.pending && confirmed == o.confirmed &&
           waitlisted == o.waitlisted && cancelled == o.cancelled &&
           expired == o.expired && checked_in == o.checked_in;
  }
};

// The dimensions of registration_counts.dim.
enum class CountsDim {
  kEvent = 0,
  kTicketType = 1,
  kOrganization = 2,
  kCountry = 3
};

// An event's counters as of one snapshot.
struct CountsSnapshot {
  absl::Time as_of;     // the database's statement time
  int64_t version = 0;  // sum of the event's dim-0 `changes` (monotonic)
  StatusTally event;
  std::map<std::string, StatusTally> by_ticket_type;
  std::map<std::string, StatusTally> by_organization;     // by organization_key
  std::map<std::string, std::string> organization_names;  // key -> spelling
  std::map<std::string, StatusTally> by_country;
  int64_t counter_rows = 0;  // registration_counts rows summed (all slots)
};

class CountsStore {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<CountsSnapshot>)>;

  static constexpr int64_t kCompactMinRows = 64;
  static constexpr absl::Duration kCompactEvery = absl::Seconds(5);

  explicit CountsStore(pg::Pool* pool);
  ~CountsStore();

  // The event's counters, read on a pool thread; `done` runs there (or on
  // the calling thread when the job cannot be queued). An event without
  // registrations has all-zero counts (version 0). May queue a compaction
  // of the event (see above).
  void Read(const std::string& event_id, Done done);

  // Read(), blocking the calling thread (not a gRPC or pool thread).
  absl::StatusOr<CountsSnapshot> ReadNow(const std::string& event_id);

  // Folds the event's slot 1..15 counter rows into slot 0 now, blocking the
  // calling thread; returns the number of rows removed. For tests and
  // benchmarks (reads trigger it by themselves).
  absl::StatusOr<int64_t> CompactNow(const std::string& event_id);

  // The version (see CountsSnapshot) of each event, in one query; events
  // without registrations are absent. Blocking, like ReadNow.
  absl::StatusOr<std::map<std::string, int64_t>> Versions(
      const std::vector<std::string>& event_ids);

  // The query behind Read/ReadNow, on a connection of the caller's.
  static absl::StatusOr<CountsSnapshot> ReadOn(pqxx::connection& conn,
                                               const std::string& event_id);

  // The compaction behind CompactNow, on a connection of the caller's.
  static absl::StatusOr<int64_t> CompactOn(pqxx::connection& conn,
                                           const std::string& event_id);

 private:
  struct CompactionState;

  // Queues a compaction of the event when `snapshot` shows it is due.
  void MaybeCompact(const std::string& event_id,
                    const CountsSnapshot& snapshot);

  pg::Pool* const pool_;
  // Shared with queued compaction jobs, which may finish after the store.
  std::shared_ptr<CompactionState> compaction_;
};

// The RegistrationCounts of `event` from its counters and the quota
// service's usage of its quotas (capacities and allotments; `usage` may be
// empty: then capacities come from the event's settings). Every `remaining`
// is computed from the counters, capacity - pending - confirmed of the group
// (and never above the event's), so it agrees with the counts of the same
// snapshot whatever the age of `usage`; per-type allotments show the quota's
// held and sold.
//   - by_ticket_type: every ticket type of the event, in its order;
//   - by_organization: organizations with registrations or an allotment,
//     by organization key (so "" = no organization comes first); the name is
//     the allotment's spelling (SetAllotment), else the first spelling
//     registered, else the key;
//   - by_country: countries with registrations, by code.
v1::RegistrationCounts BuildRegistrationCounts(
    const v1::Event& event, const CountsSnapshot& counts,
    const v1::GetUsageResponse& usage);

// `a` and `b` equal but for as_of.
bool SameCounts(const v1::RegistrationCounts& a,
                const v1::RegistrationCounts& b);

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_COUNTS_STORE_H_
