#ifndef ADMIT_SERVICES_REGISTRATION_EVENT_SOURCE_H_
#define ADMIT_SERVICES_REGISTRATION_EVENT_SOURCE_H_

// How the registration flow learns an event's settings (ticket types,
// registration window, hold TTL). Implemented over the `registration.events`
// tables with a short-lived cache (event_cache.h); faked in unit tests.

#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "admit/v1/common.pb.h"

namespace admit::registration {

// An immutable snapshot of one event, as OrganizerService.GetEvent returns
// it (registration_open is not meaningful in a snapshot: compare the window
// with the current time).
using EventSnapshot = std::shared_ptr<const v1::Event>;

class EventSource {
 public:
  using Callback = absl::AnyInvocable<void(absl::StatusOr<EventSnapshot>) &&>;

  virtual ~EventSource() = default;

  // Calls `done` exactly once, possibly on another thread and possibly
  // before Get returns, with the event or:
  //   NOT_FOUND (ErrorInfo reason EVENT_NOT_FOUND) when there is no such
  //   event; UNAVAILABLE when Postgres cannot be reached.
  // Never blocks the calling thread on I/O. A snapshot may be up to the
  // cache's TTL (about a second) old.
  virtual void Get(const std::string& event_id, Callback done) = 0;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_EVENT_SOURCE_H_
