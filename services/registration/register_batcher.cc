#include "services/registration/register_batcher.h"

#include <algorithm>
#include <utility>

#include "common/log/log.h"

namespace admit::registration {

RegisterBatcher::RegisterBatcher(RegistrationStore* store,
                                 RegisterBatcherOptions options,
                                 BatchObserver observer)
    : store_(store),
      options_{std::max(1, options.max_batch), options.max_pending},
      observer_(std::move(observer)) {}

RegisterBatcher::~RegisterBatcher() { WaitIdle(); }

void RegisterBatcher::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock,
                [this] { return queues_.empty() && callbacks_running_ == 0; });
}

RegisterBatcherStats RegisterBatcher::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::vector<RegisterBatcher::Pending> RegisterBatcher::TakeLocked(
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
  stats_.registrations += static_cast<int64_t>(n);
  stats_.largest_batch = std::max<int64_t>(stats_.largest_batch, n);
  return batch;
}

void RegisterBatcher::Insert(NewRegistration registration, Done done) {
  const std::string event_id = registration.event_id;
  std::vector<Pending> batch;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stats_.pending >= options_.max_pending) {
      lock.unlock();  // `done` may take locks of its own
      done(absl::UnavailableError(
          "registration replica busy: too many registrations waiting; retry "
          "with the same request_id"));
      return;
    }
    auto [it, idle] = queues_.try_emplace(event_id);
    it->second.waiting.push_back({std::move(registration), std::move(done)});
    ++stats_.pending;
    if (!idle) return;  // a batch is in flight: joins the next one
    ++stats_.in_flight;
    batch = TakeLocked(it->second);
  }
  Dispatch(event_id, std::move(batch));
}

void RegisterBatcher::Dispatch(const std::string& event_id,
                               std::vector<Pending> batch) {
  if (observer_) observer_(batch.size());
  std::vector<NewRegistration> commands;
  commands.reserve(batch.size());
  for (const Pending& p : batch) commands.push_back(p.registration);
  store_->InsertBatch(
      event_id, std::move(commands),
      [this, event_id, batch = std::move(batch)](
          absl::StatusOr<std::vector<absl::StatusOr<InsertResult>>>
              result) mutable {
        OnBatchDone(event_id, std::move(batch), std::move(result));
      });
}

void RegisterBatcher::OnBatchDone(
    const std::string& event_id, std::vector<Pending> batch,
    absl::StatusOr<std::vector<absl::StatusOr<InsertResult>>> result) {
  // Start the event's next batch before answering this one, so the database
  // is busy again as early as possible. The event stays in queues_ (= in
  // flight) meanwhile.
  std::vector<Pending> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++callbacks_running_;
    next = TakeLocked(queues_.at(event_id));
  }
  const bool dispatched = !next.empty();
  if (dispatched) Dispatch(event_id, std::move(next));

  if (!result.ok()) {
    log::Warn("registration batch failed",
              {{"event_id", event_id},
               {"size", static_cast<int64_t>(batch.size())},
               {"error", result.status().ToString()}});
  } else if (result->size() != batch.size()) {
    result = absl::InternalError("store answered a batch with a wrong count");
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    absl::StatusOr<InsertResult> answer =
        result.ok() ? std::move((*result)[i])
                    : absl::StatusOr<InsertResult>(result.status());
    batch[i].done(std::move(answer));
  }

  if (!dispatched) {
    // Registrations may have arrived while we answered (they saw the event
    // in flight and queued): they are the next batch. Otherwise idle.
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

}  // namespace admit::registration
