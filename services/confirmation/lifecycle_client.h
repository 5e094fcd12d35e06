// How the confirmation service calls the registration service's internal
// RegistrationLifecycleService (proto/admit/v1/lifecycle.proto).
//
// Every call is asynchronous: `done` runs exactly once on a gRPC client
// thread and must not block. One attempt per call with a deadline: both
// calls are safe to repeat, and the caller (the attendee's page) retries on
// UNAVAILABLE, so retrying here would only stack delays. Errors are the
// registration service's (FromGrpcStatus keeps code, message and details).
#ifndef ADMIT_SERVICES_CONFIRMATION_LIFECYCLE_CLIENT_H_
#define ADMIT_SERVICES_CONFIRMATION_LIFECYCLE_CLIENT_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "admit/v1/lifecycle.grpc.pb.h"
#include "grpcpp/channel.h"

namespace admit::confirmation {

class LifecycleClient {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>)>;

  LifecycleClient(std::shared_ptr<grpc::Channel> channel,
                  std::chrono::milliseconds timeout);
  // Waits for calls in flight to finish.
  ~LifecycleClient();
  LifecycleClient(const LifecycleClient&) = delete;
  LifecycleClient& operator=(const LifecycleClient&) = delete;

  void ConfirmRegistration(v1::LifecycleConfirmRequest request,
                           Callback<v1::Registration> done);
  void QueueConfirmationEmail(
      v1::QueueConfirmationEmailRequest request,
      Callback<v1::QueueConfirmationEmailResponse> done);

 private:
  template <typename Request, typename Response>
  using Invoke =
      void (v1::RegistrationLifecycleService::Stub::async_interface::*)(
          grpc::ClientContext*, const Request*, Response*,
          std::function<void(grpc::Status)>);

  template <typename Request, typename Response>
  void Call(Invoke<Request, Response> invoke, Request request,
            Callback<Response> done);

  std::chrono::milliseconds timeout_;
  std::unique_ptr<v1::RegistrationLifecycleService::Stub> stub_;
  std::mutex mu_;
  std::condition_variable idle_cv_;
  int in_flight_ = 0;
};

}  // namespace admit::confirmation

#endif  // ADMIT_SERVICES_CONFIRMATION_LIFECYCLE_CLIENT_H_
