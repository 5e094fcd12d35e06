#include "services/registration/pg_registration_store.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pqxx/pqxx"
#include "services/registration/registration_errors.h"

namespace admit::registration {
namespace internal {

std::string TextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string IntArray(const std::vector<int64_t>& values) {
  return absl::StrCat("{", absl::StrJoin(values, ","), "}");
}

}  // namespace internal

bool IsLive(RegistrationStatus status) {
  return status == RegistrationStatus::kPendingConfirmation ||
         status == RegistrationStatus::kConfirmed ||
         status == RegistrationStatus::kWaitlisted;
}

namespace {

using internal::TextArray;

std::string Micros(const char* column) {
  return absl::StrCat("(extract(epoch FROM ", column, ") * 1000000)::bigint");
}

// Columns of a registration as read by ReadRecord; the table is aliased `r`.
// The waitlist position is a range count on the partial waitlist index (only
// for WAITLISTED rows).
const std::string& Columns() {
  static const std::string* columns = new std::string(absl::StrCat(
      "r.registration_id, r.event_id, r.ticket_type_id, r.request_id, "
      "r.request_fingerprint, r.email, r.full_name, r.organization, "
      "r.organization_key, r.country_code, r.status, "
      "CASE WHEN r.status = 3 THEN (SELECT count(*) FROM "
      "registration.registrations w WHERE w.event_id = r.event_id AND "
      "w.ticket_type_id = r.ticket_type_id AND w.status = 3 AND "
      "w.waitlist_seq <= r.waitlist_seq) ELSE 0 END, "
      "COALESCE(r.hold_id, ''), ",
      Micros("r.hold_expires_at"), ", ", Micros("r.created_at"), ", ",
      Micros("r.updated_at"), ", ", Micros("r.confirmed_at"), ", ",
      Micros("r.cancelled_at"), ", ", Micros("r.expired_at"), ", ",
      "encode(r.manage_token_hash, 'hex'), "
      "COALESCE(encode(r.manage_token_sealed, 'hex'), ''), "
      "COALESCE(r.ticket_code, '')"));
  return *columns;
}

// The probes of the pre-check and of a batch, one index lookup per key:
// stored registrations of the event by request_id (unique index
// registrations_request), and live ones by email (registrations_live_email).
// Each key is looked up in a LATERAL subquery that the planner may not
// flatten (OFFSET 0), so every probe is an equality on both columns of its
// unique index. Written as `event_id = $1 AND request_id = ANY($2)` (or as a
// plain join), the planner, which finds a new event's id in no statistics
// and so expects one row for `event_id = $1`, scans all of the event's rows
// and filters them: every probe of a launch spike then costs O(rows of the
// event), measured at 8 ms per pre-check after 20,000 registrations.
// Ids of the event's registrations with one of the request ids $2. Only the
// id: the full record (ReadRecord's columns, whose waitlist-rank subquery
// makes it ~0.4 ms to plan) is read by SameRequests only when there is a hit.
const std::string& SameRequestProbe() {
  static const std::string* sql = new std::string(
      "SELECT r.registration_id FROM unnest($2::text[]) AS k(request_id) "
      "CROSS JOIN LATERAL (SELECT r.registration_id FROM "
      "registration.registrations r WHERE r.event_id = $1 AND "
      "r.request_id = k.request_id OFFSET 0) r");
  return *sql;
}

// Rows (email, request_id) of the event's live, not erased registrations
// with one of the emails $2 (the predicate of registrations_live_email).
const std::string& LiveEmailProbe() {
  static const std::string* sql = new std::string(
      "SELECT r.email, r.request_id FROM unnest($2::text[]) AS k(email) "
      "CROSS JOIN LATERAL (SELECT r.email, r.request_id FROM "
      "registration.registrations r WHERE r.event_id = $1 AND "
      "r.email = k.email AND r.status IN (1, 2, 3) AND r.erased_at IS NULL "
      "OFFSET 0) r");
  return *sql;
}

RegistrationRecord ReadRecord(const pqxx::row& r);

// The event's registrations with one of `request_ids`, by request_id.
std::map<std::string, RegistrationRecord> SameRequests(
    pqxx::transaction_base& tx, const std::string& event_id,
    const std::vector<std::string>& request_ids) {
  std::vector<std::string> ids;
  for (const auto& row :
       tx.exec_params(SameRequestProbe(), event_id, TextArray(request_ids))) {
    ids.push_back(row[0].as<std::string>());
  }
  std::map<std::string, RegistrationRecord> out;
  if (ids.empty()) return out;
  for (const auto& row :
       tx.exec_params(absl::StrCat("SELECT ", Columns(),
                                   " FROM registration.registrations r WHERE "
                                   "r.registration_id = ANY($1::text[])"),
                      TextArray(ids))) {
    RegistrationRecord rec = ReadRecord(row);
    std::string request_id = rec.request_id;
    out.emplace(std::move(request_id), std::move(rec));
  }
  return out;
}

std::optional<absl::Time> OptionalMicros(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return absl::FromUnixMicros(f.as<int64_t>());
}

std::string FromHex(const pqxx::field& f) {
  return absl::HexStringToBytes(f.as<std::string>());
}

RegistrationRecord ReadRecord(const pqxx::row& r) {
  RegistrationRecord rec;
  rec.registration_id = r[0].as<std::string>();
  rec.event_id = r[1].as<std::string>();
  rec.ticket_type_id = r[2].as<std::string>();
  rec.request_id = r[3].as<std::string>();
  rec.fingerprint = r[4].as<std::string>();
  rec.attendee.email = r[5].as<std::string>();
  rec.attendee.full_name = r[6].as<std::string>();
  rec.attendee.organization = r[7].as<std::string>();
  rec.attendee.organization_key = r[8].as<std::string>();
  rec.attendee.country_code = r[9].as<std::string>();
  rec.status = static_cast<RegistrationStatus>(r[10].as<int>());
  rec.waitlist_position = r[11].as<int32_t>();
  rec.hold_id = r[12].as<std::string>();
  rec.hold_expires_at = OptionalMicros(r[13]);
  rec.created_at = absl::FromUnixMicros(r[14].as<int64_t>());
  rec.updated_at = absl::FromUnixMicros(r[15].as<int64_t>());
  rec.confirmed_at = OptionalMicros(r[16]);
  rec.cancelled_at = OptionalMicros(r[17]);
  rec.expired_at = OptionalMicros(r[18]);
  rec.token_hash = FromHex(r[19]);
  rec.token_sealed = FromHex(r[20]);
  rec.ticket_code = r[21].as<std::string>();
  return rec;
}

// Locks the event's counter row, creating it on first use. In a statement
// of its own so that, in READ COMMITTED, the next statements' snapshots are
// taken after the lock is granted and see every batch committed before.
void LockEvent(pqxx::work& tx, const std::string& event_id) {
  const std::string lock =
      "SELECT 1 FROM registration.event_counters WHERE event_id = $1 "
      "FOR UPDATE";
  if (!tx.exec_params(lock, event_id).empty()) return;
  tx.exec_params(
      "INSERT INTO registration.event_counters (event_id) VALUES ($1) "
      "ON CONFLICT (event_id) DO NOTHING",
      event_id);
  tx.exec_params(lock, event_id);
}

// A one-statement read as a pool job: autocommit (pqxx::nontransaction),
// one round trip instead of BEGIN / SELECT / COMMIT. Each statement sees a
// consistent snapshot of its own, which is all a single read needs.
template <typename Read>
auto ReadJob(Read read) {
  return [read = std::move(read)](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    return read(tx);
  };
}

// ---------------------------------------------------------------------------
// InsertBatch

absl::StatusOr<std::vector<absl::StatusOr<InsertResult>>> InsertBatchTx(
    pqxx::work& tx, const std::string& event_id,
    const std::vector<NewRegistration>& commands) {
  // 1. The per-event serialization point.
  LockEvent(tx, event_id);

  // 2. Stored registrations that conflict with the batch.
  std::vector<std::string> request_ids, emails;
  for (const NewRegistration& c : commands) {
    request_ids.push_back(c.request_id);
    emails.push_back(c.attendee.email);
  }
  std::map<std::string, RegistrationRecord> by_request =
      SameRequests(tx, event_id, request_ids);
  std::set<std::string> live_emails;
  for (const auto& row :
       tx.exec_params(LiveEmailProbe(), event_id, TextArray(emails))) {
    live_emails.insert(row[0].as<std::string>());
  }

  // 3. Decide in arrival order.
  // 2b. Holds abandoned by failed attempts (see AbandonHold).
  std::vector<std::string> hold_ids;
  for (const NewRegistration& c : commands) {
    if (!c.hold_id.empty()) hold_ids.push_back(c.hold_id);
  }
  std::set<std::string> abandoned;
  if (!hold_ids.empty()) {
    for (const auto& row : tx.exec_params(
             "SELECT hold_id FROM registration.abandoned_holds WHERE "
             "hold_id = ANY($1::text[])",
             TextArray(hold_ids))) {
      abandoned.insert(row[0].as<std::string>());
    }
  }

  std::vector<std::optional<absl::StatusOr<InsertResult>>> results(
      commands.size());
  std::map<std::string, size_t> winner_of_request;  // request_id -> command
  std::vector<std::pair<size_t, size_t>> repeats;   // (command, its winner)
  std::vector<size_t> winners;
  for (size_t i = 0; i < commands.size(); ++i) {
    const NewRegistration& c = commands[i];
    if (auto it = by_request.find(c.request_id); it != by_request.end()) {
      results[i] = InsertResult{InsertOutcome::kSameRequest, it->second};
      continue;
    }
    if (auto it = winner_of_request.find(c.request_id);
        it != winner_of_request.end()) {
      repeats.emplace_back(i, it->second);
      continue;
    }
    if (!c.hold_id.empty() && abandoned.contains(c.hold_id)) {
      results[i] = absl::AbortedError(
          "the seat hold of this request was given up by a failed attempt; "
          "retry with the same request_id");
      continue;
    }
    if (!live_emails.insert(c.attendee.email).second) {
      results[i] = InsertResult{InsertOutcome::kEmailTaken, {}};
      continue;
    }
    winner_of_request.emplace(c.request_id, i);
    winners.push_back(i);
  }

  // 4. Waitlist sequence numbers and positions, per ticket type, from the
  //    counter rows (one upsert for the batch).
  std::map<std::string, int> waitlisted_per_type;
  for (size_t i : winners) {
    if (commands[i].status == RegistrationStatus::kWaitlisted) {
      ++waitlisted_per_type[commands[i].ticket_type_id];
    }
  }
  struct Range {
    int64_t next_seq = 0;       // seq of the type's first waitlisted winner
    int32_t next_position = 0;  // its position
  };
  std::map<std::string, Range> ranges;
  if (!waitlisted_per_type.empty()) {
    std::vector<std::string> types;
    std::vector<std::string> counts;
    for (const auto& [type, n] : waitlisted_per_type) {
      types.push_back(type);
      counts.push_back(absl::StrCat(n));
    }
    pqxx::result r = tx.exec_params(
        "INSERT INTO registration.waitlist_counters AS c "
        "(event_id, ticket_type_id, last_seq, waitlisted) "
        "SELECT $1::text, d.t, d.n, d.n FROM unnest($2::text[], $3::int[]) AS "
        "d(t, n) "
        "ON CONFLICT (event_id, ticket_type_id) DO UPDATE SET "
        "last_seq = c.last_seq + EXCLUDED.last_seq, "
        "waitlisted = c.waitlisted + EXCLUDED.waitlisted "
        "RETURNING c.ticket_type_id, c.last_seq, c.waitlisted",
        event_id, TextArray(types), TextArray(counts));
    for (const auto& row : r) {
      const std::string type = row[0].as<std::string>();
      const int n = waitlisted_per_type.at(type);
      ranges[type] =
          Range{row[1].as<int64_t>() - n + 1, row[2].as<int32_t>() - n + 1};
    }
  }

  // 5. Insert the winners with one statement, and their outbox rows.
  std::vector<std::string> ids, types, req_ids, prints, mails, names, orgs,
      org_keys, countries, statuses, seqs, holds, expiries, hashes, sealed;
  // The outbox payloads' parts (OUTBOX.md, v1).
  std::vector<std::string> ev_names, ev_starts, ev_ends, ev_zones, type_names,
      expiry_texts, position_texts;
  std::map<std::string, int32_t> positions;  // registration_id -> position
  for (size_t i : winners) {
    const NewRegistration& c = commands[i];
    ids.push_back(c.registration_id);
    types.push_back(c.ticket_type_id);
    req_ids.push_back(c.request_id);
    prints.push_back(c.fingerprint);
    mails.push_back(c.attendee.email);
    names.push_back(c.attendee.full_name);
    orgs.push_back(c.attendee.organization);
    org_keys.push_back(c.attendee.organization_key);
    countries.push_back(c.attendee.country_code);
    statuses.push_back(absl::StrCat(static_cast<int>(c.status)));
    if (c.status == RegistrationStatus::kWaitlisted) {
      Range& range = ranges.at(c.ticket_type_id);
      seqs.push_back(absl::StrCat(range.next_seq++));
      position_texts.push_back(absl::StrCat(range.next_position));
      positions[c.registration_id] = range.next_position++;
    } else {
      seqs.push_back("-1");
      position_texts.push_back("0");
    }
    ev_names.push_back(c.event.name);
    ev_starts.push_back(c.event.starts_at);
    ev_ends.push_back(c.event.ends_at);
    ev_zones.push_back(c.event.time_zone);
    type_names.push_back(c.event.ticket_type_name);
    expiry_texts.push_back(
        c.hold_expires_at ? Rfc3339UtcMicros(*c.hold_expires_at) : "");
    holds.push_back(c.hold_id);
    expiries.push_back(absl::StrCat(
        c.hold_expires_at ? absl::ToUnixMicros(*c.hold_expires_at) : -1));
    hashes.push_back(absl::BytesToHexString(c.token_hash));
    sealed.push_back(absl::BytesToHexString(c.token_sealed));
  }
  std::map<std::string, std::pair<int64_t, int64_t>> stamps;  // created/upd.
  if (!ids.empty()) {
    pqxx::result inserted = tx.exec_params(
        absl::StrCat(
            "INSERT INTO registration.registrations AS r (registration_id, "
            "event_id, ticket_type_id, request_id, request_fingerprint, "
            "email, full_name, organization, organization_key, country_code, "
            "status, waitlist_seq, hold_id, hold_expires_at, "
            "manage_token_hash, manage_token_sealed) "
            "SELECT d.id, $1::text, d.type, d.req, d.fp, d.mail, d.name, "
            "d.org, "
            "d.org_key, d.country, d.status, NULLIF(d.seq, -1), "
            "NULLIF(d.hold, ''), CASE WHEN d.exp < 0 THEN NULL ELSE "
            "'epoch'::timestamptz + d.exp * interval '1 microsecond' END, "
            "decode(d.hash, 'hex'), NULLIF(decode(d.sealed, 'hex'), ''::bytea) "
            "FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], "
            "$6::text[], $7::text[], $8::text[], $9::text[], $10::text[], "
            "$11::smallint[], $12::bigint[], $13::text[], $14::bigint[], "
            "$15::text[], $16::text[]) AS d(id, type, req, fp, mail, name, "
            "org, org_key, country, status, seq, hold, exp, hash, sealed) "
            "ON CONFLICT DO NOTHING RETURNING r.registration_id, ",
            Micros("r.created_at"), ", ", Micros("r.updated_at")),
        event_id, TextArray(ids), TextArray(types), TextArray(req_ids),
        TextArray(prints), TextArray(mails), TextArray(names), TextArray(orgs),
        TextArray(org_keys), TextArray(countries), TextArray(statuses),
        TextArray(seqs), TextArray(holds), TextArray(expiries),
        TextArray(hashes), TextArray(sealed));
    for (const auto& row : inserted) {
      stamps[row[0].as<std::string>()] = {row[1].as<int64_t>(),
                                          row[2].as<int64_t>()};
    }
    if (stamps.size() != ids.size()) {
      // Every conflicting row was read under the event lock, so this means
      // a writer that does not take it (a bug): roll back, let callers retry.
      return absl::AbortedError(
          "a registration conflicted with a concurrent write; retry");
    }
    // Payload v1 (OUTBOX.md): everything the message needs, so delivery
    // does not depend on this service.
    tx.exec_params(
        "INSERT INTO registration.outbox (kind, reason, registration_id, "
        "event_id, payload) "
        "SELECT CASE WHEN d.status = 3 THEN 'waitlist' ELSE 'confirmation' "
        "END, CASE WHEN d.status = 3 THEN 'waitlisted' ELSE 'registered' END, "
        "d.id, $1::text, jsonb_build_object('v', 1, 'reason', CASE WHEN "
        "d.status = 3 THEN 'waitlisted' ELSE 'registered' END, "
        "'registration_id', d.id, 'event_id', $1::text, 'ticket_type_id', "
        "d.type, 'status', d.status, 'attendee', jsonb_build_object('email', "
        "d.mail, 'full_name', d.name), 'event', jsonb_build_object('name', "
        "d.ev_name, 'starts_at', d.ev_start, 'ends_at', d.ev_end, "
        "'time_zone', d.ev_zone), 'ticket_type_name', d.type_name, "
        "'waitlist_position', d.pos, 'ticket_code', '') || CASE WHEN d.exp = "
        "'' THEN '{}'::jsonb ELSE jsonb_build_object('hold_expires_at', "
        "d.exp) END "
        "FROM unnest($2::text[], $3::text[], $4::smallint[], $5::text[], "
        "$6::text[], $7::text[], $8::text[], $9::text[], $10::text[], "
        "$11::text[], $12::text[], $13::int[]) AS d(id, type, status, mail, "
        "name, ev_name, ev_start, ev_end, ev_zone, type_name, exp, pos)",
        event_id, TextArray(ids), TextArray(types), TextArray(statuses),
        TextArray(mails), TextArray(names), TextArray(ev_names),
        TextArray(ev_starts), TextArray(ev_ends), TextArray(ev_zones),
        TextArray(type_names), TextArray(expiry_texts),
        TextArray(position_texts));
  }

  // 6. Answers, in order.
  for (size_t i : winners) {
    const NewRegistration& c = commands[i];
    RegistrationRecord rec;
    rec.registration_id = c.registration_id;
    rec.event_id = event_id;
    rec.ticket_type_id = c.ticket_type_id;
    rec.request_id = c.request_id;
    rec.fingerprint = c.fingerprint;
    rec.attendee = c.attendee;
    rec.status = c.status;
    if (auto it = positions.find(c.registration_id); it != positions.end()) {
      rec.waitlist_position = it->second;
    }
    rec.hold_id = c.hold_id;
    rec.hold_expires_at = c.hold_expires_at;
    const auto& [created, updated] = stamps.at(c.registration_id);
    rec.created_at = absl::FromUnixMicros(created);
    rec.updated_at = absl::FromUnixMicros(updated);
    rec.token_hash = c.token_hash;
    rec.token_sealed = c.token_sealed;
    results[i] = InsertResult{InsertOutcome::kInserted, std::move(rec)};
  }
  for (const auto& [i, winner] : repeats) {
    results[i] =
        InsertResult{InsertOutcome::kSameRequest, (*results[winner])->record};
  }
  std::vector<absl::StatusOr<InsertResult>> out;
  out.reserve(results.size());
  for (auto& r : results) out.push_back(std::move(*r));
  return out;
}

// ---------------------------------------------------------------------------
// Lookup / Get / Cancel / WaitlistCounts

// The pre-checks of several Register requests of one event, in one
// statement (two index probes per request).
absl::StatusOr<std::vector<RegisterLookup>> LookupBatchTx(
    pqxx::nontransaction& tx, const std::string& event_id,
    const std::vector<std::pair<std::string, std::string>>& keys) {
  std::vector<std::string> request_ids, emails;
  for (const auto& [request_id, email] : keys) {
    request_ids.push_back(request_id);
    emails.push_back(email);
  }
  std::map<std::string, RegistrationRecord> by_request =
      SameRequests(tx, event_id, request_ids);
  std::multimap<std::string, std::string> live;  // email -> request_id
  for (const auto& row :
       tx.exec_params(LiveEmailProbe(), event_id, TextArray(emails))) {
    live.emplace(row[0].as<std::string>(), row[1].as<std::string>());
  }
  std::vector<RegisterLookup> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto& [request_id, email] = keys[i];
    if (auto it = by_request.find(request_id); it != by_request.end()) {
      out[i].same_request = it->second;
    }
    auto [begin, end] = live.equal_range(email);
    for (auto it = begin; it != end; ++it) {
      if (it->second != request_id) out[i].email_taken = true;
    }
  }
  return out;
}

template <typename Tx>
absl::StatusOr<RegistrationRecord> SelectRecord(Tx& tx, const std::string& id,
                                                bool for_update) {
  pqxx::result r =
      tx.exec_params(absl::StrCat("SELECT ", Columns(),
                                  " FROM registration.registrations r WHERE "
                                  "r.registration_id = $1",
                                  for_update ? " FOR UPDATE OF r" : ""),
                     id);
  if (r.empty()) return RegistrationNotFoundError();
  return ReadRecord(r[0]);
}

absl::StatusOr<bool> AbandonHoldTx(pqxx::work& tx, const std::string& event_id,
                                   const std::string& hold_id) {
  LockEvent(tx, event_id);
  if (!tx.exec_params("SELECT 1 FROM registration.registrations WHERE "
                      "hold_id = $1",
                      hold_id)
           .empty()) {
    return false;  // a copy of the request stored it: the hold is theirs
  }
  tx.exec_params(
      "INSERT INTO registration.abandoned_holds (hold_id, event_id) VALUES "
      "($1, $2) ON CONFLICT (hold_id) DO NOTHING",
      hold_id, event_id);
  return true;
}

absl::StatusOr<CancelResult> CancelTx(pqxx::work& tx, const std::string& id) {
  pqxx::result event = tx.exec_params(
      "SELECT event_id FROM registration.registrations WHERE "
      "registration_id = $1",
      id);
  if (event.empty()) return RegistrationNotFoundError();
  LockEvent(tx, event[0][0].as<std::string>());
  absl::StatusOr<RegistrationRecord> rec = SelectRecord(tx, id, true);
  if (!rec.ok()) return rec.status();
  CancelResult out;
  out.previous = rec->status;
  if (!IsLive(rec->status)) {
    out.record = std::move(*rec);
    return out;
  }
  if (rec->status == RegistrationStatus::kWaitlisted) {
    tx.exec_params(
        "UPDATE registration.waitlist_counters SET waitlisted = waitlisted - 1 "
        "WHERE event_id = $1 AND ticket_type_id = $2",
        rec->event_id, rec->ticket_type_id);
  }
  tx.exec_params(
      "UPDATE registration.registrations SET status = 4, cancelled_at = now(), "
      "updated_at = now() WHERE registration_id = $1",
      id);
  absl::StatusOr<RegistrationRecord> after = SelectRecord(tx, id, false);
  if (!after.ok()) return after.status();
  out.record = std::move(*after);
  return out;
}

}  // namespace

