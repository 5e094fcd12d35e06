// ListRegistrations' page tokens: an opaque, tamper-evident position.
//
// A token names the last registration of the page it ends (its created_at
// in microseconds and its id: the keyset of the listing order) and binds
// the request it came from: a digest of the event id and the filters. It is
//   base64url(unpadded)( version(1) | created_us(8, big-endian) |
//                        filter digest(16) | id | HMAC-SHA-256(...)[0:16] )
// with the HMAC over everything before it, keyed by a server secret (every
// replica with the same secret accepts every replica's tokens). A token that
// does not decode, whose MAC does not match (altered, forged, or made with
// another key) or whose digest is not the request's is refused, so a client
// can neither move the cursor nor carry it over to other filters.
//
// Thread safety: PageTokenCodec is immutable; use from any thread.
#ifndef ADMIT_SERVICES_REGISTRATION_PAGE_TOKEN_H_
#define ADMIT_SERVICES_REGISTRATION_PAGE_TOKEN_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace admit::registration {

// The position after which the next page starts.
struct PageCursor {
  int64_t created_us = 0;  // created_at, Unix microseconds
  std::string registration_id;
};

class PageTokenCodec {
 public:
  // `key`: the HMAC key (any length; 32 random bytes recommended).
  explicit PageTokenCodec(std::string key);

  // A token for `cursor` under `binding` (FilterBinding's result).
  std::string Encode(const PageCursor& cursor, std::string_view binding) const;

  // The cursor of `token`, or INVALID_ARGUMENT (BadRequest field
  // "page_token") when it is malformed, forged or altered, or was made for
  // another binding.
  absl::StatusOr<PageCursor> Decode(std::string_view token,
                                    std::string_view binding) const;

 private:
  std::string Mac(std::string_view data) const;
  const std::string key_;
};

// The 16-byte digest a token binds: SHA-256 of the event id and the filters
// (length-prefixed, so no two different requests share an encoding).
std::string FilterBinding(std::string_view event_id, int status,
                          std::string_view ticket_type_id,
                          std::string_view organization_key,
                          std::string_view email_prefix);

// The page-token key derived from ADMIT_REGISTRATION_TOKEN_KEY's text (the
// base64 AES key): HMAC-SHA-256(that text, "admit page token v1"), so no new
// secret has to be managed and the manage-token key itself is never used
// for two purposes.
std::string DerivePageTokenKey(std::string_view token_key_text);

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_PAGE_TOKEN_H_
