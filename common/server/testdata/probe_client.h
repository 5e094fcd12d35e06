// Clients for the standard services every admit server speaks
// (grpc.health.v1, grpc.reflection.v1alpha), built on the wire-compatible
// messages in probe.proto and generic stubs. For tests: anything that wants to
// ask a running admit server "are you healthy, what do you serve".
#ifndef ADMIT_COMMON_SERVER_TESTDATA_PROBE_CLIENT_H_
#define ADMIT_COMMON_SERVER_TESTDATA_PROBE_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/server/testdata/probe.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/codegen/proto_utils.h"

namespace admit::server::testdata {

using HealthStatus = admit::testing::probe::HealthCheckResponse::ServingStatus;
using admit::testing::probe::HealthCheckResponse;

// The grpc::Status as an absl::Status (same code and message).
absl::Status ToAbsl(const grpc::Status& status);

// grpc.health.v1.Health/Check for `service` ("" = the whole server). The
// call's error (UNAVAILABLE when nothing listens, NOT_FOUND for an unknown
// service) as a status.
absl::StatusOr<HealthStatus> CheckHealth(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
    std::chrono::milliseconds timeout = std::chrono::seconds(2));

// Reflection: the names of every service the server lists.
absl::StatusOr<std::vector<std::string>> ListServices(
    const std::shared_ptr<grpc::Channel>& channel,
    std::chrono::milliseconds timeout = std::chrono::seconds(2));

// Reflection: the names of the .proto files in the descriptor set returned
// for `symbol` (a service or message full name); NOT_FOUND etc. from the
// server's error_response.
absl::StatusOr<std::vector<std::string>> FilesContainingSymbol(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& symbol,
    std::chrono::milliseconds timeout = std::chrono::seconds(2));

// A grpc.health.v1.Health/Watch stream. Not thread-safe.
class HealthWatch {
 public:
  HealthWatch(const std::shared_ptr<grpc::Channel>& channel,
              const std::string& service);
  // Cancels the stream and waits for it to end.
  ~HealthWatch();
  HealthWatch(const HealthWatch&) = delete;
  HealthWatch& operator=(const HealthWatch&) = delete;

  // The next status the server sends. DEADLINE_EXCEEDED if none within
  // `timeout` (the stream stays usable); the stream's final status (or
  // UNKNOWN "stream ended") once it has ended.
  absl::StatusOr<HealthStatus> Next(std::chrono::milliseconds timeout);

 private:
  using Request = admit::testing::probe::HealthCheckRequest;
  using Stub = grpc::TemplatedGenericStub<Request, HealthCheckResponse>;

  // Waits for the single outstanding operation; false on timeout.
  bool Wait(std::chrono::system_clock::time_point deadline, bool* ok);
  absl::Status FinishStream();

  grpc::ClientContext context_;
  grpc::CompletionQueue cq_;
  Stub stub_;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<Request, HealthCheckResponse>>
      stream_;
  HealthCheckResponse response_;
  bool pending_ = false;  // an operation is outstanding on cq_
  bool ended_ = false;
  absl::Status final_status_;
};

}  // namespace admit::server::testdata

#endif  // ADMIT_COMMON_SERVER_TESTDATA_PROBE_CLIENT_H_
