#include "services/registration/registration_listing.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/log/log.h"
#include "common/server/guard.h"
#include "common/status/status.h"
#include "pqxx/pqxx"
#include "services/registration/api_key.h"
#include "services/registration/csv_writer.h"
#include "services/registration/event_store.h"
#include "services/registration/pg_registration_store.h"
#include "services/registration/validation.h"

namespace admit::registration {
namespace {

// Counts UTF-8 code points; -1 when `text` is not valid UTF-8 or holds a
// control character (C0, DEL, C1).
int64_t CountCharacters(std::string_view text) {
  int64_t n = 0;
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return -1;
    }
    if (i + len > text.size()) return -1;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char d = static_cast<unsigned char>(text[i + k]);
      if ((d & 0xC0) != 0x80) return -1;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return -1;
    }
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return -1;
    i += len;
    ++n;
  }
  return n;
}

std::string Micros(const char* column) {
  return absl::StrCat("(extract(epoch FROM ", column, ") * 1000000)::bigint");
}

// The columns ReadRows reads; the table is aliased `r`. The eighth is the
// waitlist_seq of a WAITLISTED row (0 otherwise), which
// FillWaitlistPositions turns into its position.
const std::string& Columns() {
  static const std::string* columns = new std::string(absl::StrCat(
      "r.registration_id, r.ticket_type_id, r.email, r.full_name, "
      "r.organization, r.country_code, "
      "CASE WHEN r.status = 1 AND r.hold_expires_at <= now() THEN 5 "
      "ELSE r.status END, "
      "CASE WHEN r.status = 3 THEN COALESCE(r.waitlist_seq, 0) ELSE 0 END, ",
      Micros("r.created_at"), ", ", Micros("r.hold_expires_at"), ", ",
      Micros("r.confirmed_at"), ", ", Micros("r.cancelled_at"), ", ",
      Micros("CASE WHEN r.status = 1 AND r.hold_expires_at <= now() THEN "
             "r.hold_expires_at ELSE r.expired_at END"),
      ", ", Micros("r.checked_in_at"), ", ", Micros("r.erased_at"), ", ",
      Micros("r.updated_at"), ", COALESCE(r.ticket_code, '')"));
  return *columns;
}

std::optional<int64_t> OptionalMicros(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<int64_t>();
}

// WHERE clause (after "WHERE ") of `filter`, appending its parameters.
std::string Conditions(const ListingFilter& filter,
                       std::vector<std::string>& params) {
  params.push_back(filter.event_id);
  std::string where = "r.event_id = $1";
  switch (filter.status) {
    case 0:
      break;
    case 1:
      absl::StrAppend(&where,
                      " AND r.status = 1 AND (r.hold_expires_at IS NULL OR "
                      "r.hold_expires_at > now())");
      break;
    case 5:
      absl::StrAppend(&where,
                      " AND (r.status = 5 OR (r.status = 1 AND "
                      "r.hold_expires_at <= now()))");
      break;
    default:
      absl::StrAppend(&where, " AND r.status = ", filter.status);
  }
  if (!filter.ticket_type_id.empty()) {
    params.push_back(filter.ticket_type_id);
    absl::StrAppend(&where, " AND r.ticket_type_id = $", params.size());
  }
  if (!filter.organization_key.empty()) {
    params.push_back(filter.organization_key);
    absl::StrAppend(&where, " AND r.organization_key = $", params.size());
  }
  if (!filter.email_prefix.empty()) {
    std::string pattern;
    for (char c : filter.email_prefix) {
      if (c == '%' || c == '_' || c == '\\') pattern.push_back('\\');
      pattern.push_back(c);
    }
    pattern.push_back('%');
    params.push_back(std::move(pattern));
    // email_lower: lower(email), COLLATE "C" (schema 008): a range scan.
    absl::StrAppend(&where, " AND r.email_lower LIKE $", params.size());
  }
  return where;
}

absl::Status Retryable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
      return absl::UnavailableError(
          absl::StrCat("reading the registrations did not complete (",
                       status.message(), "); retry"));
    default:
      return status;
  }
}

grpc::Status ToRpc(const absl::Status& status, std::string_view method) {
  if (status.code() == absl::StatusCode::kInternal) {
    log::Error("internal error",
               {{"method", method}, {"error", std::string(status.message())}});
  }
  return ToGrpcStatus(status);
}

