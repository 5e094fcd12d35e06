#include "services/gateway/admit_api.h"

#include "admit/v1/confirmation.pb.h"
#include "admit/v1/organizer.pb.h"
#include "admit/v1/registration.pb.h"
#include "google/rpc/error_details.pb.h"

namespace admit::gateway {

std::vector<std::string> AdmitServices() {
  // The error detail types must be in the pool to print google.rpc.Status.
  (void)google::rpc::BadRequest::descriptor();
  // Each entry references a message of each generated file.
  return {
      v1::RegisterRequest::descriptor()
          ->file()
          ->FindServiceByName("RegistrationService")
          ->full_name(),
      v1::ConfirmRegistrationRequest::descriptor()
          ->file()
          ->FindServiceByName("ConfirmationService")
          ->full_name(),
      v1::CreateEventRequest::descriptor()
          ->file()
          ->FindServiceByName("OrganizerService")
          ->full_name(),
  };
}

}  // namespace admit::gateway
