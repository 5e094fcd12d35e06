#include "services/registration/counts_service.h"

#include <algorithm>
#include <atomic>
#include <future>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/server/guard.h"
#include "common/status/status.h"
#include "services/registration/api_key.h"
#include "services/registration/event_store.h"
#include "services/registration/validation.h"

namespace admit::registration {
namespace {

absl::Status ValidateEventId(const std::string& event_id) {
  if (event_id.empty()) return InvalidFields({{"event_id", "is required"}});
  if (!IsSlug(event_id)) {
    return InvalidFields({{"event_id",
                           "must be 1-63 of a-z, 0-9 and '-', not starting "
                           "or ending with '-'"}});
  }
  return absl::OkStatus();
}

// Store and quota errors: "try again" (see organizer_service.h).
absl::Status Retryable(const absl::Status& status, std::string_view what) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return absl::UnavailableError(
          absl::StrCat(std::string(what), ": not set up yet; retry"));
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kResourceExhausted:
      return absl::UnavailableError(absl::StrCat(std::string(what),
                                                 " did not complete (",
                                                 status.message(), "); retry"));
    default:
      return status;
  }
}

grpc::Status ToRpc(const absl::Status& status, std::string_view method) {
  if (status.code() == absl::StatusCode::kInternal) {
    log::Error("internal error",
               {{"method", method}, {"error", std::string(status.message())}});
  }
  return ToGrpcStatus(status);
}

std::optional<std::string> AuthorizationOf(
    const grpc::CallbackServerContext& context) {
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

void AddCountsSettings(config::Settings& settings,
                       std::chrono::milliseconds* interval) {
  settings.AddDuration(
      "ADMIT_REGISTRATION_WATCH_MIN_INTERVAL", *interval,
      "WatchRegistrationCounts: least time between two messages of a stream "
      "(a request's larger min_interval wins); changes within it are "
      "coalesced into one message.",
      interval);
}

// One WatchRegistrationCounts stream. Reference-counted: gRPC's reference
// is dropped in OnDone, the event check's while it runs; the hub holds raw
// pointers, only under its mutex, and Remove() (in OnDone, under that mutex)
// takes the pointer away before the reference goes.
class CountsService::Watcher final
    : public grpc::ServerWriteReactor<v1::RegistrationCounts> {
 public:
  Watcher(CountsService* hub, std::string event_id, absl::Duration interval,
          std::optional<std::string> authorization)
      : event_id_(std::move(event_id)),
        interval_(interval),
        authorization_(std::move(authorization)),
        hub_(hub) {}
  ~Watcher() override { hub_->CallDone(); }

  const std::string& event_id() const { return event_id_; }
  const std::optional<std::string>& authorization() const {
    return authorization_;
  }

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Finishes the stream with `status` once; deferred until the write in
  // flight completes.
  void End(grpc::Status status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_) return;
      finished_ = true;
      if (writing_) {
        finish_pending_ = std::move(status);
        return;
      }
    }
    Finish(std::move(status));
  }

  bool finished() {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_;
  }
  bool awaits_first() {
    std::lock_guard<std::mutex> lock(mu_);
    return !finished_ && sent_seq_ == 0;
  }

  // Starts a write of `message` (number `seq`) if the stream is idle, has
  // not had it, and its interval has passed since its last message (the
  // first message goes at once). True when a write started.
  bool Offer(const std::shared_ptr<const v1::RegistrationCounts>& message,
             uint64_t seq, absl::Time now) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_ || writing_ || seq <= sent_seq_) return false;
      if (sent_seq_ != 0 && now - last_sent_ < interval_) return false;
      writing_ = true;
      sent_seq_ = seq;
      last_sent_ = now;
      buffer_ = message;
    }
    StartWrite(buffer_.get());
    return true;
  }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      buffer_.reset();
      if (finish_pending_.has_value()) {
        finish = std::move(finish_pending_);
        finish_pending_.reset();
      } else if (!ok && !finished_) {
        finished_ = true;
        finish =
            grpc::Status(grpc::StatusCode::UNAVAILABLE, "the stream broke");
      }
    }
    if (finish.has_value()) Finish(std::move(*finish));
  }

  void OnCancel() override {
    End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
  }

  void OnDone() override {
    hub_->Remove(this);
    Unref();
  }

  bool registered = false;  // guarded by the hub's mutex

 private:
  const std::string event_id_;
  const absl::Duration interval_;
  const std::optional<std::string> authorization_;
  CountsService* const hub_;
  std::atomic<int> refs_{1};

  std::mutex mu_;
  bool writing_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> finish_pending_;
  uint64_t sent_seq_ = 0;
  absl::Time last_sent_ = absl::InfinitePast();
  std::shared_ptr<const v1::RegistrationCounts> buffer_;
};