// NOT_FOUND unless `event_id` names a ready event.
absl::Status CheckEvent(pqxx::transaction_base& tx,
                        const std::string& event_id) {
  if (tx.exec_params("SELECT 1 FROM registration.events WHERE id = $1 AND "
                     "ready",
                     event_id)
          .empty()) {
    return EventNotFoundError(event_id);
  }
  return absl::OkStatus();
}

// ListRegistrationsResponse.total_size. From the maintained counters of
// schema 005 (registration_counts, one row per slot) when the filters are
// one of their dimensions (none, ticket type or organization, with or
// without a status other than PENDING_CONFIRMATION/EXPIRED, whose shown
// value depends on the clock): a primary-key read of at most 16 rows.
// Otherwise (email prefix, ticket type and organization together, pending
// or expired) a count over the filter's index range, which costs as many
// index entries as rows match.
int64_t TotalSize(pqxx::transaction_base& tx, const ListingFilter& filter) {
  const bool counters =
      filter.email_prefix.empty() &&
      (filter.ticket_type_id.empty() || filter.organization_key.empty()) &&
      filter.status != 1 && filter.status != 5;
  if (counters) {
    static std::atomic<bool> have_counters{false};
    if (!have_counters.load()) {
      have_counters = tx.exec(
                            "SELECT to_regclass('registration."
                            "registration_counts') IS NOT NULL")[0][0]
                          .as<bool>();
    }
    if (have_counters.load()) {
      int dim = 0;
      std::string key;
      if (!filter.ticket_type_id.empty()) {
        dim = 1;
        key = filter.ticket_type_id;
      } else if (!filter.organization_key.empty()) {
        dim = 2;
        key = filter.organization_key;
      }
      const char* column =
          "pending + confirmed + waitlisted + cancelled + "
          "expired";
      switch (filter.status) {
        case 2:
          column = "confirmed";
          break;
        case 3:
          column = "waitlisted";
          break;
        case 4:
          column = "cancelled";
          break;
        default:
          break;
      }
      return tx
          .exec_params(absl::StrCat("SELECT COALESCE(sum(", column,
                                    "), 0)::bigint FROM "
                                    "registration.registration_counts WHERE "
                                    "event_id = $1 AND dim = $2 AND key = $3"),
                       filter.event_id, dim, key)[0][0]
          .as<int64_t>();
    }
  }
  std::vector<std::string> params;
  const std::string where = Conditions(filter, params);
  return tx
      .exec_params(absl::StrCat("SELECT count(*) FROM "
                                "registration.registrations r WHERE ",
                                where),
                   pqxx::prepare::make_dynamic_params(params))[0][0]
      .as<int64_t>();
}

const char* StatusName(int status) {
  switch (status) {
    case 1:
      return "PENDING_CONFIRMATION";
    case 2:
      return "CONFIRMED";
    case 3:
      return "WAITLISTED";
    case 4:
      return "CANCELLED";
    case 5:
      return "EXPIRED";
    default:
      return "UNSPECIFIED";
  }
}

// Sets the field only when the column is not NULL: an unset Timestamp
// (absent in JSON), never 1970-01-01.
template <typename MutableField>
void SetTime(const std::optional<int64_t>& us, MutableField mutable_field) {
  if (us) TimeToProto(absl::FromUnixMicros(*us), mutable_field());
}

void RowToProto(const ListedRegistration& row, const std::string& event_id,
                v1::Registration* out) {
  out->set_id(row.registration_id);
  out->set_event_id(event_id);
  out->set_ticket_type_id(row.ticket_type_id);
  v1::Attendee* a = out->mutable_attendee();
  a->set_email(row.email);
  a->set_full_name(row.full_name);
  a->set_organization(row.organization);
  a->set_country_code(row.country_code);
  out->set_status(static_cast<v1::RegistrationStatus>(row.status));
  out->set_waitlist_position(row.waitlist_position);
  TimeToProto(absl::FromUnixMicros(row.created_us), out->mutable_created_at());
  if (row.status == 1)
    SetTime(row.hold_expires_us,
            [out] { return out->mutable_hold_expires_at(); });
  out->set_ticket_code(row.ticket_code);
  SetTime(row.confirmed_us, [out] { return out->mutable_confirmed_at(); });
  SetTime(row.cancelled_us, [out] { return out->mutable_cancelled_at(); });
  SetTime(row.expired_us, [out] { return out->mutable_expired_at(); });
  SetTime(row.checked_in_us, [out] { return out->mutable_checked_in_at(); });
  SetTime(row.erased_us, [out] { return out->mutable_erased_at(); });
  TimeToProto(absl::FromUnixMicros(row.updated_us), out->mutable_updated_at());
}

