#include "services/registration/quota_client.h"

#include <algorithm>
#include <utility>

#include "common/status/status.h"
#include "grpcpp/alarm.h"
#include "grpcpp/client_context.h"

namespace admit::registration {

// One logical call and its attempts. Shared by the attempt's callback and
// the retry alarm; a fresh ClientContext per attempt (they are single-use).
template <typename Request, typename Response>
struct GrpcQuotaClient::Call {
  using Invoke = void (v1::QuotaService::Stub::async_interface::*)(
      grpc::ClientContext*, const Request*, Response*,
      std::function<void(grpc::Status)>);
  Invoke invoke = nullptr;
  Request request;
  Response response;
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::Alarm> alarm;
  int attempt = 0;
  QuotaClient::Callback<Response> done;
};

namespace {

bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE ||
         code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::ABORTED;
}

}  // namespace

GrpcQuotaClient::GrpcQuotaClient(std::shared_ptr<grpc::Channel> channel,
                                 GrpcQuotaClientOptions options)
    : options_(options), stub_(v1::QuotaService::NewStub(std::move(channel))) {}

GrpcQuotaClient::~GrpcQuotaClient() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return in_flight_ == 0; });
}

void GrpcQuotaClient::Begin() {
  std::lock_guard<std::mutex> lock(mu_);
  ++in_flight_;
}

void GrpcQuotaClient::End() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--in_flight_ == 0) idle_cv_.notify_all();
}

template <typename Request, typename Response>
void GrpcQuotaClient::Attempt(std::shared_ptr<Call<Request, Response>> call) {
  ++call->attempt;
  call->context = std::make_unique<grpc::ClientContext>();
  call->context->set_deadline(std::chrono::system_clock::now() +
                              options_.call_timeout);
  call->response.Clear();
  (stub_->async()->*(call->invoke))(
      call->context.get(), &call->request, &call->response,
      [this, call](grpc::Status status) {
        if (status.ok()) {
          auto done = std::move(call->done);
          done(std::move(call->response));
          End();
          return;
        }
        if (Retryable(status.error_code()) &&
            call->attempt < options_.max_attempts) {
          auto backoff = options_.initial_backoff * (1 << (call->attempt - 1));
          backoff = std::min(backoff, options_.max_backoff);
          call->alarm = std::make_unique<grpc::Alarm>();
          call->alarm->Set(std::chrono::system_clock::now() + backoff,
                           [this, call](bool) { Attempt(call); });
          return;
        }
        auto done = std::move(call->done);
        done(FromGrpcStatus(status));
        End();
      });
}

void GrpcQuotaClient::Reserve(v1::ReserveRequest request,
                              Callback<v1::ReserveResponse> done) {
  auto call = std::make_shared<Call<v1::ReserveRequest, v1::ReserveResponse>>();
  call->invoke = &v1::QuotaService::Stub::async_interface::Reserve;
  call->request = std::move(request);
  call->done = std::move(done);
  Begin();
  Attempt(std::move(call));
}

void GrpcQuotaClient::Release(std::string hold_id, v1::ReleaseReason reason,
                              Callback<v1::ReleaseResponse> done) {
  auto call = std::make_shared<Call<v1::ReleaseRequest, v1::ReleaseResponse>>();
  call->invoke = &v1::QuotaService::Stub::async_interface::Release;
  call->request.set_hold_id(std::move(hold_id));
  call->request.set_reason(reason);
  call->done = std::move(done);
  Begin();
  Attempt(std::move(call));
}

void GrpcQuotaClient::GetUsage(std::string event_id,
                               Callback<v1::GetUsageResponse> done) {
  auto call =
      std::make_shared<Call<v1::GetUsageRequest, v1::GetUsageResponse>>();
  call->invoke = &v1::QuotaService::Stub::async_interface::GetUsage;
  call->request.set_event_id(std::move(event_id));
  call->done = std::move(done);
  Begin();
  Attempt(std::move(call));
}

void QuotaClient::Commit(std::string /*hold_id*/,
                         Callback<v1::CommitResponse> done) {
  done(absl::UnimplementedError("this quota client cannot commit holds"));
}

void GrpcQuotaClient::Commit(std::string hold_id,
                             Callback<v1::CommitResponse> done) {
  auto call = std::make_shared<Call<v1::CommitRequest, v1::CommitResponse>>();
  call->invoke = &v1::QuotaService::Stub::async_interface::Commit;
  call->request.set_hold_id(std::move(hold_id));
  call->done = std::move(done);
  Begin();
  Attempt(std::move(call));
}

}  // namespace admit::registration
