#include "loadtest/client.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace admit::loadtest {
namespace {

void SetTime(std::chrono::system_clock::time_point t,
             google::protobuf::Timestamp* out) {
  const auto s =
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch());
  out->set_seconds(s.count());
}

std::chrono::system_clock::time_point DeadlineIn(std::chrono::milliseconds d) {
  return std::chrono::system_clock::now() + d;
}

}  // namespace

std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(
    const std::string& target, int count) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    // Distinct args keep gRPC from sharing one connection between channels.
    args.SetInt("admit.loadtest.channel", i);
    channels.push_back(grpc::CreateCustomChannel(
        target, grpc::InsecureChannelCredentials(), args));
  }
  return channels;
}

bool WaitConnected(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                   std::chrono::milliseconds deadline) {
  const auto until = DeadlineIn(deadline);
  for (const auto& channel : channels) {
    if (!channel->WaitForConnected(until)) return false;
  }
  return true;
}

absl::StatusOr<v1::Event> CreateEvent(grpc::Channel& organizer,
                                      const std::string& admin_key,
                                      const EventSpec& spec) {
  std::string id = spec.event_id;
  if (id.empty()) {
    std::random_device rd;
    id = absl::StrFormat("lt-%08x%08x", rd(), rd());
  }
  v1::CreateEventRequest request;
  v1::Event* e = request.mutable_event();
  e->set_id(id);
  e->set_name(absl::StrCat("admit-loadtest ", id));
  const auto now = std::chrono::system_clock::now();
  SetTime(now + std::chrono::hours(24 * 30), e->mutable_starts_at());
  SetTime(now + std::chrono::hours(24 * 31), e->mutable_ends_at());
  e->set_time_zone("UTC");
  e->mutable_hold_ttl()->set_seconds(spec.hold_ttl.count());
  e->set_capacity(spec.capacity);
  for (int t = 1; t <= spec.ticket_types; ++t) {
    v1::TicketType* type = e->add_ticket_types();
    type->set_id(absl::StrCat("t", t));
    type->set_name(absl::StrCat("Type ", t));
  }
  auto stub = v1::OrganizerService::NewStub(
      std::shared_ptr<grpc::Channel>(&organizer, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(std::chrono::seconds(30)));
  context.AddMetadata("authorization", absl::StrCat("Bearer ", admin_key));
  v1::CreateEventResponse response;
  const grpc::Status status = stub->CreateEvent(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("CreateEvent: ", status.error_message()));
  }
  return response.event();
}

IssueFn RegisterIssuer(
    const std::vector<std::shared_ptr<grpc::Channel>>& channels,
    const std::vector<Attempt>& plan, std::vector<Outcome>& outcomes,
    std::chrono::milliseconds deadline) {
  auto stubs = std::make_shared<
      std::vector<std::unique_ptr<v1::RegistrationService::Stub>>>();
  for (const auto& c : channels)
    stubs->push_back(v1::RegistrationService::NewStub(c));
  return [stubs, &plan, &outcomes, deadline](int64_t i,
                                             std::function<void()> done) {
    struct Call {
      grpc::ClientContext context;
      v1::RegisterResponse response;
    };
    auto* call = new Call;
    call->context.set_deadline(DeadlineIn(deadline));
    auto& stub = *(*stubs)[static_cast<size_t>(i) % stubs->size()];
    stub.async()->Register(
        &call->context, &plan[static_cast<size_t>(i)].request, &call->response,
        [call, &outcomes, i, done = std::move(done)](grpc::Status status) {
          Outcome& o = outcomes[static_cast<size_t>(i)];
          o.code = status.error_code();
          if (status.ok()) {
            const v1::Registration& r = call->response.registration();
            o.status = r.status();
            o.registration_id = r.id();
            o.ticket_type_id = r.ticket_type_id();
            o.waitlist_position = r.waitlist_position();
          }
          o.answered = true;
          delete call;
          done();
        });
  };
}

IssueFn HealthCheckIssuer(
    const std::vector<std::shared_ptr<grpc::Channel>>& channels,
    std::vector<Outcome>& outcomes, std::chrono::milliseconds deadline) {
  auto stubs =
      std::make_shared<std::vector<std::unique_ptr<grpc::GenericStub>>>();
  for (const auto& c : channels)
    stubs->push_back(std::make_unique<grpc::GenericStub>(c));
  return [stubs, &outcomes, deadline](int64_t i, std::function<void()> done) {
    struct Call {
      grpc::ClientContext context;
      grpc::ByteBuffer request;  // an empty HealthCheckRequest: service ""
      grpc::ByteBuffer response;
    };
    auto* call = new Call;
    grpc::Slice empty("");
    call->request = grpc::ByteBuffer(&empty, 1);
    call->context.set_deadline(DeadlineIn(deadline));
    auto& stub = *(*stubs)[static_cast<size_t>(i) % stubs->size()];
    stub.UnaryCall(
        &call->context, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
        &call->request, &call->response,
        [call, &outcomes, i, done = std::move(done)](grpc::Status s) {
          Outcome& o = outcomes[static_cast<size_t>(i)];
          o.code = s.error_code();
          o.answered = true;
          delete call;
          done();
        });
  };
}

}  // namespace admit::loadtest
