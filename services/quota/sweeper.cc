#include "services/quota/sweeper.h"

#include <future>
#include <memory>
#include <utility>

#include "common/log/log.h"

namespace admit::quota {

Sweeper::Sweeper(HoldStore* store, QuotaMetrics* metrics,
                 SweeperOptions options)
    : store_(store), metrics_(metrics), options_(options) {}

Sweeper::~Sweeper() { Stop(); }

void Sweeper::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Sweeper::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<SweepResult> Sweeper::ExpireBatch() {
  auto promise = std::make_shared<std::promise<absl::StatusOr<SweepResult>>>();
  auto future = promise->get_future();
  store_->ExpireDue(options_.batch_size,
                    [promise](absl::StatusOr<SweepResult> result) {
                      promise->set_value(std::move(result));
                    });
  return future.get();
}

absl::StatusOr<int64_t> Sweeper::SweepOnce() {
  int64_t total = 0;
  while (true) {
    absl::StatusOr<SweepResult> batch = ExpireBatch();
    if (!batch.ok()) return batch.status();
    total += batch->expired;
    if (metrics_ != nullptr) {
      metrics_->CountExpired(batch->expired);
      metrics_->SetRemaining(batch->touched);
    }
    if (batch->expired < options_.batch_size) break;
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) break;
  }
  if (total > 0) log::Info("holds expired", {{"count", total}});
  return total;
}

void Sweeper::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    absl::StatusOr<int64_t> swept = SweepOnce();
    if (!swept.ok()) {
      log::Warn("sweep failed; retrying next interval",
                {{"error", swept.status().ToString()}});
    }
    lock.lock();
    cv_.wait_for(lock, options_.interval, [this] { return stopping_; });
  }
}

}  // namespace admit::quota