std::string Binding(const ListingFilter& f) {
  return FilterBinding(f.event_id, f.status, f.ticket_type_id,
                       f.organization_key, f.email_prefix);
}

}  // namespace

namespace internal {

absl::StatusOr<ListingFilter> ValidateFilter(const std::string& event_id,
                                             int status,
                                             const std::string& ticket_type_id,
                                             const std::string& organization,
                                             const std::string& email_prefix) {
  std::vector<FieldViolation> bad;
  if (event_id.empty()) {
    bad.push_back({"event_id", "is required"});
  } else if (!IsSlug(event_id)) {
    bad.push_back({"event_id",
                   "must be 1-63 of a-z, 0-9 and '-', not starting or ending "
                   "with '-'"});
  }
  if (status < 0 || status > 5) {
    bad.push_back({"status", "is not a RegistrationStatus"});
  }
  if (!ticket_type_id.empty() && !IsSlug(ticket_type_id)) {
    bad.push_back({"ticket_type_id",
                   "must be 1-63 of a-z, 0-9 and '-', not starting or ending "
                   "with '-'"});
  }
  const int64_t org_chars = CountCharacters(organization);
  if (org_chars < 0 || org_chars > 200) {
    bad.push_back({"organization",
                   "must be at most 200 characters of UTF-8 text without "
                   "control characters"});
  }
  const int64_t prefix_chars = CountCharacters(email_prefix);
  if (prefix_chars < 0 || prefix_chars > 254) {
    bad.push_back({"email_prefix",
                   "must be at most 254 characters of UTF-8 text without "
                   "control characters"});
  }
  if (!bad.empty()) return InvalidFields(std::move(bad));
  ListingFilter filter;
  filter.event_id = event_id;
  filter.status = status;
  filter.ticket_type_id = ticket_type_id;
  filter.organization_key = OrganizationKey(organization);
  filter.email_prefix = absl::AsciiStrToLower(email_prefix);
  return filter;
}

absl::StatusOr<int> EffectivePageSize(int32_t page_size) {
  if (page_size < 0) {
    return InvalidFields({{"page_size", "must not be negative"}});
  }
  if (page_size == 0) return 50;
  return page_size > 1000 ? 1000 : static_cast<int>(page_size);
}

std::string Rfc3339FromMicros(int64_t us) {
  const absl::Time t = absl::FromUnixMicros(us);
  return absl::FormatTime(
      us % 1000000 == 0 ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%dT%H:%M:%E6SZ", t,
      absl::UTCTimeZone());
}

void AppendExportHeader(std::string& out) {
  out.append(
      "registration_id,ticket_type_id,status,email,full_name,organization,"
      "country_code,waitlist_position,created_at,confirmed_at,cancelled_at,"
      "expired_at,checked_in_at,ticket_code\r\n");
}

void AppendExportRow(std::string& out, const ListedRegistration& row) {
  auto time = [](const std::optional<int64_t>& us) {
    return us ? Rfc3339FromMicros(*us) : std::string();
  };
  const std::string position =
      row.status == 3 ? absl::StrCat(row.waitlist_position) : std::string();
  AppendCsvRow(
      out, {row.registration_id, row.ticket_type_id, StatusName(row.status),
            row.email, row.full_name, row.organization, row.country_code,
            position, Rfc3339FromMicros(row.created_us), time(row.confirmed_us),
            time(row.cancelled_us), time(row.expired_us),
            time(row.checked_in_us), row.ticket_code});
}

// A WAITLISTED registration's position is the number of WAITLISTED
// registrations of its ticket type with a waitlist_seq up to its own. For a
// page, one statement, and only when the page has waitlisted rows: per
// ticket type, one count of the waitlisted ahead of the page's first seq
// and the waitlisted seqs between its first and last; each row's position
// is then that count plus its rank among those seqs. A page thus costs one
// range count per type (O(the page's position)) and a range of about the
// page's size, where a count per row cost O(page size x position): 100
// counts of up to 45,000 index entries for a page deep in a 90,000-long
// waitlist. A statement of its own (the page's is a nontransaction), so a
// row that left the waitlist in between gets the count of those still ahead
// of it (at least 1).
void FillWaitlistPositions(pqxx::transaction_base& tx,
                           const std::string& event_id,
                           const std::vector<int64_t>& seqs,
                           std::vector<ListedRegistration>& rows) {
  std::vector<std::string> types;
  std::vector<int64_t> waitlisted_seqs;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].status != 3 || seqs[i] <= 0) continue;
    types.push_back(rows[i].ticket_type_id);
    waitlisted_seqs.push_back(seqs[i]);
  }
  if (types.empty()) return;
  pqxx::result ranges = tx.exec_params(
      "SELECT b.type, (SELECT count(*) FROM registration.registrations y "
      "WHERE y.event_id = $1 AND y.ticket_type_id = b.type AND y.status = 3 "
      "AND y.waitlist_seq < b.lo), array_to_string(ARRAY(SELECT "
      "x.waitlist_seq FROM registration.registrations x WHERE x.event_id = "
      "$1 AND x.ticket_type_id = b.type AND x.status = 3 AND x.waitlist_seq "
      "BETWEEN b.lo AND b.hi ORDER BY x.waitlist_seq), ',') FROM (SELECT "
      "type, min(seq) AS lo, max(seq) AS hi FROM unnest($2::text[], "
      "$3::bigint[]) AS p(type, seq) GROUP BY type) b",
      event_id, TextArray(types), IntArray(waitlisted_seqs));
  struct Range {
    int64_t ahead = 0;
    std::vector<int64_t> seqs;  // ascending
  };
  std::map<std::string, Range> by_type;
  for (const auto& r : ranges) {
    Range& range = by_type[r[0].as<std::string>()];
    range.ahead = r[1].as<int64_t>();
    for (absl::string_view part :
         absl::StrSplit(r[2].as<std::string>(), ',', absl::SkipEmpty())) {
      int64_t seq = 0;
      if (absl::SimpleAtoi(part, &seq)) range.seqs.push_back(seq);
    }
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].status != 3 || seqs[i] <= 0) continue;
    const Range& range = by_type[rows[i].ticket_type_id];
    const int64_t within =
        std::upper_bound(range.seqs.begin(), range.seqs.end(), seqs[i]) -
        range.seqs.begin();
    rows[i].waitlist_position =
        static_cast<int32_t>(std::max<int64_t>(1, range.ahead + within));
  }
}

