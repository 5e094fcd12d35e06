#include "services/registration/waitlist_promoter.h"

#include <future>
#include <vector>

#include "common/log/log.h"
#include "services/registration/registrar.h"

namespace admit::registration {
namespace {

absl::StatusOr<EventSnapshot> GetEvent(EventSource* events,
                                       const std::string& event_id) {
  std::promise<absl::StatusOr<EventSnapshot>> promise;
  std::future<absl::StatusOr<EventSnapshot>> future = promise.get_future();
  events->Get(event_id, [&promise](absl::StatusOr<EventSnapshot> event) {
    promise.set_value(std::move(event));
  });
  return future.get();
}

}  // namespace

WaitlistPromoter::WaitlistPromoter(PgLifecycleStore* store, EventSource* events,
                                   WaitlistPromoterOptions options)
    : store_(store), events_(events), options_(std::move(options)) {}

WaitlistPromoter::~WaitlistPromoter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WaitlistPromoter::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void WaitlistPromoter::Kick(const std::string& event_id,
                            const std::string& ticket_type_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    kicked_.emplace(event_id, ticket_type_id);
  }
  cv_.notify_all();
}

absl::StatusOr<int> WaitlistPromoter::PromoteNow(
    const std::string& event_id, const std::string& ticket_type_id) {
  absl::StatusOr<EventSnapshot> event = GetEvent(events_, event_id);
  if (!event.ok()) return event.status();
  const v1::Event& e = **event;
  if (e.has_ends_at() &&
      options_.clock() >= absl::FromUnixSeconds(e.ends_at().seconds())) {
    return 0;  // over: nobody needs a seat any more
  }
  const OutboxEvent payload = OutboxEventFor(e, ticket_type_id);
  const absl::Duration ttl = HoldTtl(e);
  int total = 0;
  for (;;) {
    absl::StatusOr<PromoteResult> result = store_->Promote(
        event_id, ticket_type_id, ttl, payload, options_.promote);
    if (!result.ok()) return result.status();
    total += result->promoted;
    if (options_.metrics != nullptr) {
      for (int i = 0; i < result->promoted; ++i) {
        options_.metrics->CountRegistration(event_id, "promoted");
      }
    }
    if (!result->more) return total;
  }
}

void WaitlistPromoter::PromoteAll() {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> pairs =
      store_->WaitlistedTypes();
  if (!pairs.ok()) {
    log::Warn("cannot list waitlists", {{"error", pairs.status().ToString()}});
    return;
  }
  for (const auto& [event_id, type] : *pairs) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    absl::StatusOr<int> promoted = PromoteNow(event_id, type);
    if (!promoted.ok() &&
        promoted.status().code() != absl::StatusCode::kNotFound) {
      log::Warn("waitlist promotion failed",
                {{"event_id", event_id},
                 {"ticket_type_id", type},
                 {"error", promoted.status().ToString()}});
    }
  }
}

void WaitlistPromoter::Loop() {
  const bool periodic = options_.interval > absl::ZeroDuration();
  auto next_pass = std::chrono::steady_clock::now();
  for (;;) {
    std::set<std::pair<std::string, std::string>> kicked;
    bool pass = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto ready = [this] { return stop_ || !kicked_.empty(); };
      if (periodic) {
        cv_.wait_until(lock, next_pass, ready);
      } else {
        cv_.wait(lock, ready);
      }
      if (stop_) return;
      kicked.swap(kicked_);
      if (periodic && std::chrono::steady_clock::now() >= next_pass) {
        pass = true;
        next_pass = std::chrono::steady_clock::now() +
                    absl::ToChronoMilliseconds(options_.interval);
      }
    }
    for (const auto& [event_id, type] : kicked) {
      absl::StatusOr<int> promoted = PromoteNow(event_id, type);
      if (!promoted.ok()) {
        log::Warn("waitlist promotion failed",
                  {{"event_id", event_id},
                   {"ticket_type_id", type},
                   {"error", promoted.status().ToString()}});
      } else if (*promoted > 0) {
        log::Info("waitlist promoted", {{"event_id", event_id},
                                        {"ticket_type_id", type},
                                        {"promoted", *promoted}});
      }
    }
    if (pass) PromoteAll();
  }
}

}  // namespace admit::registration
