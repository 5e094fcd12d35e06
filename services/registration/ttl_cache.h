// A short-lived in-memory cache of values loaded asynchronously by key (an
// event's settings, an event's quota usage), so a hot path asks the loader
// about once per key per TTL instead of once per request.
//
// Contract:
//   - A loaded value is served for `ttl` after its load completed; a
//     NOT_FOUND answer for `negative_ttl` (a flood of requests for a bogus key
//     costs one load per negative_ttl, not one per request). Other errors
//     (UNAVAILABLE, ...) are not cached: the waiting calls get them and the
//     next Get loads again.
//   - Concurrent misses of one key coalesce: one load, every caller gets its
//     result. An expired entry is reloaded by the first Get after expiry;
//     Gets arriving while that reload runs wait for it (so no caller ever
//     sees a value older than ttl + one load).
//   - At most max_entries keys are cached: a miss that finds the cache full
//     evicts the entries loaded longest ago; entries being loaded are never
//     evicted, and a miss that finds every entry loading is passed to the
//     loader uncached (not coalesced, not remembered).
//   - `done` runs on the loader's thread on a miss, or on the calling thread
//     on a hit; never while the cache's lock is held.
//
// Thread safety: every method may be called from any thread at any time.
// The destructor waits for loads in flight (their callbacks use the cache),
// so destroy the cache before what the loader uses.
#ifndef ADMIT_SERVICES_REGISTRATION_TTL_CACHE_H_
#define ADMIT_SERVICES_REGISTRATION_TTL_CACHE_H_

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
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace admit::registration {

struct TtlCacheOptions {
  // How long a loaded value is served without asking the loader again.
  std::chrono::milliseconds ttl{1000};
  // How long a NOT_FOUND answer is served.
  std::chrono::milliseconds negative_ttl{1000};
  // Most keys cached at once (>= 1).
  size_t max_entries = 10000;
};

template <typename Value>
class TtlCache {
 public:
  using Result = absl::StatusOr<Value>;
  using Callback = absl::AnyInvocable<void(Result) &&>;
  // Loads one key: calls `done` exactly once (any thread) with the value,
  // NOT_FOUND or another error. Must not call back into the cache's Get for
  // the same key synchronously.
  using Loader = std::function<void(const std::string& key, Callback done)>;
  using Clock = std::function<absl::Time()>;

  explicit TtlCache(
      Loader loader, TtlCacheOptions options = {},
      Clock clock = [] { return absl::Now(); })
      : loader_(std::move(loader)),
        options_(Normalized(options)),
        clock_(std::move(clock)) {}
  ~TtlCache() {
    std::unique_lock<std::mutex> lock(mu_);
    idle_cv_.wait(lock, [this] { return loads_in_flight_ == 0; });
  }
  TtlCache(const TtlCache&) = delete;
  TtlCache& operator=(const TtlCache&) = delete;

  // Calls `done` exactly once with the value of `key` (see the contract).
  void Get(const std::string& key, Callback done);

  // Forgets `key` (this replica just changed what it names), so the next Get
  // loads it. A load in flight still answers its callers but its result is
  // not kept.
  void Invalidate(const std::string& key);

  // Keys currently cached (including ones being loaded).
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_.size();
  }

 private:
  struct Entry {
    bool loading = false;
    // Set by Invalidate during a load: answer the waiters, keep nothing.
    bool discard_load = false;
    std::optional<Result> value;  // a value or NOT_FOUND
    absl::Time expires_at;
    std::vector<Callback> waiters;
    std::list<std::string>::iterator order;
  };
  using Entries = std::unordered_map<std::string, Entry>;

  static TtlCacheOptions Normalized(TtlCacheOptions options) {
    if (options.max_entries < 1) options.max_entries = 1;
    return options;
  }

  void OnLoaded(const std::string& key, Result result);
  // Erases entries loaded longest ago (skipping ones loading) until there is
  // room for one more. Requires mu_.
  void MakeRoomLocked();
  void EraseLocked(typename Entries::iterator it) {
    order_.erase(it->second.order);
    entries_.erase(it);
  }
  void LoadDone() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--loads_in_flight_ == 0) idle_cv_.notify_all();
  }

  const Loader loader_;
  const TtlCacheOptions options_;
  const Clock clock_;

  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  Entries entries_;
  std::list<std::string> order_;  // keys, least recently loaded first
  int64_t loads_in_flight_ = 0;
};

template <typename Value>
void TtlCache<Value>::Get(const std::string& key, Callback done) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    Entry& entry = it->second;
    if (entry.loading) {
      entry.waiters.push_back(std::move(done));
      return;
    }
    if (entry.value.has_value() && clock_() < entry.expires_at) {
      Result hit = *entry.value;
      lock.unlock();
      std::move(done)(std::move(hit));
      return;
    }
    // Expired: reload below, keeping the entry's place.
  } else {
    if (entries_.size() >= options_.max_entries) MakeRoomLocked();
    if (entries_.size() >= options_.max_entries) {
      // Every entry is being loaded: answer this one without caching it.
      ++loads_in_flight_;
      lock.unlock();
      loader_(key, [this, done = std::move(done)](Result result) mutable {
        std::move(done)(std::move(result));
        LoadDone();
      });
      return;
    }
    it = entries_.emplace(key, Entry{}).first;
    it->second.order = order_.insert(order_.end(), key);
  }
  Entry& entry = it->second;
  entry.loading = true;
  entry.waiters.push_back(std::move(done));
  ++loads_in_flight_;
  lock.unlock();
  loader_(key,
          [this, key](Result result) { OnLoaded(key, std::move(result)); });
}

template <typename Value>
void TtlCache<Value>::OnLoaded(const std::string& key, Result result) {
  std::vector<Callback> waiters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The entry exists: entries being loaded are never erased.
    auto it = entries_.find(key);
    Entry& entry = it->second;
    waiters = std::move(entry.waiters);
    entry.waiters.clear();
    entry.loading = false;
    const bool not_found =
        !result.ok() && result.status().code() == absl::StatusCode::kNotFound;
    if ((result.ok() || not_found) && !entry.discard_load) {
      entry.value = result;
      entry.expires_at =
          clock_() +
          absl::FromChrono(not_found ? options_.negative_ttl : options_.ttl);
      order_.splice(order_.end(), order_, entry.order);
    } else {
      EraseLocked(it);
    }
  }
  for (size_t i = 0; i < waiters.size(); ++i) {
    if (i + 1 == waiters.size()) {
      std::move(waiters[i])(std::move(result));
    } else {
      std::move(waiters[i])(result);
    }
  }
  LoadDone();
}

template <typename Value>
void TtlCache<Value>::Invalidate(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (it->second.loading) {
    it->second.discard_load = true;
  } else {
    EraseLocked(it);
  }
}

template <typename Value>
void TtlCache<Value>::MakeRoomLocked() {
  // Each key is looked at most once: loading ones go to the back.
  for (size_t n = order_.size();
       n > 0 && entries_.size() >= options_.max_entries; --n) {
    auto it = entries_.find(order_.front());
    if (it->second.loading) {
      order_.splice(order_.end(), order_, order_.begin());
      continue;
    }
    EraseLocked(it);
  }
}

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_TTL_CACHE_H_
