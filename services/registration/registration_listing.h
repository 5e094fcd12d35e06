// OrganizerService.ListRegistrations and ExportRegistrations (issue 7): an
// event's registrations, filtered, in a stable order, a page at a time or as
// a CSV stream. OrganizerService forwards both RPCs here
// (OrganizerService::SetListing).
//
// Order and paging: (created_at, registration_id) ascending, by keyset
// (seek) paging, never OFFSET: each page is one range scan of an index in
// that order (schema/007_listing.sql) starting after the previous page's
// last row, so a page costs the same at any depth. A registration's
// created_at is taken under the event's insert lock (007), so a row
// committed after a page was read always sorts after that page's rows:
// pages neither skip nor repeat registrations while others are added.
//
// Page tokens: page_token.h (HMAC-SHA-256, bound to the event and filters).
//
// Filters (AND): status (the status as shown: a PENDING_CONFIRMATION row
// whose hold lapsed counts as EXPIRED, as in RegistrationService), ticket
// type, organization (its match key: NormalizeOrganization, ASCII letters
// lower-cased) and email prefix (lower(email) LIKE 'prefix%', byte-wise:
// an index range scan; the prefix is lower-cased too, so ASCII case is
// ignored).
//
// Export: a ServerWriteReactor that reads `export_batch_rows` rows per pool
// job (keyset, like the pages), turns them into one chunk of CSV (at most
// export_chunk_bytes plus one row) and writes it; the next batch is read
// only when that write has completed, so at most one chunk per export is in
// memory and a slow client slows the reads instead of filling a buffer. A
// cancelled call stops before its next read. Database work runs on the pg
// pool, never on a gRPC thread.
//
// Thread safety: List/Export may be called from any thread. The destructor
// waits for exports in flight (destroy after the gRPC server shut down).
#ifndef ADMIT_SERVICES_REGISTRATION_REGISTRATION_LISTING_H_
#define ADMIT_SERVICES_REGISTRATION_REGISTRATION_LISTING_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "admit/v1/organizer.grpc.pb.h"
#include "common/pg/pool.h"
#include "grpcpp/grpcpp.h"
#include "services/registration/api_keys.h"
#include "services/registration/page_token.h"

namespace admit::registration {

struct ListingOptions {
  // Rows read per export batch (= most rows per ExportChunk).
  int export_batch_rows = 1000;
  // A chunk is closed once its CSV reaches this many bytes (the row that
  // crosses it is kept whole), so a chunk is at most this plus one row.
  size_t export_chunk_bytes = 960 * 1024;
};

// The filters of a list or export request, validated and normalized.
struct ListingFilter {
  std::string event_id;
  int status = 0;  // v1::RegistrationStatus; 0 = any
  std::string ticket_type_id;
  std::string organization_key;  // "" = any
  std::string email_prefix;      // ASCII lower-cased; "" = any
};

// One row as listed (and exported).
struct ListedRegistration {
  std::string registration_id;
  std::string ticket_type_id;
  std::string email;
  std::string full_name;
  std::string organization;
  std::string country_code;
  int status = 0;  // as shown (lapsed hold = EXPIRED)
  int32_t waitlist_position = 0;
  int64_t created_us = 0;
  std::optional<int64_t> hold_expires_us, confirmed_us, cancelled_us,
      expired_us, checked_in_us, erased_us;
  int64_t updated_us = 0;
  std::string ticket_code;  // "" unless CONFIRMED
};

namespace internal {

// Validates the request's event id and filters (INVALID_ARGUMENT with one
// violation per bad field) and normalizes them.
absl::StatusOr<ListingFilter> ValidateFilter(const std::string& event_id,
                                             int status,
                                             const std::string& ticket_type_id,
                                             const std::string& organization,
                                             const std::string& email_prefix);

// page_size as the proto says: 0 = 50, above 1000 = 1000; negative is
// INVALID_ARGUMENT.
absl::StatusOr<int> EffectivePageSize(int32_t page_size);

// The CSV header row and one registration's row (CRLF-terminated).
void AppendExportHeader(std::string& out);
void AppendExportRow(std::string& out, const ListedRegistration& row);

// "2026-05-01T09:30:00.123456Z"-style RFC 3339 UTC text of Unix
// microseconds (fraction only when non-zero).
std::string Rfc3339FromMicros(int64_t us);

// Reads up to `limit` rows matching `filter` after `after` (none = from the
// start), in listing order. For pool jobs and tests.
std::vector<ListedRegistration> ReadRows(pqxx::transaction_base& tx,
                                         const ListingFilter& filter,
                                         const std::optional<PageCursor>& after,
                                         int limit);

}  // namespace internal

class RegistrationListing {
 public:
  // `pool` and `keys` must outlive this object. `token_key`: the page
  // tokens' HMAC key (DerivePageTokenKey).
  RegistrationListing(pg::Pool* pool, const ApiKeyAuthenticator* keys,
                      std::string token_key, ListingOptions options = {});
  ~RegistrationListing();
  RegistrationListing(const RegistrationListing&) = delete;
  RegistrationListing& operator=(const RegistrationListing&) = delete;

  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListRegistrationsRequest* request,
                                 v1::ListRegistrationsResponse* response);
  grpc::ServerWriteReactor<v1::ExportChunk>* Export(
      grpc::CallbackServerContext* context,
      const v1::ExportRegistrationsRequest* request);

  // Exports currently running (for tests and metrics).
  int64_t exports_in_flight() const;

 private:
  class ExportReactor;
  void ExportStarted();
  void ExportDone();

  pg::Pool* const pool_;
  const ApiKeyAuthenticator* const keys_;
  const PageTokenCodec tokens_;
  const ListingOptions options_;

  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  int64_t exports_ = 0;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_REGISTRATION_LISTING_H_
