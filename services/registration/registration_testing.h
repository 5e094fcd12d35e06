// Test support for the registration flow's tests: an in-memory EventSource,
// in-process registration replicas (their own pool, store, quota client,
// service and gRPC server) next to in-process quota replicas
// (quota_testing.h), concurrent Register calls with latencies, and direct SQL
// audits. Test-only.
//
// Every test uses its own random event ids, so test binaries can run in
// parallel against one database.
#ifndef ADMIT_SERVICES_REGISTRATION_REGISTRATION_TESTING_H_
#define ADMIT_SERVICES_REGISTRATION_REGISTRATION_TESTING_H_

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "admit/v1/registration.grpc.pb.h"
#include "common/crypto/sealer.h"
#include "common/pg/pool.h"
#include "common/server/server.h"
#include "services/quota/quota_testing.h"
#include "services/registration/event_source.h"
#include "services/registration/expiry_sweeper.h"
#include "services/registration/lifecycle_service.h"
#include "services/registration/lifecycle_store.h"
#include "services/registration/pg_registration_store.h"
#include "services/registration/quota_client.h"
#include "services/registration/registration_metrics.h"
#include "services/registration/registration_service.h"
#include "services/registration/waitlist_promoter.h"

namespace admit::registration::testing {

// An EventSource over a map; Get answers on the calling thread.
class StaticEventSource final : public EventSource {
 public:
  void Put(v1::Event event);
  void Get(const std::string& event_id, Callback done) override;

 private:
  std::mutex mu_;
  std::map<std::string, EventSnapshot> events_;
};

// ADMIT_TEST_PG_URL after applying the quota and registration migrations to
// it (once per process); "" (and a test failure) when missing.
std::string DatabaseUrl();

// A Sealer with a key made once per process.
const crypto::Sealer& TestSealer();

// An event open for registration now, with `capacity` seats, the given
// ticket types (id -> own capacity, 0 = none) and hold TTL.
v1::Event MakeEvent(const std::string& event_id, int32_t capacity,
                    const std::map<std::string, int32_t>& ticket_types,
                    std::chrono::seconds hold_ttl = std::chrono::seconds(600));

// What OrganizerService.CreateEvent does on the quota side: SetQuotas with
// `event` = capacity and `type:<id>` per type with a capacity.
absl::Status SetEventQuotas(v1::QuotaService::Stub& quota,
                            const v1::Event& event);

struct RegistrationReplicaOptions {
  int64_t pool_size = 8;
  int max_batch = 128;
  int64_t max_in_flight = 2048;  // RegistrarOptions::max_in_flight
  absl::Duration availability_ttl = absl::Seconds(1);
  // Start the expiry sweeper and the waitlist promoter's thread (off: only
  // what a test triggers with sweeper().SweepOnce() / promoter()).
  bool background = false;
  absl::Duration expiry_interval = absl::Milliseconds(200);
  absl::Duration promotion_interval = absl::Seconds(1);
};

// One registration replica in this process, calling the quota replicas at
// `quota_target` (e.g. "ipv4:127.0.0.1:1,127.0.0.1:2", round robin).
// Destruction shuts the server down, then frees the rest.
class RegistrationReplica {
 public:
  static std::unique_ptr<RegistrationReplica> Start(
      const std::string& url, const std::string& quota_target,
      EventSource* events, RegistrationReplicaOptions options = {});
  ~RegistrationReplica();

  v1::RegistrationService::Stub& stub() { return *stub_; }
  v1::RegistrationLifecycleService::Stub& lifecycle_stub() {
    return *lifecycle_stub_;
  }
  ExpirySweeper& sweeper() { return *sweeper_; }
  WaitlistPromoter& promoter() { return *promoter_; }
  RegistrationServiceImpl& service() { return *service_; }
  pg::Pool& pool() { return *pool_; }
  server::Server& server() { return *server_; }

 private:
  RegistrationReplica() = default;

  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<PgRegistrationStore> store_;
  std::unique_ptr<GrpcQuotaClient> quota_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<RegistrationMetrics> metrics_;
  std::unique_ptr<PgLifecycleStore> lifecycle_store_;
  std::unique_ptr<WaitlistPromoter> promoter_;
  std::unique_ptr<ExpirySweeper> sweeper_;
  std::unique_ptr<RegistrationServiceImpl> service_;
  std::unique_ptr<LifecycleServiceImpl> lifecycle_;
  std::unique_ptr<v1::RegistrationService::Stub> stub_;
  std::unique_ptr<v1::RegistrationLifecycleService::Stub> lifecycle_stub_;
};

// "ipv4:127.0.0.1:<port>,..." for the quota replicas.
std::string QuotaTarget(const std::vector<quota::testing::Replica*>& replicas);

// A Register request with a random request_id.
v1::RegisterRequest RegisterRequestFor(const std::string& event_id,
                                       const std::string& ticket_type_id,
                                       const std::string& email,
                                       const std::string& organization = "");

// Blocking calls with a 10 s deadline; errors via FromGrpcStatus.
absl::StatusOr<v1::RegisterResponse> Register(
    v1::RegistrationService::Stub& stub, const v1::RegisterRequest& request);
absl::StatusOr<v1::Registration> GetRegistration(
    v1::RegistrationService::Stub& stub, const std::string& id,
    const std::string& token);
absl::StatusOr<v1::Registration> CancelRegistration(
    v1::RegistrationService::Stub& stub, const std::string& id,
    const std::string& token);
absl::StatusOr<v1::Availability> GetAvailability(
    v1::RegistrationService::Stub& stub, const std::string& event_id);

// Fires every request at once (request i on stubs[i % stubs.size()]), waits
// for all; answers in request order, wall time first send -> last answer.
struct ConcurrentRegisterResult {
  std::vector<absl::StatusOr<v1::RegisterResponse>> answers;
  std::chrono::microseconds elapsed{0};
  std::vector<std::chrono::microseconds> latencies;
};
ConcurrentRegisterResult RegisterConcurrently(
    const std::vector<v1::RegistrationService::Stub*>& stubs,
    const std::vector<v1::RegisterRequest>& requests,
    std::chrono::milliseconds deadline = std::chrono::seconds(60));

std::chrono::microseconds Percentile(std::vector<std::chrono::microseconds> v,
                                     double p);

// Straight from the database.
struct EventRows {
  std::map<int, int> by_status;  // RegistrationStatus value -> rows
  // waitlist_seq of WAITLISTED rows, ascending.
  std::vector<int64_t> waitlist_seqs;
  int outbox_rows = 0;
  std::map<std::string, int> waitlist_counter;  // waitlisted per type
};
absl::StatusOr<EventRows> ReadEventRows(pg::Pool& pool,
                                        const std::string& event_id);

// Every quota of the event from quota.quotas: text key -> (capacity, held,
// sold).
struct QuotaRow {
  int32_t capacity = 0;
  int32_t held = 0;
  int32_t sold = 0;
};
absl::StatusOr<std::map<std::string, QuotaRow>> ReadQuotas(
    pg::Pool& pool, const std::string& event_id);

}  // namespace admit::registration::testing

#endif  // ADMIT_SERVICES_REGISTRATION_REGISTRATION_TESTING_H_
