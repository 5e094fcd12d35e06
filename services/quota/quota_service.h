// The gRPC adapter of admit.v1.QuotaService (callback API): proto <-> domain,
// absl::Status -> grpc::Status. No logic of its own.
//
// Handlers never block a gRPC thread: they validate, hand the work to the
// ReserveBatcher (Reserve) or straight to the HoldStore (everything else),
// and return the call's reactor; the store finishes the call from its own
// thread. Anything thrown is caught at the boundary and answered INTERNAL
// (admit::server::Guard), and the server keeps serving.
//
// Error mapping (everything else is the store's code as is):
//   UNKNOWN (a commit whose outcome is unknown) -> UNAVAILABLE: every RPC is
//   idempotent, so the caller retries with the same arguments.
//
// Thread safety: as any grpc::Service. The store and metrics must outlive it.
#ifndef ADMIT_SERVICES_QUOTA_QUOTA_SERVICE_H_
#define ADMIT_SERVICES_QUOTA_QUOTA_SERVICE_H_

#include "admit/v1/quota.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "services/quota/hold_store.h"
#include "services/quota/quota_metrics.h"
#include "services/quota/reserve_batcher.h"

namespace admit::quota {

struct QuotaServiceOptions {
  ReserveBatcherOptions batcher;
};

class QuotaServiceImpl final : public v1::QuotaService::CallbackService {
 public:
  // `metrics` may be null (then nothing is recorded).
  QuotaServiceImpl(HoldStore* store, QuotaMetrics* metrics,
                   QuotaServiceOptions options = {});
  // Waits for reservation batches still in flight (their callbacks use this
  // object). Destroy after the gRPC server has shut down.
  ~QuotaServiceImpl() override;

  grpc::ServerUnaryReactor* SetQuotas(grpc::CallbackServerContext* context,
                                      const v1::SetQuotasRequest* request,
                                      v1::SetQuotasResponse* response) override;
  grpc::ServerUnaryReactor* Reserve(grpc::CallbackServerContext* context,
                                    const v1::ReserveRequest* request,
                                    v1::ReserveResponse* response) override;
  grpc::ServerUnaryReactor* Commit(grpc::CallbackServerContext* context,
                                   const v1::CommitRequest* request,
                                   v1::CommitResponse* response) override;
  grpc::ServerUnaryReactor* Release(grpc::CallbackServerContext* context,
                                    const v1::ReleaseRequest* request,
                                    v1::ReleaseResponse* response) override;
  grpc::ServerUnaryReactor* GetHold(grpc::CallbackServerContext* context,
                                    const v1::GetHoldRequest* request,
                                    v1::GetHoldResponse* response) override;
  grpc::ServerUnaryReactor* GetUsage(grpc::CallbackServerContext* context,
                                     const v1::GetUsageRequest* request,
                                     v1::GetUsageResponse* response) override;

  // For tests and the batch-size figures in the README.
  ReserveBatcherStats batcher_stats() const { return batcher_.stats(); }

 private:
  HoldStore* const store_;
  QuotaMetrics* const metrics_;
  ReserveBatcher batcher_;
};

}  // namespace admit::quota

#endif  // ADMIT_SERVICES_QUOTA_QUOTA_SERVICE_H_