std::vector<ListedRegistration> ReadRows(pqxx::transaction_base& tx,
                                         const ListingFilter& filter,
                                         const std::optional<PageCursor>& after,
                                         int limit) {
  std::vector<std::string> params;
  std::string where = Conditions(filter, params);
  if (after) {
    params.push_back(absl::StrCat(after->created_us));
    params.push_back(after->registration_id);
    absl::StrAppend(&where,
                    " AND (r.created_at, r.registration_id) > ('epoch'::"
                    "timestamptz + $",
                    params.size() - 1, "::bigint * interval '1 microsecond', $",
                    params.size(), ")");
  }
  params.push_back(absl::StrCat(limit));
  std::string sql;
  if (filter.email_prefix.empty()) {
    sql = absl::StrCat("SELECT ", Columns(),
                       " FROM registration.registrations r WHERE ", where,
                       " ORDER BY r.created_at, r.registration_id LIMIT $",
                       params.size());
  } else {
    // The page's keys first, from registrations_list_email alone (an
    // index-only scan of the prefix's range and a top-N sort), then only
    // those rows: reading every match's row before the sort cost twice as
    // much (23 ms against 12 ms for 8,610 matches past the cursor).
    sql = absl::StrCat(
        "WITH page AS MATERIALIZED (SELECT r.registration_id, r.created_at "
        "FROM registration.registrations r WHERE ",
        where, " ORDER BY r.created_at, r.registration_id LIMIT $",
        params.size(), ") SELECT ", Columns(),
        " FROM page p JOIN registration.registrations r "
        "ON r.registration_id = p.registration_id "
        "ORDER BY p.created_at, p.registration_id");
  }
  pqxx::result result =
      tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
  std::vector<ListedRegistration> rows;
  std::vector<int64_t> seqs;  // waitlist_seq of WAITLISTED rows, else 0
  rows.reserve(result.size());
  seqs.reserve(result.size());
  for (const auto& r : result) {
    ListedRegistration row;
    row.registration_id = r[0].as<std::string>();
    row.ticket_type_id = r[1].as<std::string>();
    row.email = r[2].as<std::string>();
    row.full_name = r[3].as<std::string>();
    row.organization = r[4].as<std::string>();
    row.country_code = r[5].as<std::string>();
    row.status = r[6].as<int>();
    seqs.push_back(r[7].as<int64_t>());
    row.created_us = r[8].as<int64_t>();
    row.hold_expires_us = OptionalMicros(r[9]);
    row.confirmed_us = OptionalMicros(r[10]);
    row.cancelled_us = OptionalMicros(r[11]);
    row.expired_us = OptionalMicros(r[12]);
    row.checked_in_us = OptionalMicros(r[13]);
    row.erased_us = OptionalMicros(r[14]);
    row.updated_us = r[15].as<int64_t>();
    if (row.status == 2) row.ticket_code = r[16].as<std::string>();
    rows.push_back(std::move(row));
  }
  FillWaitlistPositions(tx, filter.event_id, seqs, rows);
  return rows;
}

}  // namespace internal

