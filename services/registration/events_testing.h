// Test support for the event part's tests (*_pgtest): the test database with
// the registration migrations applied, pools, fresh ids, a valid sample
// event, and blocking wrappers around the asynchronous EventStore. Test-only.
//
// Every test uses its own random event ids, so test binaries can run in
// parallel against one database.
#ifndef ADMIT_SERVICES_REGISTRATION_EVENTS_TESTING_H_
#define ADMIT_SERVICES_REGISTRATION_EVENTS_TESTING_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "admit/v1/common.pb.h"
#include "common/pg/pool.h"
#include "services/registration/event_source.h"
#include "services/registration/event_store.h"

namespace admit::registration::testing {

// ADMIT_TEST_PG_URL after applying the registration migrations to it (once
// per process); "" (and a test failure) when the variable is missing or the
// migrations fail.
std::string DatabaseUrl();

// A pool on `url`; null (and a test failure) when it cannot be created.
std::unique_ptr<pg::Pool> NewPool(const std::string& url, int64_t size = 4);

// "<prefix>-<16 hex digits>", a fresh slug each call.
std::string RandomEventId(const std::string& prefix = "t");

// A valid event for CreateEvent: id `id` (may be empty), starting in 30
// days, two ticket types ("delegate" with capacity 5, "observer" without a
// capacity of its own), total capacity 10, time zone Europe/Zurich, nothing
// defaulted (window and hold_ttl set).
v1::Event SampleEvent(const std::string& id, absl::Time now = absl::Now());

// Blocking EventStore calls (10 s at most; DEADLINE_EXCEEDED after that).
absl::StatusOr<v1::Event> CreatePending(EventStore& store, v1::Event event,
                                        const std::string& fingerprint);
absl::StatusOr<v1::Event> MarkReady(EventStore& store,
                                    const std::string& event_id);
absl::StatusOr<EventSnapshot> GetEvent(EventStore& store,
                                       const std::string& event_id);
// CreatePending + MarkReady.
absl::StatusOr<v1::Event> CreateReadyEvent(EventStore& store,
                                           const v1::Event& event);

}  // namespace admit::registration::testing

#endif  // ADMIT_SERVICES_REGISTRATION_EVENTS_TESTING_H_