struct CountsService::EventState {
  std::set<Watcher*> watchers;
  std::shared_ptr<const v1::RegistrationCounts> message;  // latest
  uint64_t seq = 0;                                       // of `message`
  int64_t version = -1;
  absl::Time fetched_at = absl::InfinitePast();
  UsageSnapshot usage;  // last good GetUsage; null before the first
};

CountsService::CountsService(CountsStore* store, EventSource* events,
                             QuotaClient* quota,
                             const ApiKeyAuthenticator* keys,
                             CountsServiceOptions options)
    : store_(store),
      events_(events),
      keys_(keys),
      options_(options),
      tick_(std::clamp(options.min_interval / 4, absl::Milliseconds(5),
                       absl::Milliseconds(250))),
      usage_cache_(
          [quota](const std::string& event_id,
                  TtlCache<UsageSnapshot>::Callback done) {
            quota->GetUsage(
                event_id,
                [done = std::move(done)](
                    absl::StatusOr<v1::GetUsageResponse> usage) mutable {
                  if (!usage.ok()) {
                    std::move(done)(usage.status());
                    return;
                  }
                  std::move(done)(std::make_shared<const v1::GetUsageResponse>(
                      std::move(*usage)));
                });
          },
          TtlCacheOptions{.ttl = options.usage_ttl,
                          .negative_ttl = std::chrono::milliseconds(0)}) {
  if (options_.metrics != nullptr) {
    watchers_gauge_ =
        &prometheus::BuildGauge()
             .Name("admit_registration_watchers")
             .Help("WatchRegistrationCounts streams open on this replica.")
             .Register(*options_.metrics)
             .Add({});
    messages_ = &prometheus::BuildCounter()
                     .Name("admit_registration_watch_messages_total")
                     .Help(
                         "RegistrationCounts messages written to "
                         "WatchRegistrationCounts streams.")
                     .Register(*options_.metrics)
                     .Add({});
    auto& reads = prometheus::BuildCounter()
                      .Name("admit_registration_counts_reads_total")
                      .Help(
                          "Reads of an event's registration counters: one "
                          "per GetRegistrationCounts call, one per changed "
                          "event and interval for all its watchers.")
                      .Register(*options_.metrics);
    get_reads_ = &reads.Add({{"source", "get"}});
    watch_reads_ = &reads.Add({{"source", "watch"}});
  }
}

CountsService::~CountsService() {
  Stop();
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return calls_in_flight_ == 0; });
}

void CountsService::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  hub_ = std::thread([this] { HubLoop(); });
}

void CountsService::Stop() {
  std::vector<Watcher*> ending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& [id, state] : events_by_id_) {
      for (Watcher* w : state->watchers) {
        w->Ref();
        ending.push_back(w);
      }
    }
  }
  cv_.notify_all();
  for (Watcher* w : ending) {
    w->End(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "the server is shutting down; reconnect"));
    w->Unref();
  }
  if (hub_.joinable() && hub_.get_id() != std::this_thread::get_id()) {
    hub_.join();
  }
}

int64_t CountsService::watchers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watcher_count_;
}

void CountsService::ForgetUsage(const std::string& event_id) {
  usage_cache_.Invalidate(event_id);
}