namespace internal {

void LockEvent(pqxx::work& tx, const std::string& event_id) {
  registration::LockEvent(tx, event_id);
}

absl::StatusOr<RegistrationRecord> SelectRecord(pqxx::transaction_base& tx,
                                                const std::string& id,
                                                bool for_update) {
  return registration::SelectRecord(tx, id, for_update);
}

}  // namespace internal

PgRegistrationStore::PgRegistrationStore(pg::Pool* pool, pg::RetryPolicy retry)
    : pool_(pool), retry_(retry) {}

PgRegistrationStore::~PgRegistrationStore() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return lookups_.empty(); });
}

void PgRegistrationStore::Lookup(std::string event_id, std::string request_id,
                                 std::string email,
                                 StoreCallback<RegisterLookup> done) {
  std::vector<PendingLookup> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, idle] = lookups_.try_emplace(event_id);
    it->second.push_back(
        {std::move(request_id), std::move(email), std::move(done)});
    if (!idle) return;  // a read of the event is in flight: joins the next
    batch = TakeLookupsLocked(it->second);
  }
  DispatchLookups(event_id, std::move(batch));
}

std::vector<PgRegistrationStore::PendingLookup>
PgRegistrationStore::TakeLookupsLocked(std::deque<PendingLookup>& queue) {
  const size_t n = std::min(queue.size(), kMaxLookupBatch);
  std::vector<PendingLookup> batch;
  batch.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(std::move(queue.front()));
    queue.pop_front();
  }
  return batch;
}

