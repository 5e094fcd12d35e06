#include "services/quota/pg_hold_store.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/status/status.h"
#include "pqxx/pqxx"
#include "services/quota/admission.h"
#include "services/quota/errors.h"

namespace admit::quota {
namespace internal {

std::string TextArrayLiteral(const std::vector<std::string>& values) {
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

std::string BigintArrayLiteral(const std::vector<int64_t>& values) {
  return absl::StrCat("{", absl::StrJoin(values, ","), "}");
}

std::vector<int64_t> ParseIdList(std::string_view text) {
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    int64_t value = 0;
    auto [ptr, ec] =
        std::from_chars(text.data() + pos, text.data() + comma, value);
    if (ec == std::errc()) out.push_back(value);
    pos = comma + 1;
  }
  return out;
}

}  // namespace internal

namespace {

using internal::BigintArrayLiteral;
using internal::ParseIdList;
using internal::TextArrayLiteral;

// Canonical lock and listing order of quota rows (see pg_hold_store.h); byte
// order whatever the database's collation, so it matches QuotaKey's.
constexpr char kQuotaOrder[] =
    "event_id COLLATE \"C\", kind, organization COLLATE \"C\", "
    "ticket_type_id COLLATE \"C\"";

// Columns of a hold as read by ReadHold; the table is aliased `h`.
constexpr char kHoldColumns[] =
    "h.hold_id, h.event_id, h.ticket_type_id, h.organization, h.state, "
    "h.quota_mask, "
    "(extract(epoch FROM h.created_at) * 1000000)::bigint, "
    "(extract(epoch FROM h.expires_at) * 1000000)::bigint, "
    "(extract(epoch FROM h.committed_at) * 1000000)::bigint, "
    "(extract(epoch FROM h.ended_at) * 1000000)::bigint, "
    "h.release_reason, array_to_string(h.quota_ids, ','), "
    "(h.state = 1 AND h.expires_at <= now())";

// Columns of a quota as read by ReadQuota; the table is aliased `q`.
constexpr char kQuotaColumns[] =
    "q.quota_id, q.event_id, q.kind, q.ticket_type_id, q.organization, "
    "q.capacity, q.held, q.sold";

std::optional<absl::Time> OptionalMicros(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return absl::FromUnixMicros(f.as<int64_t>());
}

// A hold row: the hold as callers see it, plus what writers need.
struct HoldRow {
  Hold hold;
  HoldState stored_state = HoldState::kHeld;
  std::vector<int64_t> quota_ids;
};

HoldRow ReadHold(const pqxx::row& r) {
  HoldRow row;
  Hold& h = row.hold;
  h.hold_id = r[0].as<std::string>();
  h.event_id = r[1].as<std::string>();
  h.ticket_type_id = r[2].as<std::string>();
  h.organization = r[3].as<std::string>();
  row.stored_state = static_cast<HoldState>(r[4].as<int>());
  h.quotas = KeysFromMask(r[5].as<int>(), h.ticket_type_id, h.organization);
  h.created_at = absl::FromUnixMicros(r[6].as<int64_t>());
  h.expires_at = OptionalMicros(r[7]);
  h.committed_at = OptionalMicros(r[8]);
  h.ended_at = OptionalMicros(r[9]);
  h.release_reason = static_cast<ReleaseReason>(r[10].as<int>());
  row.quota_ids = ParseIdList(r[11].c_str());
  const bool lapsed = !r[12].is_null() && r[12].as<bool>();
  h.state = row.stored_state;
  if (lapsed) {
    // Past expires_at: no longer committable; the sweeper frees the seats
    // within one interval. Reported as what it is about to become.
    h.state = HoldState::kExpired;
    h.ended_at = h.expires_at;
  }
  return row;
}

struct QuotaRow {
  int64_t quota_id = 0;
  std::string event_id;
  QuotaUsage usage;
};

QuotaRow ReadQuota(const pqxx::row& r) {
  QuotaRow q;
  q.quota_id = r[0].as<int64_t>();
  q.event_id = r[1].as<std::string>();
  q.usage.key.kind = static_cast<QuotaKind>(r[2].as<int>());
  q.usage.key.ticket_type_id = r[3].as<std::string>();
  q.usage.key.organization = r[4].as<std::string>();
  q.usage.capacity = r[5].as<int32_t>();
  q.usage.held = r[6].as<int32_t>();
  q.usage.sold = r[7].as<int32_t>();
  return q;
}

std::vector<TouchedQuota> Touched(const std::vector<QuotaRow>& rows) {
  std::vector<TouchedQuota> out;
  out.reserve(rows.size());
  for (const QuotaRow& q : rows) out.push_back({q.event_id, q.usage});
  return out;
}

std::optional<HoldRow> SelectHoldForUpdate(pqxx::work& tx,
                                           const std::string& hold_id) {
  pqxx::result r = tx.exec_params(
      absl::StrCat("SELECT ", kHoldColumns,
                   " FROM quota.holds h WHERE h.hold_id = $1 FOR UPDATE"),
      hold_id);
  if (r.empty()) return std::nullopt;
  return ReadHold(r[0]);
}

std::map<std::string, HoldRow> SelectHolds(
    pqxx::work& tx, const std::vector<std::string>& ids) {
  std::map<std::string, HoldRow> out;
  if (ids.empty()) return out;
  pqxx::result r = tx.exec_params(
      absl::StrCat("SELECT ", kHoldColumns,
                   " FROM quota.holds h WHERE h.hold_id = ANY($1::text[])"),
      TextArrayLiteral(ids));
  for (const auto& row : r) {
    HoldRow hold = ReadHold(row);
    std::string id = hold.hold.hold_id;
    out.emplace(std::move(id), std::move(hold));
  }
  return out;
}

// Locks the quota rows `quota_ids` (canonical order) and adds the deltas to
// each; rows removed since the hold was taken are skipped. Returns the rows
// after the change.
std::vector<QuotaRow> AdjustQuotas(pqxx::work& tx,
                                   const std::vector<int64_t>& quota_ids,
                                   int held_delta, int sold_delta) {
  std::vector<QuotaRow> out;
  if (quota_ids.empty()) return out;
  const std::string ids = BigintArrayLiteral(quota_ids);
  tx.exec_params(absl::StrCat("SELECT quota_id FROM quota.quotas WHERE "
                              "quota_id = ANY($1::bigint[]) ORDER BY ",
                              kQuotaOrder, " FOR UPDATE"),
                 ids);
  pqxx::result r = tx.exec_params(
      absl::StrCat("UPDATE quota.quotas q SET held = q.held + $2, "
                   "sold = q.sold + $3, updated_at = now() "
                   "WHERE q.quota_id = ANY($1::bigint[]) RETURNING ",
                   kQuotaColumns),
      ids, held_delta, sold_delta);
  for (const auto& row : r) out.push_back(ReadQuota(row));
  std::sort(out.begin(), out.end(), [](const QuotaRow& a, const QuotaRow& b) {
    return a.usage.key < b.usage.key;
  });
  return out;
}

// ---------------------------------------------------------------------------
// Reserve

absl::StatusOr<ReserveBatchResult> ReserveBatchTx(
    pqxx::work& tx, const std::string& event_id,
    const std::vector<ReserveCommand>& commands) {
  // 1. The EVENT row first, in a statement of its own: every transaction
  //    that changes this event's seats locks it first, so once we hold it
  //    the next statement's snapshot sees every quota committed before us
  //    (a quota created concurrently by SetQuotas included).
  pqxx::result event_row = tx.exec_params(
      absl::StrCat("SELECT ", kQuotaColumns,
                   " FROM quota.quotas q WHERE q.event_id = $1 AND q.kind = 1 "
                   "FOR UPDATE"),
      event_id);
  if (event_row.empty()) return EventNotFoundError(event_id);

  std::map<QuotaKey, QuotaRow> rows;
  {
    QuotaRow q = ReadQuota(event_row[0]);
    rows.emplace(q.usage.key, std::move(q));
  }

  // 2. The other quotas the batch may draw from, in canonical order.
  std::set<std::string> types;
  std::set<std::string> orgs;
  for (const ReserveCommand& c : commands) {
    types.insert(c.ticket_type_id);
    if (!c.organization.empty()) orgs.insert(c.organization);
  }
  pqxx::result other = tx.exec_params(
      absl::StrCat(
          "SELECT ", kQuotaColumns,
          " FROM quota.quotas q WHERE q.event_id = $1 AND "
          "((q.kind = 2 AND q.ticket_type_id = ANY($2::text[])) OR "
          "(q.kind = 3 AND q.organization = ANY($3::text[]))) ORDER BY ",
          kQuotaOrder, " FOR UPDATE"),
      event_id, TextArrayLiteral({types.begin(), types.end()}),
      TextArrayLiteral({orgs.begin(), orgs.end()}));
  for (const auto& r : other) {
    QuotaRow q = ReadQuota(r);
    rows.emplace(q.usage.key, std::move(q));
  }

  // 3. Holds that already exist under the batch's ids (idempotency).
  std::vector<std::string> ids;
  ids.reserve(commands.size());
  for (const ReserveCommand& c : commands) ids.push_back(c.hold_id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::map<std::string, HoldRow> existing = SelectHolds(tx, ids);

  const auto answer_existing =
      [](const ReserveCommand& c,
         const Hold& hold) -> absl::StatusOr<ReserveResult> {
    if (!c.SameRequestAs(hold)) return HoldIdReusedError(c.hold_id);
    ReserveResult result;
    result.outcome = ReserveOutcome::kReserved;
    result.hold = hold;
    result.existing = true;
    return result;
  };

  // 4. Decide, in arrival order.
  std::map<QuotaKey, QuotaUsage> usage;
  for (const auto& [key, q] : rows) usage.emplace(key, q.usage);
  std::vector<std::optional<absl::StatusOr<ReserveResult>>> results(
      commands.size());
  std::map<std::string, size_t> first_of;  // hold_id -> first command
  std::vector<size_t> duplicates;
  std::vector<size_t> fresh;  // commands to decide
  std::vector<AdmissionRequest> requests;
  for (size_t i = 0; i < commands.size(); ++i) {
    const ReserveCommand& c = commands[i];
    if (auto it = existing.find(c.hold_id); it != existing.end()) {
      results[i] = answer_existing(c, it->second.hold);
      continue;
    }
    if (!first_of.emplace(c.hold_id, i).second) {
      duplicates.push_back(i);
      continue;
    }
    fresh.push_back(i);
    requests.push_back(
        {ApplicableQuotas(usage, c.ticket_type_id, c.organization)});
  }
  std::map<QuotaKey, QuotaUsage> working = usage;
  std::vector<AdmissionDecision> decisions = DecideBatch(working, requests);

  // 5. Insert the admitted holds in one statement (sorted by id, so that two
  //    transactions inserting overlapping ids never wait on each other in
  //    opposite orders).
  std::vector<std::string> in_ids, in_types, in_orgs, in_quota_ids;
  std::vector<int64_t> in_masks, in_ttls;
  std::map<std::string, size_t> admitted;  // hold_id -> index in `fresh`
  for (size_t k = 0; k < fresh.size(); ++k) {
    const ReserveCommand& c = commands[fresh[k]];
    if (!decisions[k].admitted) {
      ReserveResult sold_out;
      sold_out.outcome = ReserveOutcome::kSoldOut;
      sold_out.full_quotas = decisions[k].full_quotas;
      results[fresh[k]] = std::move(sold_out);
      continue;
    }
    admitted.emplace(c.hold_id, k);
  }
  for (const auto& [hold_id, k] : admitted) {
    const ReserveCommand& c = commands[fresh[k]];
    int mask = 0;
    std::vector<int64_t> quota_ids;
    for (const QuotaKey& key : requests[k].quotas) {
      mask |= MaskBit(key, c.ticket_type_id, c.organization);
      quota_ids.push_back(rows.at(key).quota_id);
    }
    in_ids.push_back(c.hold_id);
    in_types.push_back(c.ticket_type_id);
    in_orgs.push_back(c.organization);
    in_quota_ids.push_back(absl::StrJoin(quota_ids, ","));
    in_masks.push_back(mask);
    in_ttls.push_back(absl::ToInt64Microseconds(*c.ttl));
  }
  std::map<int64_t, int> deltas;  // quota_id -> seats taken now
  if (!in_ids.empty()) {
    pqxx::result inserted = tx.exec_params(
        absl::StrCat(
            "INSERT INTO quota.holds AS h (hold_id, event_id, ticket_type_id, "
            "organization, state, quota_ids, quota_mask, created_at, "
            "expires_at) "
            "SELECT r.id, $1, r.type, r.org, 1, "
            "string_to_array(r.quotas, ',')::bigint[], r.mask, now(), "
            "now() + r.ttl_us * interval '1 microsecond' "
            "FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], "
            "$6::smallint[], $7::bigint[]) AS r(id, type, org, quotas, mask, "
            "ttl_us) ORDER BY r.id COLLATE \"C\" "
            "ON CONFLICT (hold_id) DO NOTHING RETURNING ",
            kHoldColumns),
        event_id, TextArrayLiteral(in_ids), TextArrayLiteral(in_types),
        TextArrayLiteral(in_orgs), TextArrayLiteral(in_quota_ids),
        BigintArrayLiteral(in_masks), BigintArrayLiteral(in_ttls));
    for (const auto& r : inserted) {
      HoldRow row = ReadHold(r);
      auto it = admitted.find(row.hold.hold_id);
      if (it == admitted.end()) continue;
      for (int64_t id : row.quota_ids) ++deltas[id];
      ReserveResult result;
      result.outcome = ReserveOutcome::kReserved;
      result.hold = std::move(row.hold);
      results[fresh[it->second]] = std::move(result);
      admitted.erase(it);
    }
    // Ids another transaction inserted between step 3 and the INSERT (a
    // Release burning the id, the same id reserved for another event): the
    // seat was not taken; answer from the stored hold.
    if (!admitted.empty()) {
      std::vector<std::string> lost;
      lost.reserve(admitted.size());
      for (const auto& [hold_id, k] : admitted) lost.push_back(hold_id);
      std::map<std::string, HoldRow> now_existing = SelectHolds(tx, lost);
      for (const auto& [hold_id, k] : admitted) {
        const ReserveCommand& c = commands[fresh[k]];
        auto it = now_existing.find(hold_id);
        if (it == now_existing.end()) {
          results[fresh[k]] = absl::AbortedError(
              "a concurrent reservation used this hold_id; retry");
        } else {
          results[fresh[k]] = answer_existing(c, it->second.hold);
        }
      }
    }
  }

  // 6. One update per touched quota row.
  if (!deltas.empty()) {
    std::vector<int64_t> d_ids, d_ns;
    for (const auto& [id, n] : deltas) {
      d_ids.push_back(id);
      d_ns.push_back(n);
    }
    tx.exec_params(
        "UPDATE quota.quotas q SET held = q.held + d.n, updated_at = now() "
        "FROM unnest($1::bigint[], $2::int[]) AS d(id, n) "
        "WHERE q.quota_id = d.id",
        BigintArrayLiteral(d_ids), BigintArrayLiteral(d_ns));
  }

  // 7. Repeats of an id within the batch get the first command's answer
  //    (the batch is for one event; the rest of the request must match).
  for (size_t i : duplicates) {
    const ReserveCommand& c = commands[i];
    const size_t j = first_of.at(c.hold_id);
    const ReserveCommand& first_command = commands[j];
    const absl::StatusOr<ReserveResult>& first = *results[j];
    if (c.ticket_type_id != first_command.ticket_type_id ||
        c.organization != first_command.organization) {
      results[i] = HoldIdReusedError(c.hold_id);
    } else if (first.ok() && first->outcome == ReserveOutcome::kReserved) {
      results[i] = answer_existing(c, first->hold);
    } else {
      results[i] = first;
    }
  }

  ReserveBatchResult out;
  out.results.reserve(commands.size());
  for (auto& r : results) out.results.push_back(std::move(*r));
  for (auto& [key, q] : rows) {
    for (const auto& [id, n] : deltas) {
      if (id == q.quota_id) q.usage.held += n;
    }
    out.touched.push_back({q.event_id, q.usage});
  }
  return out;
}

// ---------------------------------------------------------------------------
// Commit / Release

absl::StatusOr<HoldChange> CommitTx(pqxx::work& tx,
                                    const std::string& hold_id) {
  std::optional<HoldRow> row = SelectHoldForUpdate(tx, hold_id);
  if (!row.has_value()) return HoldNotFoundError(hold_id);
  switch (row->hold.state) {
    case HoldState::kCommitted:
      return HoldChange{row->hold, {}, false};
    case HoldState::kReleased:
      return HoldReleasedError(hold_id);
    case HoldState::kExpired:
      return HoldExpiredError(hold_id);
    case HoldState::kHeld:
      break;
  }
  std::vector<QuotaRow> quotas = AdjustQuotas(tx, row->quota_ids, -1, +1);
  pqxx::result r = tx.exec_params(
      absl::StrCat("UPDATE quota.holds h SET state = 2, committed_at = now() "
                   "WHERE h.hold_id = $1 RETURNING ",
                   kHoldColumns),
      hold_id);
  return HoldChange{ReadHold(r[0]).hold, Touched(quotas), false};
}

absl::StatusOr<HoldChange> ReleaseTx(pqxx::work& tx, const std::string& hold_id,
                                     ReleaseReason reason) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::optional<HoldRow> row = SelectHoldForUpdate(tx, hold_id);
    if (!row.has_value()) {
      // Burn the id so that a late Reserve with it takes no seat.
      pqxx::result r = tx.exec_params(
          absl::StrCat("INSERT INTO quota.holds AS h (hold_id, state, "
                       "created_at, ended_at, release_reason) "
                       "VALUES ($1, 3, now(), now(), $2) "
                       "ON CONFLICT (hold_id) DO NOTHING RETURNING ",
                       kHoldColumns),
          hold_id, static_cast<int>(reason));
      if (!r.empty()) return HoldChange{ReadHold(r[0]).hold, {}, false};
      continue;  // inserted concurrently and committed: read it again
    }
    const HoldState stored = row->stored_state;
    if (stored == HoldState::kReleased || stored == HoldState::kExpired) {
      return HoldChange{row->hold, {}, false};
    }
    if (row->hold.state == HoldState::kExpired) {  // HELD, lapsed
      std::vector<QuotaRow> quotas = AdjustQuotas(tx, row->quota_ids, -1, 0);
      pqxx::result r = tx.exec_params(
          absl::StrCat("UPDATE quota.holds h SET state = 4, "
                       "ended_at = h.expires_at WHERE h.hold_id = $1 "
                       "RETURNING ",
                       kHoldColumns),
          hold_id);
      return HoldChange{ReadHold(r[0]).hold, Touched(quotas), true};
    }
    std::vector<QuotaRow> quotas =
        stored == HoldState::kHeld ? AdjustQuotas(tx, row->quota_ids, -1, 0)
                                   : AdjustQuotas(tx, row->quota_ids, 0, -1);
    pqxx::result r = tx.exec_params(
        absl::StrCat("UPDATE quota.holds h SET state = 3, ended_at = now(), "
                     "release_reason = $2 WHERE h.hold_id = $1 RETURNING ",
                     kHoldColumns),
        hold_id, static_cast<int>(reason));
    return HoldChange{ReadHold(r[0]).hold, Touched(quotas), false};
  }
  return absl::AbortedError("hold changed concurrently; retry");
}

// ---------------------------------------------------------------------------
// Sweeper

absl::StatusOr<SweepResult> ExpireDueTx(pqxx::work& tx, int limit) {
  pqxx::result expired = tx.exec_params(
      "WITH due AS (SELECT hold_id FROM quota.holds "
      "  WHERE state = 1 AND expires_at <= now() "
      "  ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED) "
      "UPDATE quota.holds h SET state = 4, ended_at = h.expires_at "
      "FROM due WHERE h.hold_id = due.hold_id "
      "RETURNING array_to_string(h.quota_ids, ',')",
      limit);
  SweepResult result;
  result.expired = static_cast<int64_t>(expired.size());
  std::map<int64_t, int> freed;
  for (const auto& r : expired) {
    for (int64_t id : ParseIdList(r[0].c_str())) ++freed[id];
  }
  if (freed.empty()) return result;
  std::vector<int64_t> ids, ns;
  for (const auto& [id, n] : freed) {
    ids.push_back(id);
    ns.push_back(n);
  }
  tx.exec_params(absl::StrCat("SELECT quota_id FROM quota.quotas WHERE "
                              "quota_id = ANY($1::bigint[]) ORDER BY ",
                              kQuotaOrder, " FOR UPDATE"),
                 BigintArrayLiteral(ids));
  pqxx::result updated = tx.exec_params(
      absl::StrCat("UPDATE quota.quotas q SET held = q.held - d.n, "
                   "updated_at = now() "
                   "FROM unnest($1::bigint[], $2::int[]) AS d(id, n) "
                   "WHERE q.quota_id = d.id RETURNING ",
                   kQuotaColumns),
      BigintArrayLiteral(ids), BigintArrayLiteral(ns));
  for (const auto& r : updated) {
    QuotaRow q = ReadQuota(r);
    result.touched.push_back({q.event_id, q.usage});
  }
  return result;
}

// ---------------------------------------------------------------------------
// SetQuotas / GetUsage

absl::StatusOr<EventUsage> SelectUsage(pqxx::work& tx,
                                       const std::string& event_id) {
  pqxx::result r = tx.exec_params(
      absl::StrCat("SELECT ", kQuotaColumns,
                   ", (extract(epoch FROM now()) * 1000000)::bigint "
                   "FROM quota.quotas q WHERE q.event_id = $1 ORDER BY ",
                   kQuotaOrder),
      event_id);
  if (r.empty()) return EventNotFoundError(event_id);
  EventUsage usage;
  usage.event_id = event_id;
  usage.as_of = absl::FromUnixMicros(r[0][8].as<int64_t>());
  for (const auto& row : r) usage.quotas.push_back(ReadQuota(row).usage);
  return usage;
}

// The live holds of event $1 a quota with ticket type $2 and organization
// $3 (each '' when the key has none) applies to: every candidate key of a
// hold is matched this way (see CandidateKeys).
constexpr char kAdoptionMatch[] =
    "h.event_id = $1 AND h.state IN (1, 2) AND "
    "($2::text = '' OR h.ticket_type_id = $2::text) AND "
    "($3::text = '' OR h.organization = $3::text)";

absl::StatusOr<EventUsage> SetQuotasTx(pqxx::work& tx,
                                       const SetQuotasCommand& command) {
  const std::string& event_id = command.event_id;
  const std::string lock_event =
      "SELECT quota_id FROM quota.quotas WHERE event_id = $1 AND kind = 1 "
      "FOR UPDATE";
  if (tx.exec_params(lock_event, event_id).empty()) {
    auto event_limit = std::find_if(
        command.set.begin(), command.set.end(),
        [](const QuotaLimit& l) { return l.key.kind == QuotaKind::kEvent; });
    if (event_limit == command.set.end()) return EventQuotaRequiredError();
    tx.exec_params(
        "INSERT INTO quota.quotas (event_id, kind, capacity) VALUES ($1, 1, "
        "$2) "
        "ON CONFLICT (event_id, kind, organization, ticket_type_id) DO NOTHING",
        event_id, event_limit->capacity);
    tx.exec_params(lock_event, event_id);
  }
  // Every quota of the event, locked (canonical order).
  std::map<QuotaKey, QuotaRow> current;
  pqxx::result all = tx.exec_params(
      absl::StrCat("SELECT ", kQuotaColumns,
                   " FROM quota.quotas q WHERE q.event_id = $1 ORDER BY ",
                   kQuotaOrder, " FOR UPDATE"),
      event_id);
  for (const auto& r : all) {
    QuotaRow q = ReadQuota(r);
    current.emplace(q.usage.key, std::move(q));
  }

  // Check every change first: all or nothing.
  struct NewQuota {
    QuotaLimit limit;
    int32_t held = 0;
    int32_t sold = 0;
  };
  std::vector<NewQuota> created;
  std::vector<CapacityViolation> violations;
  for (const QuotaLimit& limit : command.set) {
    auto it = current.find(limit.key);
    NewQuota n{limit};
    if (it != current.end()) {
      n.held = it->second.usage.held;
      n.sold = it->second.usage.sold;
    } else {
      pqxx::result counts = tx.exec_params(
          absl::StrCat("SELECT count(*) FILTER (WHERE h.state = 1), "
                       "count(*) FILTER (WHERE h.state = 2) "
                       "FROM quota.holds h WHERE ",
                       kAdoptionMatch),
          event_id, limit.key.ticket_type_id, limit.key.organization);
      n.held = counts[0][0].as<int32_t>();
      n.sold = counts[0][1].as<int32_t>();
    }
    if (static_cast<int64_t>(n.held) + n.sold > limit.capacity) {
      violations.push_back({limit.key, limit.capacity, n.held, n.sold});
    }
    if (it == current.end()) created.push_back(std::move(n));
  }
  if (!violations.empty()) return CapacityBelowUsageError(violations);

  for (const QuotaLimit& limit : command.set) {
    auto it = current.find(limit.key);
    if (it == current.end()) continue;
    tx.exec_params(
        "UPDATE quota.quotas SET capacity = $2, updated_at = now() "
        "WHERE quota_id = $1",
        it->second.quota_id, limit.capacity);
  }
  for (const NewQuota& n : created) {
    pqxx::result r = tx.exec_params(
        "INSERT INTO quota.quotas (event_id, kind, ticket_type_id, "
        "organization, capacity, held, sold) VALUES ($1, $2, $3, $4, $5, $6, "
        "$7) RETURNING quota_id",
        event_id, static_cast<int>(n.limit.key.kind),
        n.limit.key.ticket_type_id, n.limit.key.organization, n.limit.capacity,
        n.held, n.sold);
    const int64_t quota_id = r[0][0].as<int64_t>();
    if (n.held + n.sold > 0) {
      // The bit of this key among each adopted hold's candidates.
      const int bit =
          n.limit.key.kind == QuotaKind::kTicketType ? kMaskTicketType
          : n.limit.key.ticket_type_id.empty()       ? kMaskOrganization
                                                     : kMaskOrganizationType;
      tx.exec_params(
          absl::StrCat("UPDATE quota.holds h SET "
                       "quota_ids = h.quota_ids || $4::bigint, "
                       "quota_mask = h.quota_mask | $5::smallint WHERE ",
                       kAdoptionMatch),
          event_id, n.limit.key.ticket_type_id, n.limit.key.organization,
          quota_id, bit);
    }
  }
  for (const QuotaKey& key : command.remove) {
    if (key.kind == QuotaKind::kEvent) continue;  // validation rejects it
    tx.exec_params(
        "DELETE FROM quota.quotas WHERE event_id = $1 AND kind = $2 AND "
        "ticket_type_id = $3 AND organization = $4",
        event_id, static_cast<int>(key.kind), key.ticket_type_id,
        key.organization);
  }
  return SelectUsage(tx, event_id);
}

}  // namespace

