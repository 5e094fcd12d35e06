// Ticket codes: what an attendee shows at the entrance (as text or QR).
//
// A code is "T" + 26 characters of unpadded base32 (RFC 4648, upper case) of
// the first 128 bits of HMAC-SHA256(ticket key, "admit-ticket-v1\0" +
// registration_id). Unguessable without the key, verifiable by anyone who has
// it (no database read), the same for a registration every time it is
// computed (so a retried confirmation issues the same code), and short enough
// to type. The key is ADMIT_TICKET_KEY (32 bytes, base64); rotating it
// invalidates every issued code.
//
// Thread safety: a TicketCoder is immutable.
#ifndef ADMIT_SERVICES_CONFIRMATION_TICKET_CODE_H_
#define ADMIT_SERVICES_CONFIRMATION_TICKET_CODE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace admit::confirmation {

class TicketCoder {
 public:
  static constexpr size_t kCodeLength = 27;

  // INVALID_ARGUMENT unless `key_base64` is 32 bytes in (standard or
  // URL-safe, padded or not) base64.
  static absl::StatusOr<TicketCoder> FromBase64Key(std::string_view key_base64);

  // The code of `registration_id`.
  std::string CodeFor(std::string_view registration_id) const;

  // True iff `code` (trimmed, case-insensitive) is the code of
  // `registration_id`; compared in constant time.
  bool Verify(std::string_view registration_id, std::string_view code) const;

  // True iff `code` has the form of a code ("T" + 26 upper-case base32
  // characters whose last one carries no bits beyond the 128), so a forged
  // or mistyped one is refused before any lookup.
  static bool IsWellFormed(std::string_view code);

  TicketCoder(const TicketCoder&) = default;
  TicketCoder& operator=(const TicketCoder&) = default;
  TicketCoder(TicketCoder&&) = default;
  TicketCoder& operator=(TicketCoder&&) = default;
  // Wipes the key.
  ~TicketCoder();

 private:
  explicit TicketCoder(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace admit::confirmation

#endif  // ADMIT_SERVICES_CONFIRMATION_TICKET_CODE_H_