RegistrationListing::RegistrationListing(pg::Pool* pool,
                                         const ApiKeyAuthenticator* keys,
                                         std::string token_key,
                                         ListingOptions options)
    : pool_(pool),
      keys_(keys),
      tokens_(std::move(token_key)),
      options_(options) {}

RegistrationListing::~RegistrationListing() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return exports_ == 0; });
}

void RegistrationListing::ExportStarted() {
  std::lock_guard<std::mutex> lock(mu_);
  ++exports_;
}

void RegistrationListing::ExportDone() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--exports_ == 0) idle_cv_.notify_all();
}

int64_t RegistrationListing::exports_in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return exports_;
}

// ---------------------------------------------------------------------------
// ListRegistrations

grpc::ServerUnaryReactor* RegistrationListing::List(
    grpc::CallbackServerContext* context,
    const v1::ListRegistrationsRequest* request,
    v1::ListRegistrationsResponse* response) {
  return server::HandOffUnary(
      context, "ListRegistrations", ToRpc,
      [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) -> absl::Status {
        absl::StatusOr<Caller> caller = keys_->Authenticate(*context);
        if (!caller.ok()) return caller.status();
        absl::StatusOr<ListingFilter> filter = internal::ValidateFilter(
            request->event_id(), request->status(), request->ticket_type_id(),
            request->organization(), request->email_prefix());
        if (!filter.ok()) {
          // A malformed event id is INVALID_ARGUMENT before authorization
          // (as GetEvent); a well-formed one is checked against the key
          // first, so a key learns nothing about other events' filters.
          return filter.status();
        }
        absl::Status allowed =
            Authorize(*caller, OrganizerCall::kRead, filter->event_id);
        if (!allowed.ok()) return allowed;
        absl::StatusOr<int> page_size =
            internal::EffectivePageSize(request->page_size());
        if (!page_size.ok()) return page_size.status();
        const std::string binding = Binding(*filter);
        std::optional<PageCursor> after;
        if (!request->page_token().empty()) {
          absl::StatusOr<PageCursor> cursor =
              tokens_.Decode(request->page_token(), binding);
          if (!cursor.ok()) return cursor.status();
          after = std::move(*cursor);
        }
        struct Page {
          std::vector<ListedRegistration> rows;
          bool more = false;
          int64_t total = 0;
        };
        ExportStarted();
        handed_off = true;
        pool_->Submit(
            [filter = *filter, after, limit = *page_size](
                pqxx::connection& conn) -> absl::StatusOr<Page> {
              pqxx::nontransaction tx(conn);
              if (absl::Status s = CheckEvent(tx, filter.event_id); !s.ok()) {
                return s;
              }
              Page page;
              // One row more than the page: whether a next page exists.
              page.rows = internal::ReadRows(tx, filter, after, limit + 1);
              if (static_cast<int>(page.rows.size()) > limit) {
                page.rows.pop_back();
                page.more = true;
              }
              page.total = TotalSize(tx, filter);
              return page;
            },
            [this, reactor, response, filter = *filter,
             binding](absl::StatusOr<Page> page) {
              server::Guard(reactor, "ListRegistrations", [&] {
                if (!page.ok()) {
                  return ToRpc(Retryable(page.status()), "ListRegistrations");
                }
                for (const ListedRegistration& row : page->rows) {
                  RowToProto(row, filter.event_id,
                             response->add_registrations());
                }
                if (page->more) {
                  const ListedRegistration& last = page->rows.back();
                  response->set_next_page_token(tokens_.Encode(
                      {last.created_us, last.registration_id}, binding));
                }
                response->set_total_size(static_cast<int32_t>(std::min<int64_t>(
                    page->total, std::numeric_limits<int32_t>::max())));
                return grpc::Status::OK;
              });
              ExportDone();
            });
        return absl::OkStatus();
      });
}

