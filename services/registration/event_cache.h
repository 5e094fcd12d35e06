// EventSource with a short-lived in-memory cache in front of a loader (the
// EventStore in production), so the registration hot path reads Postgres
// about once per event per TTL instead of once per request.
//
// Contract, on top of EventSource's:
//   - A loaded event is served for `ttl` after its load completed; a
//     NOT_FOUND answer for `negative_ttl` (a flood of requests for a bogus id
//     costs one query per negative_ttl, not one per request). Other errors
//     (UNAVAILABLE, ...) are not cached: the waiting calls get them and the
//     next Get loads again.
//   - Concurrent misses of one id coalesce: one load, every caller gets its
//     result. An expired entry is reloaded by the first Get after expiry;
//     Gets arriving while that reload runs wait for it (so no caller ever
//     sees a snapshot older than ttl + one load).
//   - At most max_entries ids are cached: a miss that finds the cache full
//     evicts the entries loaded longest ago; entries being loaded are never
//     evicted, and a miss that finds every entry loading is passed to the
//     loader uncached (not coalesced, not remembered).
//   - `done` runs on the loader's thread (a pool thread) on a miss, or on the
//     calling thread on a hit; never while the cache's lock is held.
//
// Thread safety: every method may be called from any thread at any time.
// The destructor waits for loads in flight (their callbacks use the cache),
// so destroy the cache before what the loader uses (the store, the pool).
#ifndef ADMIT_SERVICES_REGISTRATION_EVENT_CACHE_H_
#define ADMIT_SERVICES_REGISTRATION_EVENT_CACHE_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/registration/event_source.h"
#include "services/registration/event_store.h"

namespace admit::registration {

struct EventCacheOptions {
  // How long a loaded event is served without asking the loader again.
  std::chrono::milliseconds ttl{1000};
  // How long a NOT_FOUND answer is served.
  std::chrono::milliseconds negative_ttl{1000};
  // Most event ids cached at once (>= 1).
  size_t max_entries = 10000;
};

class EventCache final : public EventSource {
 public:
  // Loads one event: calls `done` exactly once (any thread) with the event,
  // NOT_FOUND or another error. Must not call back into the cache's Get for
  // the same id synchronously.
  using Loader = std::function<void(const std::string& event_id,
                                    EventSource::Callback done)>;
  using Clock = std::function<absl::Time()>;

  explicit EventCache(
      Loader loader, EventCacheOptions options = {},
      Clock clock = [] { return absl::Now(); });
  ~EventCache() override;
  EventCache(const EventCache&) = delete;
  EventCache& operator=(const EventCache&) = delete;

  void Get(const std::string& event_id, Callback done) override;

  // Forgets `event_id` (this replica just created or changed it), so the
  // next Get loads it. A load in flight still answers its callers but its
  // result is not kept.
  void Invalidate(const std::string& event_id);

  // Ids currently cached (including ones being loaded).
  size_t size() const;

 private:
  using Result = absl::StatusOr<EventSnapshot>;

  struct Entry {
    bool loading = false;
    // Set by Invalidate during a load: answer the waiters, keep nothing.
    bool discard_load = false;
    std::optional<Result> value;  // an event or NOT_FOUND
    absl::Time expires_at;
    std::vector<Callback> waiters;
    std::list<std::string>::iterator order;
  };

  void StartLoad(const std::string& event_id);
  void OnLoaded(const std::string& event_id, Result result);
  // Erases entries loaded longest ago (skipping ones loading) until there is
  // room for one more. Requires mu_.
  void MakeRoomLocked();
  void EraseLocked(std::unordered_map<std::string, Entry>::iterator it);
  void LoadDone();

  const Loader loader_;
  const EventCacheOptions options_;
  const Clock clock_;

  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> order_;  // ids, least recently loaded first
  int64_t loads_in_flight_ = 0;
};

// A Loader reading ready events from `store` (which must outlive the cache).
EventCache::Loader LoadFromStore(EventStore* store);

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_EVENT_CACHE_H_
