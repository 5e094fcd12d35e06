// Test support for the quota service's integration tests (*_pgtest): an
// in-process replica (its own pool, store, service, sweeper and gRPC server
// on a free port, all against ADMIT_TEST_PG_URL), call helpers with
// deadlines, and a direct SQL audit of the invariants. Test-only.
//
// Every test uses its own random event and hold ids, so test binaries can
// run in parallel against one database.
#ifndef ADMIT_SERVICES_QUOTA_QUOTA_TESTING_H_
#define ADMIT_SERVICES_QUOTA_QUOTA_TESTING_H_

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "admit/v1/quota.grpc.pb.h"
#include "common/pg/pool.h"
#include "common/server/server.h"
#include "grpcpp/grpcpp.h"
#include "services/quota/pg_hold_store.h"
#include "services/quota/quota_metrics.h"
#include "services/quota/quota_service.h"
#include "services/quota/sweeper.h"

namespace admit::quota::testing {

// ADMIT_TEST_PG_URL after applying the quota migrations to it (once per
// process); "" (and a test failure) when the variable is missing.
std::string DatabaseUrl();

// "<prefix>-<16 hex digits>", a fresh slug each call.
std::string RandomEventId(const std::string& prefix = "t");
// A fresh hold id ("hold-<32 hex digits>").
std::string RandomHoldId();

struct ReplicaOptions {
  int64_t pool_size = 8;
  int max_batch = 128;
  bool sweeper = false;
  std::chrono::milliseconds sweep_interval{100};
};

// One quota service replica in this process. Destruction shuts the server
// down (draining calls), stops the sweeper, then frees the rest.
class Replica {
 public:
  static std::unique_ptr<Replica> Start(const std::string& url,
                                        ReplicaOptions options = {});
  ~Replica();

  v1::QuotaService::Stub& stub() { return *stub_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  server::Server& server() { return *server_; }
  QuotaServiceImpl& service() { return *service_; }
  PgHoldStore& store() { return *store_; }
  pg::Pool& pool() { return *pool_; }
  Sweeper& sweeper() { return *sweeper_; }

 private:
  Replica() = default;

  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<PgHoldStore> store_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<QuotaMetrics> metrics_;
  std::unique_ptr<QuotaServiceImpl> service_;
  std::unique_ptr<Sweeper> sweeper_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::QuotaService::Stub> stub_;
};

// A stub on a plain channel to `target` (no retries: tests see raw codes).
std::unique_ptr<v1::QuotaService::Stub> NewStub(const std::string& target);

// Blocking calls with a 10 s deadline; the grpc::Status converted with
// FromGrpcStatus (details kept) on error.
absl::StatusOr<v1::SetQuotasResponse> SetQuotas(
    v1::QuotaService::Stub& stub, const v1::SetQuotasRequest& request);
absl::StatusOr<v1::ReserveResponse> Reserve(v1::QuotaService::Stub& stub,
                                            const v1::ReserveRequest& request);
absl::StatusOr<v1::CommitResponse> Commit(v1::QuotaService::Stub& stub,
                                          const std::string& hold_id);
absl::StatusOr<v1::ReleaseResponse> Release(
    v1::QuotaService::Stub& stub, const std::string& hold_id,
    v1::ReleaseReason reason = v1::RELEASE_REASON_CANCELLED);
absl::StatusOr<v1::GetHoldResponse> GetHold(v1::QuotaService::Stub& stub,
                                            const std::string& hold_id);
absl::StatusOr<v1::GetUsageResponse> GetUsage(v1::QuotaService::Stub& stub,
                                              const std::string& event_id);

// Request builders.
v1::QuotaKey EventKey();
v1::QuotaKey TypeKey(const std::string& ticket_type_id);
v1::QuotaKey OrgKey(const std::string& organization,
                    const std::string& ticket_type_id = "");
v1::QuotaLimit Limit(v1::QuotaKey key, int32_t capacity);
v1::SetQuotasRequest SetRequest(const std::string& event_id,
                                std::vector<v1::QuotaLimit> set);
v1::ReserveRequest ReserveRequestFor(
    const std::string& event_id, const std::string& ticket_type_id,
    const std::string& organization = "",
    std::chrono::seconds ttl = std::chrono::seconds(600),
    std::string hold_id = RandomHoldId());

// Fires every request at once (asynchronous callback-API client calls,
// request i on stubs[i % stubs.size()]), waits for all, returns the answers
// in request order and the wall time from the first send to the last answer.
struct ConcurrentResult {
  std::vector<absl::StatusOr<v1::ReserveResponse>> answers;
  std::chrono::microseconds elapsed{0};
  std::vector<std::chrono::microseconds> latencies;  // per call, in order
};
ConcurrentResult ReserveConcurrently(
    const std::vector<v1::QuotaService::Stub*>& stubs,
    const std::vector<v1::ReserveRequest>& requests,
    std::chrono::milliseconds deadline = std::chrono::seconds(30));

// Audits `event_id` straight in the database: for every quota, 0 <= held,
// 0 <= sold, held + sold <= capacity, and held / sold equal the number of
// HELD / COMMITTED holds counted in it (a full scan of the holds). Returns
// OK or FAILED_PRECONDITION describing every mismatch.
absl::Status AuditEvent(pg::Pool& pool, const std::string& event_id);

// The text of a status' google.rpc.BadRequest fields, for assertions.
std::vector<std::string> ViolationFields(const absl::Status& status);

}  // namespace admit::quota::testing

#endif  // ADMIT_SERVICES_QUOTA_QUOTA_TESTING_H_