void PgRegistrationStore::DispatchLookups(const std::string& event_id,
                                          std::vector<PendingLookup> batch) {
  std::vector<std::pair<std::string, std::string>> keys;
  keys.reserve(batch.size());
  for (const PendingLookup& p : batch) keys.emplace_back(p.request_id, p.email);
  pool_->Submit(
      ReadJob([event_id, keys = std::move(keys)](pqxx::nontransaction& tx) {
        return LookupBatchTx(tx, event_id, keys);
      }),
      [this, event_id, batch = std::move(batch)](
          absl::StatusOr<std::vector<RegisterLookup>> result) mutable {
        OnLookupsDone(event_id, std::move(batch), std::move(result));
      });
}

void PgRegistrationStore::OnLookupsDone(
    const std::string& event_id, std::vector<PendingLookup> batch,
    absl::StatusOr<std::vector<RegisterLookup>> result) {
  // The event's next read goes out before this one is answered; the event
  // stays in lookups_ (= a read in flight) until its queue is empty.
  std::vector<PendingLookup> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    next = TakeLookupsLocked(lookups_.at(event_id));
  }
  const bool dispatched = !next.empty();
  if (dispatched) DispatchLookups(event_id, std::move(next));
  if (result.ok() && result->size() != batch.size()) {
    result = absl::InternalError("lookup batch answered with a wrong count");
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i].done(result.ok()
                      ? absl::StatusOr<RegisterLookup>(std::move((*result)[i]))
                      : absl::StatusOr<RegisterLookup>(result.status()));
  }
  if (dispatched) return;  // that read's callback carries on
  // Lookups that arrived while we answered saw the event in flight and
  // queued: they are the next read. Otherwise the event is idle.
  std::unique_lock<std::mutex> lock(mu_);
  auto it = lookups_.find(event_id);
  if (!it->second.empty()) {
    next = TakeLookupsLocked(it->second);
    lock.unlock();
    DispatchLookups(event_id, std::move(next));
    return;
  }
  lookups_.erase(it);
  // Last touch of `this`: the destructor may proceed once the lock drops.
  idle_cv_.notify_all();
}

