#include "services/registration/availability_cache.h"

#include <chrono>
#include <mutex>
#include <utility>

namespace admit::registration {
namespace {

// Events kept; the ones refreshed longest ago are dropped first.
constexpr size_t kMaxEntries = 4096;

TtlCacheOptions CacheOptions(const AvailabilityCacheOptions& options) {
  TtlCacheOptions out;
  out.ttl = absl::ToChronoMilliseconds(options.ttl);
  out.negative_ttl = std::chrono::milliseconds(0);  // errors are not kept
  out.max_entries = kMaxEntries;
  return out;
}

}  // namespace

AvailabilityCache::AvailabilityCache(QuotaClient* quota,
                                     RegistrationStore* store,
                                     AvailabilityCacheOptions options)
    : cache_(
          [quota, store, clock = options.clock](
              const std::string& event_id, TtlCache<Figures>::Callback done) {
            Load(quota, store, clock, event_id, std::move(done));
          },
          CacheOptions(options), options.clock) {}

void AvailabilityCache::Get(const std::string& event_id, Done done) {
  cache_.Get(event_id, std::move(done));
}

void AvailabilityCache::Load(QuotaClient* quota, RegistrationStore* store,
                             std::function<absl::Time()> clock,
                             const std::string& event_id,
                             TtlCache<Figures>::Callback done) {
  struct Refresh {
    std::mutex mu;
    int remaining = 2;
    absl::Status error;
    AvailabilityFigures figures;
    TtlCache<Figures>::Callback done;
  };
  auto refresh = std::make_shared<Refresh>();
  refresh->done = std::move(done);
  auto finish_one = [refresh, clock](absl::Status status) {
    std::unique_lock<std::mutex> lock(refresh->mu);
    if (!status.ok() && refresh->error.ok()) refresh->error = status;
    if (--refresh->remaining > 0) return;
    lock.unlock();
    if (!refresh->error.ok()) {
      std::move(refresh->done)(refresh->error);
      return;
    }
    refresh->figures.fetched_at = clock();
    std::move(refresh->done)(std::make_shared<const AvailabilityFigures>(
        std::move(refresh->figures)));
  };
  quota->GetUsage(event_id, [refresh, finish_one](
                                absl::StatusOr<v1::GetUsageResponse> usage) {
    if (usage.ok()) refresh->figures.usage = std::move(*usage);
    finish_one(usage.status());
  });
  store->WaitlistCounts(
      event_id, [refresh, finish_one](
                    absl::StatusOr<std::map<std::string, int32_t>> counts) {
        if (counts.ok()) refresh->figures.waitlisted = std::move(*counts);
        finish_one(counts.status());
      });
}

}  // namespace admit::registration
