// EventSource with a short-lived in-memory cache in front of a loader (the
// EventStore in production), so the registration hot path reads Postgres
// about once per event per TTL instead of once per request.
//
// The contract is TtlCache's (ttl_cache.h), keyed by event id: a loaded event
// is served for `ttl`, NOT_FOUND for `negative_ttl`, other errors are not
// cached, concurrent misses coalesce into one load, at most max_entries ids
// are kept, and `done` runs on the loader's thread on a miss or on the
// calling thread on a hit, never under the cache's lock.
//
// Thread safety: every method may be called from any thread at any time.
// The destructor waits for loads in flight (their callbacks use the cache),
// so destroy the cache before what the loader uses (the store, the pool).
#ifndef ADMIT_SERVICES_REGISTRATION_EVENT_CACHE_H_
#define ADMIT_SERVICES_REGISTRATION_EVENT_CACHE_H_

#include <cstddef>
#include <string>
#include <utility>

#include "services/registration/event_source.h"
#include "services/registration/event_store.h"
#include "services/registration/ttl_cache.h"

namespace admit::registration {

using EventCacheOptions = TtlCacheOptions;

class EventCache final : public EventSource {
 public:
  using Loader = TtlCache<EventSnapshot>::Loader;
  using Clock = TtlCache<EventSnapshot>::Clock;

  explicit EventCache(
      Loader loader, EventCacheOptions options = {},
      Clock clock = [] { return absl::Now(); })
      : cache_(std::move(loader), options, std::move(clock)) {}

  void Get(const std::string& event_id, Callback done) override {
    cache_.Get(event_id, std::move(done));
  }

  // Forgets `event_id` (this replica just created or changed it), so the
  // next Get loads it. A load in flight still answers its callers but its
  // result is not kept.
  void Invalidate(const std::string& event_id) { cache_.Invalidate(event_id); }

  // Ids currently cached (including ones being loaded).
  size_t size() const { return cache_.size(); }

 private:
  TtlCache<EventSnapshot> cache_;
};

EventCache::Loader LoadFromStore(EventStore* store);

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_EVENT_CACHE_H_