void PgRegistrationStore::InsertBatch(
    std::string event_id, std::vector<NewRegistration> registrations,
    StoreCallback<std::vector<absl::StatusOr<InsertResult>>> done) {
  pool_->Submit(
      pg::Transact(
          [event_id = std::move(event_id), commands = std::move(registrations)](
              pqxx::work& tx) { return InsertBatchTx(tx, event_id, commands); },
          retry_),
      std::move(done));
}

void PgRegistrationStore::AbandonHold(std::string event_id, std::string hold_id,
                                      StoreCallback<bool> done) {
  pool_->Submit(
      pg::Transact(
          [event_id = std::move(event_id), hold_id = std::move(hold_id)](
              pqxx::work& tx) { return AbandonHoldTx(tx, event_id, hold_id); },
          retry_),
      std::move(done));
}

void PgRegistrationStore::Get(std::string registration_id,
                              StoreCallback<RegistrationRecord> done) {
  pool_->Submit(
      ReadJob([id = std::move(registration_id)](pqxx::nontransaction& tx) {
        return SelectRecord(tx, id, false);
      }),
      std::move(done));
}

void PgRegistrationStore::Cancel(std::string registration_id,
                                 StoreCallback<CancelResult> done) {
  pool_->Submit(pg::Transact([id = std::move(registration_id)](
                                 pqxx::work& tx) { return CancelTx(tx, id); },
                             retry_),
                std::move(done));
}

void PgRegistrationStore::WaitlistCounts(
    std::string event_id, StoreCallback<std::map<std::string, int32_t>> done) {
  pool_->Submit(
      ReadJob([event_id = std::move(event_id)](pqxx::nontransaction& tx)
                  -> absl::StatusOr<std::map<std::string, int32_t>> {
        pqxx::result r = tx.exec_params(
            "SELECT ticket_type_id, waitlisted FROM "
            "registration.waitlist_counters WHERE event_id = $1",
            event_id);
        std::map<std::string, int32_t> out;
        for (const auto& row : r) {
          out[row[0].as<std::string>()] = row[1].as<int32_t>();
        }
        return out;
      }),
      std::move(done));
}

}  // namespace admit::registration
