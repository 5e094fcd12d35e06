// The admit services the gateway fronts. Calling AdmitServices() also links
// their generated descriptors into the binary (a static library's object is
// only linked when something references it), so that the descriptor pool
// has their google.api.http options and message types.
#ifndef ADMIT_SERVICES_GATEWAY_ADMIT_API_H_
#define ADMIT_SERVICES_GATEWAY_ADMIT_API_H_

#include <string>
#include <vector>

namespace admit::gateway {

// Full names: admit.v1.RegistrationService, admit.v1.ConfirmationService,
// admit.v1.OrganizerService.
std::vector<std::string> AdmitServices();

}  // namespace admit::gateway

#endif  // ADMIT_SERVICES_GATEWAY_ADMIT_API_H_
