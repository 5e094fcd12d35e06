// What one call of a load run got back.
#ifndef ADMIT_LOADTEST_OUTCOME_H_
#define ADMIT_LOADTEST_OUTCOME_H_

#include <cstdint>
#include <string>

#include "grpcpp/support/status.h"

namespace admit::loadtest {

struct Outcome {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  bool answered = false;  // the callback ran (set last)
  // Register answered OK: the registration as told to the client.
  int status = 0;  // admit.v1.RegistrationStatus value
  std::string registration_id;
  std::string ticket_type_id;
  int32_t waitlist_position = 0;
};

}  // namespace admit::loadtest

#endif  // ADMIT_LOADTEST_OUTCOME_H_
