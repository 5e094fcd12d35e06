// Following a Register run through email confirmation (spike
// --confirm-fraction): wait until every registration's email is in the
// SMTP sink's Maildir, confirm a share of the PENDING ones with the token
// from their message, and check what the attendees would see.
#ifndef ADMIT_LOADTEST_FOLLOW_H_
#define ADMIT_LOADTEST_FOLLOW_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/channel.h"
#include "loadtest/checks.h"
#include "loadtest/histogram.h"
#include "loadtest/outcome.h"
#include "loadtest/plan.h"

namespace admit::loadtest {

struct FollowOptions {
  std::string maildir;  // the sink's Maildir (messages in new/)
  std::string pg_url;   // to map Message-IDs to outbox rows
  std::string event_id;
  double confirm_fraction = 0;  // of the PENDING registrations, 0..1
  // How long to wait for the registrations' messages; 0 = 30 s + 50 ms per
  // expected message (the local sink files ~130 messages/s in Release).
  std::chrono::milliseconds mail_deadline{0};
  bool wait_tickets = false;  // also wait for each confirmed one's ticket
  int clients = 64;           // concurrent ConfirmRegistration calls
  std::chrono::milliseconds call_deadline{30000};
};

// The figures of the follow-through, for the report.
struct FollowFacts {
  bool enabled = false;
  double confirm_fraction = 0;
  int64_t pending = 0;     // registrations PENDING at the end of the run
  int64_t waitlisted = 0;  // registrations WAITLISTED at the end of the run
  int64_t messages = 0;    // files of the event in the Maildir at the end
  // Expected messages (one per pending or waitlisted registration) found,
  // and the time from the run's last answer until the last of them was in
  // the Maildir (the whole wait when some never came).
  int64_t delivered = 0;
  bool all_delivered = false;
  double delivery_seconds = 0;
  double delivered_per_s = 0;
  // ConfirmRegistration calls made, answered CONFIRMED for the right
  // registration, their latency (µs) and codes.
  int64_t confirm_calls = 0;
  int64_t confirmed = 0;
  double confirm_seconds = 0;
  Histogram confirm_latency;
  std::map<std::string, int64_t> confirm_codes;
  int64_t confirmed_stored = -1;  // CONFIRMED rows of the event afterwards
  // --wait-tickets: ticket messages found for the confirmed registrations.
  bool tickets_checked = false;
  int64_t tickets_delivered = 0;
  double ticket_seconds = 0;
};

// Runs the follow-through after a Register run whose answers are
// plan/outcomes. `confirmation` are channels to ConfirmationService;
// `since_run_end` is when the run's last answer came. Appends violations:
//  - every PENDING registration got exactly one confirmation message and
//    every WAITLISTED one exactly one waitlist message (none missing within
//    the deadline, none twice), addressed to its own attendee;
//  - no Message-ID of the event's messages is in the Maildir twice;
//  - every token confirmed its own registration (CONFIRMED, ticket code);
//  - the event's CONFIRMED rows in Postgres are exactly those confirmed;
//  - with wait_tickets: each confirmed registration got one ticket message.
// Fills `confirmed_ids` with the registrations it confirmed. Returns an
// error only if it could not run (Maildir or Postgres unreachable).
absl::Status FollowThroughConfirmation(
    const FollowOptions& options, const std::vector<Attempt>& plan,
    const std::vector<Outcome>& outcomes,
    const std::vector<std::shared_ptr<grpc::Channel>>& confirmation,
    std::chrono::steady_clock::time_point since_run_end,
    std::vector<Violation>& out, FollowFacts& facts,
    std::vector<std::string>& confirmed_ids);

// The registrations to confirm out of `pending` (in answer order): an even,
// deterministic spread of floor(n * fraction) of them.
std::vector<size_t> ConfirmShare(size_t n, double fraction);

}  // namespace admit::loadtest

#endif  // ADMIT_LOADTEST_FOLLOW_H_