void CountsService::CallStarted() {
  std::lock_guard<std::mutex> lock(mu_);
  ++calls_in_flight_;
}

void CountsService::CallDone() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--calls_in_flight_ == 0) idle_cv_.notify_all();
}

grpc::ServerUnaryReactor* CountsService::Get(
    grpc::CallbackServerContext* context,
    const v1::GetRegistrationCountsRequest* request,
    v1::RegistrationCounts* response) {
  constexpr std::string_view kMethod = "GetRegistrationCounts";
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  bool handed_off = false;
  grpc::Status early = server::CallGuarded(kMethod, [&]() -> grpc::Status {
    absl::StatusOr<Caller> caller = keys_->Authenticate(*context);
    if (!caller.ok()) return ToRpc(caller.status(), kMethod);
    const std::string event_id = request->event_id();
    if (absl::Status s = ValidateEventId(event_id); !s.ok()) {
      return ToRpc(s, kMethod);
    }
    absl::Status allowed = Authorize(*caller, OrganizerCall::kRead, event_id);
    if (!allowed.ok()) return ToRpc(allowed, kMethod);
    handed_off = true;
    CallStarted();
    // Both answers meet here; the second one finishes the call.
    struct Join {
      std::mutex mu;
      int waiting = 2;
      absl::StatusOr<CountsSnapshot> counts = absl::UnknownError("");
      absl::StatusOr<UsageSnapshot> usage = absl::UnknownError("");
    };
    auto finish = [this, reactor](const absl::Status& status) {
      server::Guard(reactor, "GetRegistrationCounts",
                    [&] { return ToRpc(status, "GetRegistrationCounts"); });
      CallDone();
    };
    events_->Get(event_id, [this, event_id, response, finish](
                               absl::StatusOr<EventSnapshot> event) mutable {
      if (!event.ok()) {
        finish(event.status().code() == absl::StatusCode::kNotFound
                   ? event.status()
                   : Retryable(event.status(), "reading the event"));
        return;
      }
      auto join = std::make_shared<Join>();
      auto complete = [join, response, finish, snapshot = *event]() mutable {
        absl::Status status = absl::OkStatus();
        if (!join->counts.ok()) {
          status = Retryable(join->counts.status(), "reading the counts");
        } else if (!join->usage.ok()) {
          status =
              Retryable(join->usage.status(), "reading the event's capacity");
        } else {
          grpc::Status built =
              server::CallGuarded("GetRegistrationCounts", [&] {
                *response = BuildRegistrationCounts(*snapshot, *join->counts,
                                                    **join->usage);
                return grpc::Status::OK;
              });
          if (!built.ok()) status = absl::InternalError("internal error");
        }
        finish(status);
      };
      auto arrive = [join, complete]() mutable {
        bool last;
        {
          std::lock_guard<std::mutex> lock(join->mu);
          last = --join->waiting == 0;
        }
        if (last) complete();
      };
      if (get_reads_ != nullptr) get_reads_->Increment();
      store_->Read(
          event_id,
          [join, arrive](absl::StatusOr<CountsSnapshot> counts) mutable {
            {
              std::lock_guard<std::mutex> lock(join->mu);
              join->counts = std::move(counts);
            }
            arrive();
          });
      usage_cache_.Get(
          event_id,
          [join, arrive](absl::StatusOr<UsageSnapshot> usage) mutable {
            {
              std::lock_guard<std::mutex> lock(join->mu);
              join->usage = std::move(usage);
            }
            arrive();
          });
    });
    return grpc::Status::OK;
  });
  if (!handed_off) reactor->Finish(early);
  return reactor;
}

