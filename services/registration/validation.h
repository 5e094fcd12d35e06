// Request validation and normalization for the registration service. Pure:
// no gRPC server code, no database, no clock.
//
// The rules are the ones written in proto/admit/v1/common.proto (Attendee,
// Event, TicketType, "Identifiers") and registration.proto (RegisterRequest).
// A failed check is INVALID_ARGUMENT carrying a google.rpc.BadRequest with
// ONE field violation per bad field (every bad field, not just the first),
// `field` being the path as written in the .proto ("attendee.email",
// "event.ticket_types[1].id"), `description` an English sentence a form can
// show; plus ErrorInfo reason INVALID_FIELDS.
//
// Whitespace, wherever these functions trim or collapse it, means the
// Unicode White_Space characters (ASCII space, tab, CR, LF, VT, FF, U+0085,
// U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
// "Characters" are Unicode code points. A "control character" is one of
// category Cc (U+0000-U+001F, U+007F-U+009F) or U+2028/U+2029.
#ifndef ADMIT_SERVICES_REGISTRATION_VALIDATION_H_
#define ADMIT_SERVICES_REGISTRATION_VALIDATION_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "admit/v1/common.pb.h"
#include "admit/v1/registration.pb.h"
#include "common/status/status.h"

namespace admit::registration {

// An attendee as Register stores and returns it.
struct NormalizedAttendee {
  // Trimmed; domain lower-cased, local part as given ("Ann.Lee@example.org").
  std::string email;
  // Trimmed; otherwise as given.
  std::string full_name;
  // For display: trimmed, each run of whitespace replaced by one space.
  // Empty = no organization.
  std::string organization;
  // The match key for allotments and organizer counts: `organization` with
  // ASCII letters lower-cased. Exactly the form quota's IsOrganizationKey
  // accepts; empty when `organization` is empty.
  std::string organization_key;
  // Upper-case ISO 3166-1 alpha-2 ("CH").
  std::string country_code;
};

// Validates every field of a Register request and returns the normalized
// attendee. Errors: INVALID_ARGUMENT (reason INVALID_FIELDS) with one
// violation per bad field among "request_id", "event_id", "ticket_type_id",
// "attendee" (only when it is unset), "attendee.email",
// "attendee.full_name", "attendee.organization", "attendee.country_code".
absl::StatusOr<NormalizedAttendee> ValidateRegisterRequest(
    const v1::RegisterRequest& request);

// Validates an event for OrganizerService.CreateEvent: every rule in the
// Event and TicketType comments of common.proto. `field_prefix` is the
// request field holding the event; violations are named under it
// ("event.name", "event.ticket_types[1].id"; no prefix when empty).
// Output-only fields (registration_open, created_at, updated_at) are
// ignored. Beyond the proto's words: names also exclude U+2028/U+2029 (as
// attendee names do), descriptions may hold tab, LF and CR but no other
// control character (Postgres text cannot store U+0000), and Timestamps and
// Durations must be valid (google.protobuf's documented ranges).
// Returns OK or INVALID_ARGUMENT (reason INVALID_FIELDS).
absl::Status ValidateNewEvent(const v1::Event& event,
                              absl::string_view field_prefix = "event");

// event_id / ticket_type_id: 1-63 of [a-z0-9-], not starting or ending
// with '-'.
bool IsSlug(std::string_view text);

// RegisterRequest.request_id: 1-128 printable ASCII characters (0x21-0x7E).
bool IsRequestId(std::string_view text);

// True iff `text` (as given, not trimmed) is an officially assigned ISO
// 3166-1 alpha-2 code or "XK", in either case ("ch" and "CH" both pass).
bool IsCountryCode(std::string_view text);

// The display form of an organization: whitespace trimmed and each run of
// whitespace replaced by one ASCII space. Does not validate: bytes that are
// not UTF-8 are copied as they are.
std::string NormalizeOrganization(std::string_view organization);

// The allotment match key of an organization: NormalizeOrganization with
// ASCII letters lower-cased ("  ITU\u00a0 Geneva " -> "itu geneva"). For an
// organization ValidateRegisterRequest accepts, the result is empty (no
// organization) or satisfies quota's IsOrganizationKey. Idempotent.
std::string OrganizationKey(std::string_view organization);

// INVALID_ARGUMENT + BadRequest(violations) + ErrorInfo INVALID_FIELDS: the
// error every function here returns, for callers with checks of their own
// (e.g. a malformed registration_id). `violations` must not be empty.
absl::Status InvalidFields(std::vector<FieldViolation> violations);

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_VALIDATION_H_
