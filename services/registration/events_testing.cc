#include "services/registration/events_testing.h"

#include <chrono>
#include <future>
#include <mutex>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/pg/migrations.h"
#include "gtest/gtest.h"
#include "tests/support/test_support.h"

namespace admit::registration::testing {
namespace {

template <typename T, typename Start>
absl::StatusOr<T> Await(Start start) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<T>>>();
  std::future<absl::StatusOr<T>> future = promise->get_future();
  start([promise](absl::StatusOr<T> result) {
    promise->set_value(std::move(result));
  });
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return absl::DeadlineExceededError("the store did not answer in 10 s");
  }
  return future.get();
}

}  // namespace

std::string DatabaseUrl() {
  std::string url = admit::testing::RequireEnv("ADMIT_TEST_PG_URL");
  if (url.empty()) return url;
  static std::once_flag once;
  static absl::Status migrated;
  std::call_once(once, [&] {
    migrated =
        pg::ApplyMigrations(url, "registration", ADMIT_REGISTRATION_SCHEMA_DIR)
            .status();
  });
  if (!migrated.ok()) {
    ADD_FAILURE() << "registration migrations: " << migrated;
    return "";
  }
  return url;
}

std::unique_ptr<pg::Pool> NewPool(const std::string& url, int64_t size) {
  pg::PoolOptions options;
  options.url = url;
  options.size = size;
  auto pool = pg::Pool::Create(options);
  if (!pool.ok()) {
    ADD_FAILURE() << "pool: " << pool.status();
    return nullptr;
  }
  return std::move(*pool);
}

std::string RandomEventId(const std::string& prefix) {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  std::lock_guard<std::mutex> lock(mu);
  return absl::StrCat(prefix, "-", absl::StrFormat("%016x", rng()));
}

v1::Event SampleEvent(const std::string& id, absl::Time now) {
  v1::Event e;
  e.set_id(id);
  e.set_name("Plenipotentiary Conference");
  e.set_description("Three days, online.");
  TimeToProto(now + absl::Hours(24 * 30), e.mutable_starts_at());
  TimeToProto(now + absl::Hours(24 * 33), e.mutable_ends_at());
  e.set_time_zone("Europe/Zurich");
  TimeToProto(now - absl::Hours(1), e.mutable_registration_opens_at());
  TimeToProto(now + absl::Hours(24 * 29), e.mutable_registration_closes_at());
  DurationToProto(absl::Minutes(20), e.mutable_hold_ttl());
  e.set_capacity(10);
  v1::TicketType* delegate = e.add_ticket_types();
  delegate->set_id("delegate");
  delegate->set_name("Delegate");
  delegate->set_capacity(5);
  delegate->set_description("Member administrations' delegates.");
  v1::TicketType* observer = e.add_ticket_types();
  observer->set_id("observer");
  observer->set_name("Observer");
  return e;
}

absl::StatusOr<v1::Event> CreatePending(EventStore& store, v1::Event event,
                                        const std::string& fingerprint) {
  return Await<v1::Event>([&](auto done) {
    store.CreatePending(std::move(event), fingerprint, std::move(done));
  });
}

absl::StatusOr<v1::Event> MarkReady(EventStore& store,
                                    const std::string& event_id) {
  return Await<v1::Event>(
      [&](auto done) { store.MarkReady(event_id, std::move(done)); });
}

absl::StatusOr<EventSnapshot> GetEvent(EventStore& store,
                                       const std::string& event_id) {
  return Await<EventSnapshot>(
      [&](auto done) { store.Get(event_id, std::move(done)); });
}

absl::StatusOr<v1::Event> CreateReadyEvent(EventStore& store,
                                           const v1::Event& event) {
  auto pending = CreatePending(store, event, "fingerprint");
  if (!pending.ok()) return pending.status();
  return MarkReady(store, event.id());
}

}  // namespace admit::registration::testing
