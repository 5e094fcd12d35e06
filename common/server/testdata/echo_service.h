// admit.testing.Echo, a callback-API service for the bootstrap's tests and
// for admit-echo-server (a real process to send signals to).
#ifndef ADMIT_COMMON_SERVER_TESTDATA_ECHO_SERVICE_H_
#define ADMIT_COMMON_SERVER_TESTDATA_ECHO_SERVICE_H_

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/server/testdata/echo.grpc.pb.h"

namespace admit::server::testdata {

// Thread-safe. Must outlive the server it is registered with (every call has
// finished by then).
class EchoService final : public admit::testing::Echo::CallbackService {
 public:
  grpc::ServerUnaryReactor* Say(grpc::CallbackServerContext* context,
                                const admit::testing::SayRequest* request,
                                admit::testing::SayResponse* response) override;
  grpc::ServerUnaryReactor* SlowSay(
      grpc::CallbackServerContext* context,
      const admit::testing::SayRequest* request,
      admit::testing::SayResponse* response) override;

  // Finishes every held SlowSay call with OK; returns how many.
  int ReleaseHeld();
  // SlowSay calls waiting for ReleaseHeld().
  int held() const;
  // SlowSay calls not yet done (held or timed).
  int slow_in_progress() const { return slow_in_progress_.load(); }

 private:
  class SlowReactor;

  mutable std::mutex mu_;
  std::vector<SlowReactor*> held_;       // by mu_
  std::map<std::string, int> attempts_;  // by mu_
  std::atomic<int> slow_in_progress_{0};
};

}  // namespace admit::server::testdata

#endif  // ADMIT_COMMON_SERVER_TESTDATA_ECHO_SERVICE_H_
