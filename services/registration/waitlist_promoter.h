// Hands freed seats to waitlisted registrations (DESIGN.md, flows 4 and 5):
// one background thread per replica runs PgLifecycleStore::Promote for
//   - every (event, ticket type) pair Kick()ed: a cancellation or an expiry
//     on this replica freed a seat of it;
//   - every pair with waitlisted > 0, every `interval`: seats freed
//     elsewhere (a crash, the quota service's own sweeper, another replica
//     whose promotion failed, a capacity increase) are handed out too.
// Every replica runs one; they serialize on the event's counter row, so two
// replicas never promote the same registration twice nor skip one.
//
// The event's settings (hold TTL, payload data) come from the EventSource;
// a pair whose event is unknown or has ended is left alone.
//
// Thread safety: Kick() and PromoteNow() from any thread (PromoteNow()
// blocks: not on a gRPC or pool thread). The destructor stops the thread.
#ifndef ADMIT_SERVICES_REGISTRATION_WAITLIST_PROMOTER_H_
#define ADMIT_SERVICES_REGISTRATION_WAITLIST_PROMOTER_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/registration/event_source.h"
#include "services/registration/lifecycle_store.h"
#include "services/registration/registration_metrics.h"

namespace admit::registration {

struct WaitlistPromoterOptions {
  // Period of the pass over every pair with someone waitlisted
  // (ADMIT_REGISTRATION_PROMOTION_INTERVAL); 0 = no periodic pass.
  absl::Duration interval = absl::Seconds(5);
  PromoteOptions promote;
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  // Counts `promoted` per event; may be null.
  RegistrationMetrics* metrics = nullptr;
};

class WaitlistPromoter {
 public:
  WaitlistPromoter(PgLifecycleStore* store, EventSource* events,
                   WaitlistPromoterOptions options = {});
  ~WaitlistPromoter();
  WaitlistPromoter(const WaitlistPromoter&) = delete;
  WaitlistPromoter& operator=(const WaitlistPromoter&) = delete;

  // Starts the thread (once).
  void Start();
  // Asks for a promotion pass over (event, ticket type) soon. Never blocks.
  void Kick(const std::string& event_id, const std::string& ticket_type_id);
  // Promotes for (event, ticket type) until sold out or nobody is left, on
  // the calling thread; the number promoted.
  absl::StatusOr<int> PromoteNow(const std::string& event_id,
                                 const std::string& ticket_type_id);

 private:
  void Loop();
  // Every pair with someone waitlisted.
  void PromoteAll();

  PgLifecycleStore* const store_;
  EventSource* const events_;
  const WaitlistPromoterOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::set<std::pair<std::string, std::string>> kicked_;
  std::thread thread_;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_WAITLIST_PROMOTER_H_