// ---------------------------------------------------------------------------
// ExportRegistrations

class RegistrationListing::ExportReactor
    : public grpc::ServerWriteReactor<v1::ExportChunk> {
 public:
  ExportReactor(RegistrationListing* owner, ListingFilter filter, bool bom)
      : owner_(owner), filter_(std::move(filter)), bom_(bom) {
    owner_->ExportStarted();
  }

  // Starts the first read. Reads run one batch ahead of the writes: while a
  // chunk is being sent the next one is read (so the export costs the
  // slower of the two, not their sum), and at most one read chunk waits,
  // which bounds the memory to two chunks.
  void Start() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      reading_ = true;
    }
    ReadNext();
  }

 private:
  struct Batch {
    std::string csv;
    int rows = 0;
    bool more = false;
    bool has_last = false;
    PageCursor last;
  };

  // What Pump() decided, done outside the lock (StartWrite and Submit may
  // call back on this thread).
  struct Actions {
    bool write = false;
    bool read = false;
    std::optional<grpc::Status> finish;
  };

  // Reads the next batch after cursor_ on the pool; OnBatch gets it.
  void ReadNext() {
    std::optional<PageCursor> after;
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      after = cursor_;
      first = !started_;
      started_ = true;
    }
    owner_->pool_->Submit(
        [filter = filter_, after, first, bom = bom_,
         limit = owner_->options_.export_batch_rows,
         max_bytes = owner_->options_.export_chunk_bytes,
         cancelled =
             cancelled_](pqxx::connection& conn) -> absl::StatusOr<Batch> {
          Batch batch;
          if (cancelled->load()) return batch;
          pqxx::nontransaction tx(conn);
          if (first) {
            if (absl::Status s = CheckEvent(tx, filter.event_id); !s.ok()) {
              return s;
            }
            if (bom) batch.csv.append("\xEF\xBB\xBF");
            internal::AppendExportHeader(batch.csv);
          }
          std::vector<ListedRegistration> rows =
              internal::ReadRows(tx, filter, after, limit);
          batch.more = static_cast<int>(rows.size()) == limit;
          for (size_t i = 0; i < rows.size(); ++i) {
            internal::AppendExportRow(batch.csv, rows[i]);
            ++batch.rows;
            batch.has_last = true;
            batch.last =
                PageCursor{rows[i].created_us, rows[i].registration_id};
            if (batch.csv.size() >= max_bytes && i + 1 < rows.size()) {
              batch.more = true;  // the rest is read again next time
              break;
            }
          }
          return batch;
        },
        [this](absl::StatusOr<Batch> batch) {
          grpc::Status failed = server::CallGuarded("ExportRegistrations", [&] {
            OnBatch(std::move(batch));
            return grpc::Status::OK;
          });
          if (!failed.ok()) Fail(failed);
        });
  }

  void OnBatch(absl::StatusOr<Batch> batch) {
    Actions actions;
    {
      std::lock_guard<std::mutex> lock(mu_);
      reading_ = false;
      if (cancelled_->load()) {
        failure_ = grpc::Status(grpc::StatusCode::CANCELLED,
                                "the export was cancelled");
      } else if (!batch.ok()) {
        failure_ = ToRpc(Retryable(batch.status()), "ExportRegistrations");
      } else {
        if (batch->has_last) cursor_ = batch->last;
        more_ = batch->more;
        if (!batch->csv.empty()) ready_ = std::move(*batch);
      }
      actions = Pump();
    }
    Do(actions);
  }

  void OnWriteDone(bool ok) override {
    Actions actions;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      chunk_.Clear();  // frees the chunk before the next one
      if (!ok || cancelled_->load()) {
        failure_ = grpc::Status(grpc::StatusCode::CANCELLED,
                                "the export was cancelled");
      }
      actions = Pump();
    }
    Do(actions);
  }

  void Fail(const grpc::Status& status) {
    Actions actions;
    {
      std::lock_guard<std::mutex> lock(mu_);
      reading_ = false;
      if (!failure_) failure_ = status;
      actions = Pump();
    }
    Do(actions);
  }

  // Next steps, under mu_: send the ready chunk when no write is in flight,
  // read ahead when nothing waits, finish once nothing is in flight and
  // either everything was sent or something failed.
  Actions Pump() {
    Actions a;
    if (finished_) return a;
    if (failure_) {
      if (!writing_ && !reading_) {
        finished_ = true;
        a.finish = *failure_;
      }
      return a;
    }
    if (!writing_ && ready_) {
      chunk_.set_csv(std::move(ready_->csv));
      chunk_.set_rows(ready_->rows);
      ready_.reset();
      writing_ = true;
      a.write = true;
    }
    if (!reading_ && !ready_ && more_) {
      reading_ = true;
      a.read = true;
    }
    if (!writing_ && !reading_ && !ready_ && !more_) {
      finished_ = true;
      a.finish = grpc::Status::OK;
    }
    return a;
  }

  void Do(const Actions& a) {
    if (a.write) StartWrite(&chunk_);
    if (a.read) ReadNext();
    if (a.finish) Finish(*a.finish);
  }

  void OnCancel() override { cancelled_->store(true); }

  void OnDone() override {
    RegistrationListing* owner = owner_;
    delete this;
    owner->ExportDone();
  }

  RegistrationListing* const owner_;
  const ListingFilter filter_;
  const bool bom_;
  std::mutex mu_;
  bool started_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool finished_ = false;
  bool more_ = false;
  std::optional<PageCursor> cursor_;
  std::optional<Batch> ready_;           // read, waiting for the write
  std::optional<grpc::Status> failure_;  // finish with it when idle
  v1::ExportChunk chunk_;                // being written
  std::shared_ptr<std::atomic<bool>> cancelled_ =
      std::make_shared<std::atomic<bool>>(false);
};