PgHoldStore::PgHoldStore(pg::Pool* pool, PgHoldStoreOptions options)
    : pool_(pool), options_(options) {}

void PgHoldStore::SetQuotas(SetQuotasCommand command,
                            StoreCallback<EventUsage> done) {
  pool_->Submit(
      pg::Transact([command = std::move(command)](
                       pqxx::work& tx) { return SetQuotasTx(tx, command); },
                   options_.retry),
      std::move(done));
}

void PgHoldStore::ReserveBatch(std::string event_id,
                               std::vector<ReserveCommand> commands,
                               StoreCallback<ReserveBatchResult> done) {
  pool_->Submit(pg::Transact(
                    [event_id = std::move(event_id),
                     commands = std::move(commands)](pqxx::work& tx) {
                      return ReserveBatchTx(tx, event_id, commands);
                    },
                    options_.retry),
                std::move(done));
}

void PgHoldStore::Commit(std::string hold_id, StoreCallback<HoldChange> done) {
  pool_->Submit(
      pg::Transact([hold_id = std::move(hold_id)](
                       pqxx::work& tx) { return CommitTx(tx, hold_id); },
                   options_.retry),
      std::move(done));
}

void PgHoldStore::Release(std::string hold_id, ReleaseReason reason,
                          StoreCallback<HoldChange> done) {
  pool_->Submit(pg::Transact(
                    [hold_id = std::move(hold_id), reason](pqxx::work& tx) {
                      return ReleaseTx(tx, hold_id, reason);
                    },
                    options_.retry),
                std::move(done));
}

void PgHoldStore::GetHold(std::string hold_id, StoreCallback<Hold> done) {
  pool_->Submit(
      pg::Transact(
          [hold_id =
               std::move(hold_id)](pqxx::work& tx) -> absl::StatusOr<Hold> {
            pqxx::result r = tx.exec_params(
                absl::StrCat("SELECT ", kHoldColumns,
                             " FROM quota.holds h WHERE h.hold_id = $1"),
                hold_id);
            if (r.empty()) return HoldNotFoundError(hold_id);
            return ReadHold(r[0]).hold;
          },
          options_.retry),
      std::move(done));
}

void PgHoldStore::GetUsage(std::string event_id,
                           StoreCallback<EventUsage> done) {
  pool_->Submit(
      pg::Transact([event_id = std::move(event_id)](
                       pqxx::work& tx) { return SelectUsage(tx, event_id); },
                   options_.retry),
      std::move(done));
}

void PgHoldStore::ExpireDue(int limit, StoreCallback<SweepResult> done) {
  pool_->Submit(
      pg::Transact([limit](pqxx::work& tx) { return ExpireDueTx(tx, limit); },
                   options_.retry),
      std::move(done));
}

}  // namespace admit::quota
