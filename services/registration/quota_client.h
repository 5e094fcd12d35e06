// How the registration flow calls the quota service (quota.proto): an
// interface (faked in unit tests) and its gRPC implementation.
//
// Every call is asynchronous: it returns at once and `done` runs exactly
// once, on a gRPC client thread (or an alarm thread for a retry), never on
// the caller's thread... except for the fake. `done` must not block.
// Errors are the quota service's, converted with FromGrpcStatus (code,
// message and google.rpc details kept).
#ifndef ADMIT_SERVICES_REGISTRATION_QUOTA_CLIENT_H_
#define ADMIT_SERVICES_REGISTRATION_QUOTA_CLIENT_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "admit/v1/quota.grpc.pb.h"
#include "grpcpp/channel.h"

namespace admit::registration {

class QuotaClient {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>)>;

  virtual ~QuotaClient() = default;

  // QuotaService.Reserve; idempotent on request.hold_id.
  virtual void Reserve(v1::ReserveRequest request,
                       Callback<v1::ReserveResponse> done) = 0;
  // QuotaService.Release; idempotent (an unknown id is burned).
  virtual void Release(std::string hold_id, v1::ReleaseReason reason,
                       Callback<v1::ReleaseResponse> done) = 0;
  // QuotaService.GetUsage.
  virtual void GetUsage(std::string event_id,
                        Callback<v1::GetUsageResponse> done) = 0;
  // QuotaService.Commit; idempotent. The default (for fakes that have no
  // use for it) answers UNIMPLEMENTED.
  virtual void Commit(std::string hold_id, Callback<v1::CommitResponse> done);
};

struct GrpcQuotaClientOptions {
  // Deadline of each attempt.
  std::chrono::milliseconds call_timeout{1000};
  // Attempts in total for UNAVAILABLE, DEADLINE_EXCEEDED and ABORTED (every
  // quota RPC is idempotent: retried with the same arguments, hold_id
  // included, it never takes a second seat).
  int max_attempts = 4;
  // Pause before retry n: initial_backoff * 2^(n-1), at most max_backoff.
  std::chrono::milliseconds initial_backoff{50};
  std::chrono::milliseconds max_backoff{400};
};

// Thread safety: every method may be called from any thread. The destructor
// waits for the calls in flight (at most max_attempts * (call_timeout +
// max_backoff)); destroy it after the server that uses it has drained.
class GrpcQuotaClient final : public QuotaClient {
 public:
  GrpcQuotaClient(std::shared_ptr<grpc::Channel> channel,
                  GrpcQuotaClientOptions options = {});
  ~GrpcQuotaClient() override;

  void Reserve(v1::ReserveRequest request,
               Callback<v1::ReserveResponse> done) override;
  void Release(std::string hold_id, v1::ReleaseReason reason,
               Callback<v1::ReleaseResponse> done) override;
  void GetUsage(std::string event_id,
                Callback<v1::GetUsageResponse> done) override;
  void Commit(std::string hold_id, Callback<v1::CommitResponse> done) override;

 private:
  template <typename Request, typename Response>
  struct Call;
  template <typename Request, typename Response>
  void Attempt(std::shared_ptr<Call<Request, Response>> call);
  void Begin();
  void End();

  const GrpcQuotaClientOptions options_;
  std::unique_ptr<v1::QuotaService::Stub> stub_;
  std::mutex mu_;
  std::condition_variable idle_cv_;
  int64_t in_flight_ = 0;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_QUOTA_CLIENT_H_
