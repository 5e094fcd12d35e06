// Invariant checks of a Register load run. A Violation is a broken promise
// of admit's API or design (shared/DESIGN.md, "Invariants"), never a slow
// answer: admit-loadtest exits non-zero when any is found.
#ifndef ADMIT_LOADTEST_CHECKS_H_
#define ADMIT_LOADTEST_CHECKS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "loadtest/outcome.h"
#include "loadtest/plan.h"

namespace admit::loadtest {

struct Violation {
  std::string check;   // short name, e.g. "acknowledged_registration_stored"
  std::string detail;  // ids and counts only: never emails or names
};

// From the answers alone: an invalid request accepted; an OK answer with a
// status other than PENDING_CONFIRMATION / WAITLISTED; a retry answered with
// another registration than its original; two registrations acknowledged for
// one email; more PENDING registrations acknowledged than `capacity`; two
// waitlisted registrations of one ticket type told the same position.
std::vector<Violation> CheckAnswers(const std::vector<Attempt>& plan,
                                    const std::vector<Outcome>& outcomes,
                                    int32_t capacity);

// What the database holds after the run, for the report.
struct DatabaseFacts {
  std::map<int, int64_t> rows_by_status;  // registrations of the event
  int64_t held_without_registration = 0;  // HELD holds no row refers to
  int64_t quotas_checked = 0;
};

// Read-only queries on schemas `quota` and `registration` at `pg_url`:
//  - held + sold <= capacity (and >= 0) for every quota of every event;
//  - each quota of the event counts exactly its HELD / COMMITTED holds;
//  - no two live registrations of the event share an email;
//  - every registration acknowledged OK exists with the status it was told;
//  - every PENDING_CONFIRMATION registration owns a HELD hold;
//  - per ticket type, waitlist_seq is 1..n without gaps or repeats, matches
//    waitlist_counters, and each waitlisted answer's position is its rank.
// Appends violations to `out`; returns an error only if the checks could
// not run (connection, query).
absl::Status CheckDatabase(const std::string& pg_url,
                           const std::string& event_id,
                           const std::vector<Outcome>& outcomes,
                           std::vector<Violation>& out, DatabaseFacts& facts);

}  // namespace admit::loadtest

#endif  // ADMIT_LOADTEST_CHECKS_H_
