#include "services/registration/event_cache.h"

#include <utility>

namespace admit::registration {
namespace {

EventCacheOptions Normalized(EventCacheOptions options) {
  if (options.max_entries < 1) options.max_entries = 1;
  return options;
}

}  // namespace

EventCache::EventCache(Loader loader, EventCacheOptions options, Clock clock)
    : loader_(std::move(loader)),
      options_(Normalized(options)),
      clock_(std::move(clock)) {}

EventCache::~EventCache() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return loads_in_flight_ == 0; });
}

void EventCache::Get(const std::string& event_id, Callback done) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = entries_.find(event_id);
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
      loader_(event_id, [this, done = std::move(done)](Result result) mutable {
        std::move(done)(std::move(result));
        LoadDone();
      });
      return;
    }
    it = entries_.emplace(event_id, Entry{}).first;
    it->second.order = order_.insert(order_.end(), event_id);
  }
  Entry& entry = it->second;
  entry.loading = true;
  entry.waiters.push_back(std::move(done));
  ++loads_in_flight_;
  lock.unlock();
  StartLoad(event_id);
}

void EventCache::StartLoad(const std::string& event_id) {
  loader_(event_id, [this, event_id](Result result) {
    OnLoaded(event_id, std::move(result));
  });
}

void EventCache::OnLoaded(const std::string& event_id, Result result) {
  std::vector<Callback> waiters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The entry exists: entries being loaded are never erased.
    auto it = entries_.find(event_id);
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

void EventCache::LoadDone() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--loads_in_flight_ == 0) idle_cv_.notify_all();
}

void EventCache::Invalidate(const std::string& event_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(event_id);
  if (it == entries_.end()) return;
  if (it->second.loading) {
    it->second.discard_load = true;
  } else {
    EraseLocked(it);
  }
}

size_t EventCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

void EventCache::MakeRoomLocked() {
  // Each id is looked at most once: loading ones go to the back.
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

void EventCache::EraseLocked(
    std::unordered_map<std::string, Entry>::iterator it) {
  order_.erase(it->second.order);
  entries_.erase(it);
}

EventCache::Loader LoadFromStore(EventStore* store) {
  return [store](const std::string& event_id, EventSource::Callback done) {
    store->Get(event_id, std::move(done));
  };
}

}  // namespace admit::registration
