#include "services/registration/expiry_sweeper.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/log/log.h"

namespace admit::registration {

ExpirySweeper::ExpirySweeper(PgLifecycleStore* store, QuotaClient* quota,
                             WaitlistPromoter* promoter,
                             ExpirySweeperOptions options)
    : store_(store), quota_(quota), promoter_(promoter), options_(options) {}

ExpirySweeper::~ExpirySweeper() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ExpirySweeper::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

absl::StatusOr<int> ExpirySweeper::SweepOnce() {
  int total = 0;
  for (;;) {
    absl::StatusOr<std::vector<ExpiredRegistration>> expired =
        store_->ExpireBatch(options_.batch_size);
    if (!expired.ok()) return expired.status();
    total += static_cast<int>(expired->size());
    // Release every hold of the batch at once, then wait for all: the
    // seats are free before the promoter asks for them.
    std::mutex mu;
    std::condition_variable cv;
    int pending = 0;
    std::set<std::pair<std::string, std::string>> freed;
    for (const ExpiredRegistration& r : *expired) {
      freed.emplace(r.event_id, r.ticket_type_id);
      if (options_.metrics != nullptr) {
        options_.metrics->CountRegistration(r.event_id, "expired");
      }
      if (r.hold_id.empty()) continue;
      {
        std::lock_guard<std::mutex> lock(mu);
        ++pending;
      }
      quota_->Release(r.hold_id, v1::RELEASE_REASON_ABANDONED,
                      [&mu, &cv, &pending, hold_id = r.hold_id](
                          absl::StatusOr<v1::ReleaseResponse> released) {
                        if (!released.ok()) {
                          log::Warn("cannot release an expired hold",
                                    {{"hold_id", hold_id},
                                     {"error", released.status().ToString()}});
                        }
                        std::lock_guard<std::mutex> lock(mu);
                        if (--pending == 0) cv.notify_all();
                      });
    }
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&pending] { return pending == 0; });
    }
    if (promoter_ != nullptr) {
      for (const auto& [event_id, type] : freed)
        promoter_->Kick(event_id, type);
    }
    if (static_cast<int>(expired->size()) < options_.batch_size) return total;
  }
}

void ExpirySweeper::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.interval),
                   [this] { return stop_; });
      if (stop_) return;
    }
    absl::StatusOr<int> expired = SweepOnce();
    if (!expired.ok()) {
      log::Warn("expiry sweep failed",
                {{"error", expired.status().ToString()}});
    } else if (*expired > 0) {
      log::Info("registrations expired", {{"count", *expired}});
    }
  }
}

}  // namespace admit::registration
