#include "services/confirmation/lifecycle_client.h"

#include <utility>

#include "common/status/status.h"
#include "grpcpp/client_context.h"

namespace admit::confirmation {

LifecycleClient::LifecycleClient(std::shared_ptr<grpc::Channel> channel,
                                 std::chrono::milliseconds timeout)
    : timeout_(timeout),
      stub_(v1::RegistrationLifecycleService::NewStub(std::move(channel))) {}

LifecycleClient::~LifecycleClient() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return in_flight_ == 0; });
}

template <typename Request, typename Response>
void LifecycleClient::Call(Invoke<Request, Response> invoke, Request request,
                           Callback<Response> done) {
  struct State {
    grpc::ClientContext context;
    Request request;
    Response response;
    Callback<Response> done;
  };
  auto state = std::make_shared<State>();
  state->request = std::move(request);
  state->done = std::move(done);
  state->context.set_deadline(std::chrono::system_clock::now() + timeout_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++in_flight_;
  }
  (stub_->async()->*invoke)(&state->context, &state->request, &state->response,
                            [this, state](grpc::Status status) {
                              if (status.ok()) {
                                state->done(std::move(state->response));
                              } else {
                                state->done(FromGrpcStatus(status));
                              }
                              std::lock_guard<std::mutex> lock(mu_);
                              if (--in_flight_ == 0) idle_cv_.notify_all();
                            });
}

void LifecycleClient::ConfirmRegistration(v1::LifecycleConfirmRequest request,
                                          Callback<v1::Registration> done) {
  Call<v1::LifecycleConfirmRequest, v1::Registration>(
      &v1::RegistrationLifecycleService::Stub::async_interface::
          ConfirmRegistration,
      std::move(request), std::move(done));
}

void LifecycleClient::QueueConfirmationEmail(
    v1::QueueConfirmationEmailRequest request,
    Callback<v1::QueueConfirmationEmailResponse> done) {
  Call<v1::QueueConfirmationEmailRequest, v1::QueueConfirmationEmailResponse>(
      &v1::RegistrationLifecycleService::Stub::async_interface::
          QueueConfirmationEmail,
      std::move(request), std::move(done));
}

}  // namespace admit::confirmation
