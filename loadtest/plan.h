// The registration attempts of a load run, decided before it starts (so a
// run is reproducible from its seed and the checks know what each attempt
// was meant to do).
#ifndef ADMIT_LOADTEST_PLAN_H_
#define ADMIT_LOADTEST_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "admit/v1/registration.pb.h"

namespace admit::loadtest {

enum class AttemptKind {
  kNew,    // a new attendee: fresh request_id and email
  kRetry,  // the exact request of attempt `original` again (same request_id)
  kDuplicateEmail,  // a fresh request_id with attempt `original`'s email
  kInvalid,         // an attendee email the API must refuse (INVALID_ARGUMENT)
};
const char* KindName(AttemptKind kind);

struct Attempt {
  AttemptKind kind = AttemptKind::kNew;
  // kRetry / kDuplicateEmail: the index of the kNew attempt they repeat
  // (always smaller than this attempt's index); -1 otherwise.
  int64_t original = -1;
  v1::RegisterRequest request;
};

struct PlanOptions {
  std::string event_id;
  std::vector<std::string> ticket_type_ids;  // attempts cycle through them
  int64_t attempts = 0;
  // Fractions of the attempts that are retries, duplicate emails and invalid
  // requests; the rest are kNew. Their sum must be < 1.
  double retry_fraction = 0;
  double duplicate_fraction = 0;
  double invalid_fraction = 0;
  // Retries and duplicates repeat one of the last `race_window` kNew
  // attempts, so with a window near the concurrency they race their original.
  int64_t race_window = 256;
  uint64_t seed = 1;
  // Spread the new attendees over organizations and countries (for the
  // organizer counts): organization cycles through "", "Org 1".."Org 5"
  // with "ORG n" spelled in capitals every other time (one group per
  // organization, as the service groups ignoring ASCII case), country
  // through CH, DE, FR, IT. Off: no organization, country CH.
  bool vary_attendees = false;
};

// The attempts, in send order. Attempt 0 is always kNew. Emails are
// synthetic (lt<run>-<i>@example.org), never real people's.
std::vector<Attempt> MakePlan(const PlanOptions& options);

}  // namespace admit::loadtest

#endif  // ADMIT_LOADTEST_PLAN_H_