grpc::ServerWriteReactor<v1::ExportChunk>* RegistrationListing::Export(
    grpc::CallbackServerContext* context,
    const v1::ExportRegistrationsRequest* request) {
  absl::StatusOr<ListingFilter> filter = absl::InternalError("internal error");
  grpc::Status early =
      server::CallGuarded("ExportRegistrations", [&]() -> grpc::Status {
        absl::StatusOr<Caller> caller = keys_->Authenticate(*context);
        if (!caller.ok()) return ToRpc(caller.status(), "ExportRegistrations");
        filter = internal::ValidateFilter(
            request->event_id(), request->status(), request->ticket_type_id(),
            request->organization(), request->email_prefix());
        if (!filter.ok()) return ToRpc(filter.status(), "ExportRegistrations");
        absl::Status allowed =
            Authorize(*caller, OrganizerCall::kRead, filter->event_id);
        if (!allowed.ok()) return ToRpc(allowed, "ExportRegistrations");
        return grpc::Status::OK;
      });
  if (!early.ok()) {
    class Refused : public grpc::ServerWriteReactor<v1::ExportChunk> {
     public:
      explicit Refused(const grpc::Status& status) { Finish(status); }
      void OnDone() override { delete this; }
    };
    return new Refused(early);
  }
  auto* reactor =
      new ExportReactor(this, std::move(*filter), request->utf8_bom());
  reactor->Start();
  return reactor;
}

}  // namespace admit::registration
