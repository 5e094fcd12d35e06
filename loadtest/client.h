// gRPC plumbing of admit-loadtest: channels to the services under test, the
// event the run registers for, and IssueFns (driver.h) for Register and for
// health Check.
#ifndef ADMIT_LOADTEST_CLIENT_H_
#define ADMIT_LOADTEST_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "admit/v1/organizer.grpc.pb.h"
#include "admit/v1/registration.grpc.pb.h"
#include "grpcpp/channel.h"
#include "loadtest/driver.h"
#include "loadtest/outcome.h"
#include "loadtest/plan.h"

namespace admit::loadtest {

// `count` channels to `target`, each with its own TCP connection (a local
// subchannel pool), and gRPC's transparent retries off: every attempt the
// tool reports is one call on the wire.
std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(
    const std::string& target, int count);

// Waits up to `deadline` for every channel to connect.
bool WaitConnected(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                   std::chrono::milliseconds deadline);

struct EventSpec {
  std::string event_id;  // "" = lt-<random>
  int32_t capacity = 100;
  int ticket_types = 1;  // ids t1, t2, ...; no capacity of their own
  std::chrono::seconds hold_ttl{3600};
};

// OrganizerService.CreateEvent with `admin_key` (Bearer); the event is open
// for registration from now on. Returns it as created.
absl::StatusOr<v1::Event> CreateEvent(grpc::Channel& organizer,
                                      const std::string& admin_key,
                                      const EventSpec& spec);

// Register for plan[i] on channels[i % size], with `deadline` per call;
// writes outcomes[i] before calling done. plan and outcomes must outlive the
// run; outcomes has plan.size() entries.
IssueFn RegisterIssuer(
    const std::vector<std::shared_ptr<grpc::Channel>>& channels,
    const std::vector<Attempt>& plan, std::vector<Outcome>& outcomes,
    std::chrono::milliseconds deadline);

// grpc.health.v1.Health/Check("") on channels[i % size], through the
// generic stub (the health proto is not part of admit's generated code).
IssueFn HealthCheckIssuer(
    const std::vector<std::shared_ptr<grpc::Channel>>& channels,
    std::vector<Outcome>& outcomes, std::chrono::milliseconds deadline);

}  // namespace admit::loadtest

#endif  // ADMIT_LOADTEST_CLIENT_H_
