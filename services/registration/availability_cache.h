// The live figures behind GetAvailability, per event, cached for a short
// time: the quota service's GetUsage (capacity, held, sold per quota) and
// the waitlist counter rows. Cheap by construction: at most one refresh per
// event in flight per replica, the figures reused for `ttl` (1 s), so a
// thousand pages polling an event cost one GetUsage and one indexed read
// per second per replica, never a scan.
//
// Thread safety: Get may be called from any thread; `done` runs on the
// caller's thread (fresh figures) or on a quota-client or store thread.
#ifndef ADMIT_SERVICES_REGISTRATION_AVAILABILITY_CACHE_H_
#define ADMIT_SERVICES_REGISTRATION_AVAILABILITY_CACHE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "admit/v1/quota.pb.h"
#include "services/registration/quota_client.h"
#include "services/registration/registration_store.h"
#include "services/registration/ttl_cache.h"

namespace admit::registration {

struct AvailabilityFigures {
  v1::GetUsageResponse usage;                 // every quota of the event
  std::map<std::string, int32_t> waitlisted;  // per ticket type
  absl::Time fetched_at;                      // this replica's clock
};

struct AvailabilityCacheOptions {
  absl::Duration ttl = absl::Seconds(1);
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

class AvailabilityCache {
 public:
  using Figures = std::shared_ptr<const AvailabilityFigures>;
  using Done = absl::AnyInvocable<void(absl::StatusOr<Figures>) &&>;

  // `quota` and `store` must outlive this object.
  AvailabilityCache(QuotaClient* quota, RegistrationStore* store,
                    AvailabilityCacheOptions options = {});
  AvailabilityCache(const AvailabilityCache&) = delete;
  AvailabilityCache& operator=(const AvailabilityCache&) = delete;

  // Figures at most `ttl` old, or the refresh's error (quota GetUsage:
  // NOT_FOUND when the event has no quotas, UNAVAILABLE; store: UNAVAILABLE).
  // Errors are not cached.
  void Get(const std::string& event_id, Done done);

 private:
  // Both reads of one refresh in parallel; the second to finish answers.
  static void Load(QuotaClient* quota, RegistrationStore* store,
                   std::function<absl::Time()> clock,
                   const std::string& event_id,
                   TtlCache<Figures>::Callback done);

  // A TtlCache (ttl_cache.h): one refresh in flight per event, callers join
  // it; its destructor waits for refreshes in flight.
  TtlCache<Figures> cache_;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_AVAILABILITY_CACHE_H_
