#include "services/quota/reserve_batcher.h"

#include <algorithm>
#include <utility>

#include "common/log/log.h"

namespace admit::quota {

ReserveBatcher::ReserveBatcher(HoldStore* store, QuotaMetrics* metrics,
                               ReserveBatcherOptions options)
    : store_(store), metrics_(metrics), options_(options) {
  if (options_.max_batch < 1) {
    const_cast<ReserveBatcherOptions&>(options_).max_batch = 1;
  }
}

ReserveBatcher::~ReserveBatcher() { WaitIdle(); }

void ReserveBatcher::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock,
                [this] { return queues_.empty() && callbacks_running_ == 0; });
}

ReserveBatcherStats ReserveBatcher::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::vector<ReserveBatcher::Pending> ReserveBatcher::TakeLocked(
    EventQueue& queue) {
  if (queue.waiting.empty()) return {};
  const size_t n =
      std::min(queue.waiting.size(), static_cast<size_t>(options_.max_batch));
  std::vector<Pending> batch;
  batch.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(std::move(queue.waiting.front()));
    queue.waiting.pop_front();
  }
  stats_.pending -= static_cast<int64_t>(n);
  stats_.batches += 1;
  stats_.reservations += static_cast<int64_t>(n);
  stats_.largest_batch = std::max<int64_t>(stats_.largest_batch, n);
  return batch;
}

void ReserveBatcher::Reserve(ReserveCommand command, Done done) {
  const std::string event_id = command.event_id;
  std::vector<Pending> batch;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stats_.pending >= options_.max_pending) {
      lock.unlock();  // `done` may take locks of its own
      if (metrics_ != nullptr) metrics_->CountError();
      done(absl::UnavailableError(
          "quota replica busy: too many reservations waiting; retry"));
      return;
    }
    EventQueue& queue = queues_[event_id];
    queue.waiting.push_back({std::move(command), std::move(done)});
    ++stats_.pending;
    if (queue.in_flight) return;  // joins the next batch
    queue.in_flight = true;
    ++stats_.in_flight;
    batch = TakeLocked(queue);
  }
  Dispatch(event_id, std::move(batch));
}

void ReserveBatcher::Dispatch(const std::string& event_id,
                              std::vector<Pending> batch) {
  if (metrics_ != nullptr) metrics_->ObserveBatch(batch.size());
  std::vector<ReserveCommand> commands;
  commands.reserve(batch.size());
  for (const Pending& p : batch) commands.push_back(p.command);
  store_->ReserveBatch(event_id, std::move(commands),
                       [this, event_id, batch = std::move(batch)](
                           absl::StatusOr<ReserveBatchResult> result) mutable {
                         OnBatchDone(event_id, std::move(batch),
                                     std::move(result));
                       });
}

void ReserveBatcher::OnBatchDone(const std::string& event_id,
                                 std::vector<Pending> batch,
                                 absl::StatusOr<ReserveBatchResult> result) {
  // Start the event's next batch before answering this one, so the database
  // is busy again as early as possible. The event stays in_flight meanwhile.
  std::vector<Pending> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++callbacks_running_;
    next = TakeLocked(queues_.at(event_id));
  }
  const bool dispatched = !next.empty();
  if (dispatched) Dispatch(event_id, std::move(next));

  if (!result.ok()) {
    log::Warn("reservation batch failed",
              {{"event_id", event_id},
               {"size", static_cast<int64_t>(batch.size())},
               {"error", result.status().ToString()}});
  } else if (metrics_ != nullptr) {
    metrics_->SetRemaining(result->touched);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    absl::StatusOr<ReserveResult> answer =
        result.ok() ? std::move(result->results[i]) : result.status();
    if (metrics_ != nullptr) {
      if (!answer.ok()) {
        metrics_->CountError();
      } else if (answer->outcome == ReserveOutcome::kSoldOut) {
        metrics_->CountSoldOut();
      } else if (answer->existing) {
        metrics_->CountExisting();
      } else {
        metrics_->CountReserved();
      }
    }
    batch[i].done(std::move(answer));
  }

  if (!dispatched) {
    // Requests may have arrived while we answered (they saw in_flight and
    // queued): they are the next batch. Otherwise the event goes idle.
    std::unique_lock<std::mutex> lock(mu_);
    auto it = queues_.find(event_id);
    if (!it->second.waiting.empty()) {
      next = TakeLocked(it->second);
      lock.unlock();
      Dispatch(event_id, std::move(next));
      lock.lock();
    } else {
      queues_.erase(it);
      --stats_.in_flight;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  --callbacks_running_;
  // Last touch of `this`: the destructor may proceed once the lock drops.
  idle_cv_.notify_all();
}

}  // namespace admit::quota