grpc::ServerWriteReactor<v1::RegistrationCounts>* CountsService::Watch(
    grpc::CallbackServerContext* context,
    const v1::WatchRegistrationCountsRequest* request) {
  constexpr std::string_view kMethod = "WatchRegistrationCounts";
  CallStarted();  // CallDone in ~Watcher
  absl::Duration interval = options_.min_interval;
  std::optional<std::string> authorization;
  absl::Status status = absl::InternalError("internal error");
  server::CallGuarded(kMethod, [&]() -> grpc::Status {
    authorization = AuthorizationOf(*context);
    absl::StatusOr<Caller> caller = keys_->Authenticate(*context);
    if (!caller.ok()) {
      status = caller.status();
      return grpc::Status::OK;
    }
    std::vector<FieldViolation> violations;
    if (absl::Status s = ValidateEventId(request->event_id()); !s.ok()) {
      status = s;
      return grpc::Status::OK;
    }
    if (request->has_min_interval()) {
      const auto& d = request->min_interval();
      if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() > 999999999 ||
          d.seconds() > 315576000000) {
        status = InvalidFields(
            {{"min_interval", "must be a non-negative duration"}});
        return grpc::Status::OK;
      }
      interval = std::max(interval, DurationFromProto(d));
    }
    status = Authorize(*caller, OrganizerCall::kRead, request->event_id());
    return grpc::Status::OK;
  });
  auto* w = new Watcher(this, request->event_id(), interval,
                        std::move(authorization));
  if (!status.ok()) {
    w->End(ToRpc(status, kMethod));
    return w;
  }
  w->Ref();  // for the event check
  events_->Get(w->event_id(), [this, w](absl::StatusOr<EventSnapshot> event) {
    if (!event.ok()) {
      w->End(ToRpc(event.status().code() == absl::StatusCode::kNotFound
                       ? event.status()
                       : Retryable(event.status(), "reading the event"),
                   "WatchRegistrationCounts"));
    } else {
      Add(w);
    }
    w->Unref();
  });
  return w;
}

void CountsService::Add(Watcher* w) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      if (w->finished()) return;
      std::unique_ptr<EventState>& state = events_by_id_[w->event_id()];
      if (!state) state = std::make_unique<EventState>();
      state->watchers.insert(w);
      w->registered = true;
      ++watcher_count_;
      if (watchers_gauge_ != nullptr) watchers_gauge_->Increment();
      new_watchers_ = true;
      cv_.notify_all();
      return;
    }
  }
  w->End(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "the server is shutting down; reconnect"));
}

void CountsService::Remove(Watcher* w) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!w->registered) return;
  w->registered = false;
  auto it = events_by_id_.find(w->event_id());
  if (it != events_by_id_.end()) {
    it->second->watchers.erase(w);
    if (it->second->watchers.empty()) events_by_id_.erase(it);
  }
  --watcher_count_;
  if (watchers_gauge_ != nullptr) watchers_gauge_->Decrement();
}

void CountsService::HubLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, absl::ToChronoMilliseconds(tick_),
                 [this] { return stopping_ || new_watchers_; });
    if (stopping_) break;
    new_watchers_ = false;
    lock.unlock();
    try {
      Tick();
    } catch (const std::exception& e) {
      log::Error("counts hub tick failed", {{"error", e.what()}});
    }
    lock.lock();
  }
}

