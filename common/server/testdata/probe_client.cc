#include "common/server/testdata/probe_client.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.pb.h"

namespace admit::server::testdata {

namespace {

using admit::testing::probe::HealthCheckRequest;
using admit::testing::probe::ServerReflectionRequest;
using admit::testing::probe::ServerReflectionResponse;

constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";
constexpr char kHealthWatch[] = "/grpc.health.v1.Health/Watch";
constexpr char kReflection[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// Distinct completion-queue tags; only their identity matters.
void* Tag(int n) {
  static char tags[16];
  return &tags[n];
}

// Drains and shuts down a completion queue with no outstanding operation.
void DrainQueue(grpc::CompletionQueue* cq) {
  cq->Shutdown();
  void* tag;
  bool ok;
  while (cq->Next(&tag, &ok)) {
  }
}

// One request, one response on the reflection stream.
absl::StatusOr<ServerReflectionResponse> Reflect(
    const std::shared_ptr<grpc::Channel>& channel,
    const ServerReflectionRequest& request, std::chrono::milliseconds timeout) {
  grpc::TemplatedGenericStub<ServerReflectionRequest, ServerReflectionResponse>
      stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  grpc::CompletionQueue cq;
  auto stream = stub.PrepareCall(&context, kReflection, &cq);
  void* tag;
  bool ok = false;
  ServerReflectionResponse response;
  bool got_response = false;
  stream->StartCall(Tag(1));
  cq.Next(&tag, &ok);
  if (ok) {
    stream->Write(request, Tag(2));
    cq.Next(&tag, &ok);
  }
  if (ok) {
    stream->WritesDone(Tag(3));
    cq.Next(&tag, &ok);
  }
  if (ok) {
    stream->Read(&response, Tag(4));
    cq.Next(&tag, &ok);
    got_response = ok;
  }
  if (got_response) {
    // Drain until the server closes its side.
    ServerReflectionResponse extra;
    do {
      stream->Read(&extra, Tag(5));
      cq.Next(&tag, &ok);
    } while (ok);
  }
  grpc::Status status;
  stream->Finish(&status, Tag(6));
  cq.Next(&tag, &ok);
  DrainQueue(&cq);
  if (!status.ok()) return ToAbsl(status);
  if (!got_response) return absl::UnknownError("no reflection response");
  if (response.has_error_response()) {
    return absl::Status(
        static_cast<absl::StatusCode>(response.error_response().error_code()),
        response.error_response().error_message());
  }
  return response;
}

}  // namespace

absl::Status ToAbsl(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

absl::StatusOr<HealthStatus> CheckHealth(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
    std::chrono::milliseconds timeout) {
  grpc::TemplatedGenericStub<HealthCheckRequest, HealthCheckResponse> stub(
      channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  grpc::CompletionQueue cq;
  HealthCheckRequest request;
  request.set_service(service);
  auto call = stub.PrepareUnaryCall(&context, kHealthCheck, request, &cq);
  call->StartCall();
  HealthCheckResponse response;
  grpc::Status status;
  call->Finish(&response, &status, Tag(1));
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  DrainQueue(&cq);
  if (!status.ok()) return ToAbsl(status);
  return response.status();
}

absl::StatusOr<std::vector<std::string>> ListServices(
    const std::shared_ptr<grpc::Channel>& channel,
    std::chrono::milliseconds timeout) {
  ServerReflectionRequest request;
  request.set_list_services("*");
  absl::StatusOr<ServerReflectionResponse> response =
      Reflect(channel, request, timeout);
  if (!response.ok()) return response.status();
  std::vector<std::string> names;
  for (const auto& service : response->list_services_response().service()) {
    names.push_back(service.name());
  }
  return names;
}

absl::StatusOr<std::vector<std::string>> FilesContainingSymbol(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& symbol,
    std::chrono::milliseconds timeout) {
  ServerReflectionRequest request;
  request.set_file_containing_symbol(symbol);
  absl::StatusOr<ServerReflectionResponse> response =
      Reflect(channel, request, timeout);
  if (!response.ok()) return response.status();
  std::vector<std::string> files;
  for (const std::string& bytes :
       response->file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    if (!file.ParseFromString(bytes)) {
      return absl::DataLossError("unparsable FileDescriptorProto");
    }
    files.push_back(file.name());
  }
  return files;
}

HealthWatch::HealthWatch(const std::shared_ptr<grpc::Channel>& channel,
                         const std::string& service)
    : stub_(channel) {
  stream_ = stub_.PrepareCall(&context_, kHealthWatch, &cq_);
  const auto forever = std::chrono::system_clock::now() + std::chrono::hours(1);
  bool ok = false;
  stream_->StartCall(Tag(1));
  pending_ = true;
  Wait(forever, &ok);
  if (ok) {
    HealthCheckRequest request;
    request.set_service(service);
    stream_->Write(request, Tag(2));
    pending_ = true;
    Wait(forever, &ok);
  }
  if (ok) {
    stream_->WritesDone(Tag(3));
    pending_ = true;
    Wait(forever, &ok);
  }
  if (!ok) final_status_ = FinishStream();
}

HealthWatch::~HealthWatch() {
  context_.TryCancel();
  bool ok;
  if (pending_)
    Wait(std::chrono::system_clock::now() + std::chrono::hours(1), &ok);
  if (!ended_) final_status_ = FinishStream();
  DrainQueue(&cq_);
}

bool HealthWatch::Wait(std::chrono::system_clock::time_point deadline,
                       bool* ok) {
  void* tag;
  grpc::CompletionQueue::NextStatus next = cq_.AsyncNext(&tag, ok, deadline);
  if (next != grpc::CompletionQueue::GOT_EVENT) return false;
  pending_ = false;
  return true;
}

absl::Status HealthWatch::FinishStream() {
  grpc::Status status;
  stream_->Finish(&status, Tag(9));
  pending_ = true;
  bool ok;
  Wait(std::chrono::system_clock::now() + std::chrono::hours(1), &ok);
  ended_ = true;
  return ToAbsl(status);
}

absl::StatusOr<HealthStatus> HealthWatch::Next(
    std::chrono::milliseconds timeout) {
  if (ended_) {
    return final_status_.ok() ? absl::UnknownError("stream ended")
                              : final_status_;
  }
  if (!pending_) {
    stream_->Read(&response_, Tag(4));
    pending_ = true;
  }
  bool ok = false;
  if (!Wait(std::chrono::system_clock::now() + timeout, &ok)) {
    return absl::DeadlineExceededError("no health update yet");
  }
  if (!ok) {
    final_status_ = FinishStream();
    return final_status_.ok() ? absl::UnknownError("stream ended")
                              : final_status_;
  }
  return response_.status();
}

}  // namespace admit::server::testdata
