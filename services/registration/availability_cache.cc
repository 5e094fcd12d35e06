#include "services/registration/availability_cache.h"

#include <utility>

namespace admit::registration {

// The two reads of one refresh, run in parallel; the second to finish
// completes it.
struct AvailabilityCache::Refresh {
  std::mutex mu;
  int remaining = 2;
  absl::Status error;
  AvailabilityFigures figures;
};

namespace {

// Entries kept before stale ones are dropped (events polled rarely).
constexpr size_t kMaxEntries = 4096;

}  // namespace

AvailabilityCache::AvailabilityCache(QuotaClient* quota,
                                     RegistrationStore* store,
                                     AvailabilityCacheOptions options)
    : quota_(quota), store_(store), options_(std::move(options)) {}

AvailabilityCache::~AvailabilityCache() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return refreshing_ == 0; });
}

void AvailabilityCache::Get(const std::string& event_id, Done done) {
  Figures fresh;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& entry = entries_[event_id];
    if (entry.figures != nullptr &&
        options_.clock() - entry.figures->fetched_at < options_.ttl) {
      fresh = entry.figures;
    } else {
      entry.waiters.push_back(std::move(done));
      if (entry.refreshing) return;
      entry.refreshing = true;
      ++refreshing_;
    }
  }
  if (fresh != nullptr) return done(std::move(fresh));
  Start(event_id);
}

void AvailabilityCache::Start(const std::string& event_id) {
  auto refresh = std::make_shared<Refresh>();
  auto finish_one = [this, event_id, refresh](absl::Status status) {
    std::unique_lock<std::mutex> lock(refresh->mu);
    if (!status.ok() && refresh->error.ok()) refresh->error = status;
    if (--refresh->remaining > 0) return;
    lock.unlock();
    if (!refresh->error.ok()) return Complete(event_id, refresh->error);
    refresh->figures.fetched_at = options_.clock();
    Complete(event_id, std::make_shared<const AvailabilityFigures>(
                           std::move(refresh->figures)));
  };
  quota_->GetUsage(event_id, [refresh, finish_one](
                                 absl::StatusOr<v1::GetUsageResponse> usage) {
    if (usage.ok()) refresh->figures.usage = std::move(*usage);
    finish_one(usage.status());
  });
  store_->WaitlistCounts(
      event_id, [refresh, finish_one](
                    absl::StatusOr<std::map<std::string, int32_t>> counts) {
        if (counts.ok()) refresh->figures.waitlisted = std::move(*counts);
        finish_one(counts.status());
      });
}

void AvailabilityCache::Complete(const std::string& event_id,
                                 absl::StatusOr<Figures> result) {
  std::vector<Done> waiters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& entry = entries_[event_id];
    waiters = std::move(entry.waiters);
    entry.waiters.clear();
    entry.refreshing = false;
    if (result.ok()) entry.figures = *result;
    if (entries_.size() > kMaxEntries) {
      const absl::Time now = options_.clock();
      for (auto it = entries_.begin(); it != entries_.end();) {
        const Entry& e = it->second;
        const bool stale =
            e.figures == nullptr || now - e.figures->fetched_at >= options_.ttl;
        if (!e.refreshing && stale) {
          it = entries_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }
  for (Done& w : waiters) w(result);
  std::lock_guard<std::mutex> lock(mu_);
  if (--refreshing_ == 0) idle_cv_.notify_all();
}

}  // namespace admit::registration