void CountsService::Tick() {
  static const v1::GetUsageResponse kNoUsage;  // before the first GetUsage
  struct Plan {
    std::string event_id;
    bool first = false;  // a watcher waits for its first message
    int64_t version = -1;
    absl::Time fetched_at;
    bool has_message = false;
  };
  std::vector<Plan> plans;
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, state] : events_by_id_) {
      Plan p;
      p.event_id = id;
      for (Watcher* w : state->watchers) p.first = p.first || w->awaits_first();
      p.version = state->version;
      p.fetched_at = state->fetched_at;
      p.has_message = state->message != nullptr;
      plans.push_back(std::move(p));
      ids.push_back(id);
    }
  }
  if (plans.empty()) return;
  absl::StatusOr<std::map<std::string, int64_t>> versions =
      store_->Versions(ids);
  if (!versions.ok()) {
    log::Warn("cannot poll the counts versions",
              {{"error", versions.status().ToString()}});
    return;
  }
  const absl::Time now = absl::Now();
  for (const Plan& p : plans) {
    auto v = versions->find(p.event_id);
    const int64_t version = v == versions->end() ? 0 : v->second;
    const bool moved = version != p.version;
    const bool refresh =
        !p.has_message ||
        (moved && (p.first || now - p.fetched_at >= options_.min_interval)) ||
        now - p.fetched_at >= options_.recheck_interval;
    if (!refresh) continue;

    // The event's settings (ticket types, names), through the cache.
    auto event_promise =
        std::make_shared<std::promise<absl::StatusOr<EventSnapshot>>>();
    auto event_future = event_promise->get_future();
    events_->Get(p.event_id,
                 [event_promise](absl::StatusOr<EventSnapshot> e) mutable {
                   event_promise->set_value(std::move(e));
                 });
    auto usage_promise =
        std::make_shared<std::promise<absl::StatusOr<UsageSnapshot>>>();
    auto usage_future = usage_promise->get_future();
    usage_cache_.Get(
        p.event_id,
        [usage_promise](absl::StatusOr<UsageSnapshot> usage) mutable {
          usage_promise->set_value(std::move(usage));
        });
    if (watch_reads_ != nullptr) watch_reads_->Increment();
    absl::StatusOr<CountsSnapshot> counts = store_->ReadNow(p.event_id);
    absl::StatusOr<EventSnapshot> event = event_future.get();
    std::optional<UsageSnapshot> usage;
    if (usage_future.wait_for(absl::ToChronoMilliseconds(
            options_.usage_timeout)) == std::future_status::ready) {
      absl::StatusOr<UsageSnapshot> got = usage_future.get();
      if (got.ok()) {
        usage = std::move(*got);
      } else {
        log::Warn(
            "counts hub: GetUsage failed",
            {{"event_id", p.event_id}, {"error", got.status().ToString()}});
      }
    }
    if (!counts.ok() || !event.ok()) {
      log::Warn(
          "counts hub: cannot read the counts",
          {{"event_id", p.event_id},
           {"error",
            (!counts.ok() ? counts.status() : event.status()).ToString()}});
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = events_by_id_.find(p.event_id);
    if (it == events_by_id_.end()) continue;
    EventState& state = *it->second;
    if (usage.has_value()) state.usage = *std::move(usage);
    auto message =
        std::make_shared<v1::RegistrationCounts>(BuildRegistrationCounts(
            **event, *counts, state.usage ? *state.usage : kNoUsage));
    state.version = counts->version;
    state.fetched_at = now;
    if (state.message == nullptr || !SameCounts(*state.message, *message)) {
      state.message = std::move(message);
      ++state.seq;
    }
  }

  std::vector<Watcher*> revoked;
  std::vector<grpc::Status> why;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const absl::Time offered_at = absl::Now();
    for (auto& [id, state] : events_by_id_) {
      if (state->message == nullptr) continue;
      for (Watcher* w : state->watchers) {
        if (w->Offer(state->message, state->seq, offered_at) &&
            messages_ != nullptr) {
          messages_->Increment();
        }
      }
    }
    if (offered_at - last_reauth_ >= options_.reauth_interval) {
      last_reauth_ = offered_at;
      for (auto& [id, state] : events_by_id_) {
        for (Watcher* w : state->watchers) {
          const auto& header = w->authorization();
          absl::StatusOr<Caller> caller = keys_->Authenticate(
              header ? std::optional<std::string_view>(*header) : std::nullopt);
          absl::Status s = caller.ok()
                               ? Authorize(*caller, OrganizerCall::kRead, id)
                               : caller.status();
          // UNAVAILABLE (keys stale) does not end a stream.
          if (!s.ok() && s.code() != absl::StatusCode::kUnavailable) {
            w->Ref();
            revoked.push_back(w);
            why.push_back(ToGrpcStatus(s));
          }
        }
      }
    }
  }
  for (size_t i = 0; i < revoked.size(); ++i) {
    revoked[i]->End(why[i]);
    revoked[i]->Unref();
  }
}

}  // namespace admit::registration
