#include "services/registration/counts_store.h"

#include <algorithm>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/status/status.h"
#include "google/protobuf/util/message_differencer.h"
#include "pqxx/pqxx"
#include "services/registration/event_store.h"

namespace admit::registration {
namespace {

// One group's sums; `changes` only matters for dim 0 (the version).
constexpr const char* kReadSql =
    "WITH s AS (SELECT dim, key, sum(pending)::int AS p, "
    "sum(confirmed)::int AS c, sum(waitlisted)::int AS w, "
    "sum(cancelled)::int AS x, sum(expired)::int AS e, "
    "sum(checked_in)::int AS ci, sum(changes)::bigint AS v, "
    "count(*)::int AS n "
    "FROM registration.registration_counts WHERE event_id = $1 "
    "GROUP BY dim, key) "
    "SELECT t.now_us, s.dim, s.key, s.p, s.c, s.w, s.x, s.e, s.ci, s.v, "
    "o.organization, s.n "
    "FROM (SELECT (extract(epoch FROM statement_timestamp()) * 1000000)"
    "::bigint AS now_us) t "
    "LEFT JOIN s ON true "
    "LEFT JOIN registration.registration_count_organizations o "
    "ON s.dim = 2 AND o.event_id = $1 AND o.organization_key = s.key";

// One statement, so the rows removed and the sums added commit together;
// slot 0 rows are upserted in (dim, key) order like the triggers do.
constexpr const char* kCompactSql =
    "WITH moved AS (DELETE FROM registration.registration_counts "
    "WHERE event_id = $1 AND slot <> 0 RETURNING dim, key, pending, "
    "confirmed, waitlisted, cancelled, expired, checked_in, changes), "
    "folded AS (INSERT INTO registration.registration_counts AS c "
    "(event_id, dim, key, slot, pending, confirmed, waitlisted, cancelled, "
    "expired, checked_in, changes) "
    "SELECT $1, dim, key, 0, sum(pending), sum(confirmed), sum(waitlisted), "
    "sum(cancelled), sum(expired), sum(checked_in), sum(changes) "
    "FROM moved GROUP BY dim, key ORDER BY dim, key "
    "ON CONFLICT (event_id, dim, key, slot) DO UPDATE "
    "SET pending = c.pending + EXCLUDED.pending, "
    "confirmed = c.confirmed + EXCLUDED.confirmed, "
    "waitlisted = c.waitlisted + EXCLUDED.waitlisted, "
    "cancelled = c.cancelled + EXCLUDED.cancelled, "
    "expired = c.expired + EXCLUDED.expired, "
    "checked_in = c.checked_in + EXCLUDED.checked_in, "
    "changes = c.changes + EXCLUDED.changes RETURNING 1) "
    "SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM folded)";

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

void SetStatus(const StatusTally& t, v1::StatusCounts* out) {
  out->set_pending_confirmation(t.pending);
  out->set_confirmed(t.confirmed);
  out->set_waitlisted(t.waitlisted);
  out->set_cancelled(t.cancelled);
  out->set_expired(t.expired);
  out->set_checked_in(t.checked_in);
  out->set_total(t.pending + t.confirmed + t.waitlisted + t.cancelled +
                 t.expired);
}

int32_t Room(int32_t capacity, const StatusTally& t) {
  return std::max(0, capacity - t.pending - t.confirmed);
}

}  // namespace

absl::StatusOr<CountsSnapshot> CountsStore::ReadOn(
    pqxx::connection& conn, const std::string& event_id) {
  // One statement sees one snapshot by itself: no BEGIN/COMMIT round trips.
  pqxx::nontransaction tx(conn);
  pqxx::result rows = tx.exec_params(kReadSql, event_id);
  CountsSnapshot out;
  for (const auto& row : rows) {
    out.as_of = absl::FromUnixMicros(row[0].as<int64_t>());
    if (row[1].is_null()) continue;
    out.counter_rows += row[11].as<int64_t>();
    StatusTally t;
    t.pending = row[3].as<int32_t>();
    t.confirmed = row[4].as<int32_t>();
    t.waitlisted = row[5].as<int32_t>();
    t.cancelled = row[6].as<int32_t>();
    t.expired = row[7].as<int32_t>();
    t.checked_in = row[8].as<int32_t>();
    std::string key = row[2].as<std::string>();
    switch (static_cast<CountsDim>(row[1].as<int>())) {
      case CountsDim::kEvent:
        out.event = t;
        out.version = row[9].as<int64_t>();
        break;
      case CountsDim::kTicketType:
        out.by_ticket_type[key] = t;
        break;
      case CountsDim::kOrganization:
        if (!row[10].is_null()) {
          out.organization_names[key] = row[10].as<std::string>();
        }
        out.by_organization[std::move(key)] = t;
        break;
      case CountsDim::kCountry:
        out.by_country[std::move(key)] = t;
        break;
    }
  }
  return out;
}

absl::StatusOr<int64_t> CountsStore::CompactOn(pqxx::connection& conn,
                                               const std::string& event_id) {
  pqxx::work tx(conn);
  // A writer holding one of the rows is waited for briefly; after that the
  // compaction gives up (the next read asks again) rather than queue
  // registrations behind it.
  tx.exec0("SET LOCAL lock_timeout = '100ms'");
  pqxx::row r = tx.exec_params1(kCompactSql, event_id);
  tx.commit();
  return r[0].as<int64_t>();
}

struct CountsStore::CompactionState {
  std::mutex mu;
  std::set<std::string> running;               // queued or running
  std::map<std::string, absl::Time> last_run;  // by event
};

CountsStore::CountsStore(pg::Pool* pool)
    : pool_(pool), compaction_(std::make_shared<CompactionState>()) {}

CountsStore::~CountsStore() = default;

void CountsStore::MaybeCompact(const std::string& event_id,
                               const CountsSnapshot& snapshot) {
  const int64_t groups =
      1 + static_cast<int64_t>(snapshot.by_ticket_type.size() +
                               snapshot.by_organization.size() +
                               snapshot.by_country.size());
  if (snapshot.counter_rows < kCompactMinRows ||
      snapshot.counter_rows <= 2 * groups) {
    return;
  }
  const absl::Time now = absl::Now();
  {
    std::lock_guard<std::mutex> lock(compaction_->mu);
    if (compaction_->running.count(event_id) > 0) return;
    auto it = compaction_->last_run.find(event_id);
    if (it != compaction_->last_run.end() && now - it->second < kCompactEvery) {
      return;
    }
    compaction_->running.insert(event_id);
    compaction_->last_run[event_id] = now;
    // Forget events not compacted for a while (bounded memory).
    for (auto i = compaction_->last_run.begin();
         i != compaction_->last_run.end();) {
      i = now - i->second > absl::Minutes(10) ? compaction_->last_run.erase(i)
                                              : std::next(i);
    }
  }
  pool_->Submit(
      [event_id](pqxx::connection& conn) { return CompactOn(conn, event_id); },
      [event_id, state = compaction_](absl::StatusOr<int64_t> removed) {
        {
          std::lock_guard<std::mutex> lock(state->mu);
          state->running.erase(event_id);
        }
        if (!removed.ok()) {
          // Lock timeouts under load are expected; the next read retries.
          log::Debug(
              "counts compaction skipped",
              {{"event_id", event_id}, {"error", removed.status().ToString()}});
        }
      });
}

void CountsStore::Read(const std::string& event_id, Done done) {
  pool_->Submit(
      [event_id](pqxx::connection& conn) { return ReadOn(conn, event_id); },
      [this, event_id,
       done = std::move(done)](absl::StatusOr<CountsSnapshot> got) mutable {
        if (got.ok()) MaybeCompact(event_id, *got);
        done(std::move(got));
      });
}

absl::StatusOr<CountsSnapshot> CountsStore::ReadNow(
    const std::string& event_id) {
  absl::StatusOr<CountsSnapshot> got = pool_->Run(
      [event_id](pqxx::connection& conn) { return ReadOn(conn, event_id); });
  if (got.ok()) MaybeCompact(event_id, *got);
  return got;
}

absl::StatusOr<int64_t> CountsStore::CompactNow(const std::string& event_id) {
  return pool_->Run(
      [event_id](pqxx::connection& conn) { return CompactOn(conn, event_id); });
}

absl::StatusOr<std::map<std::string, int64_t>> CountsStore::Versions(
    const std::vector<std::string>& event_ids) {
  const std::string ids = TextArrayLiteral(event_ids);
  return pool_->Run([ids](pqxx::connection& conn)
                        -> absl::StatusOr<std::map<std::string, int64_t>> {
    pqxx::read_transaction tx(conn);
    pqxx::result rows = tx.exec_params(
        "SELECT event_id, sum(changes)::bigint "
        "FROM registration.registration_counts "
        "WHERE dim = 0 AND event_id = ANY($1::text[]) GROUP BY event_id",
        ids);
    tx.commit();
    std::map<std::string, int64_t> out;
    for (const auto& row : rows) {
      out[row[0].as<std::string>()] = row[1].as<int64_t>();
    }
    return out;
  });
}

v1::RegistrationCounts BuildRegistrationCounts(
    const v1::Event& event, const CountsSnapshot& counts,
    const v1::GetUsageResponse& usage) {
  const v1::QuotaUsage* total = nullptr;
  std::map<std::string, const v1::QuotaUsage*> types;
  // Organization key -> its event-wide allotment / per-type allotments.
  std::map<std::string, const v1::QuotaUsage*> org_wide;
  std::map<std::string, std::vector<const v1::QuotaUsage*>> org_types;
  for (const v1::QuotaUsage& q : usage.quotas()) {
    switch (q.key().kind()) {
      case v1::QUOTA_KIND_EVENT:
        total = &q;
        break;
      case v1::QUOTA_KIND_TICKET_TYPE:
        types[q.key().ticket_type_id()] = &q;
        break;
      case v1::QUOTA_KIND_ORGANIZATION:
        if (q.key().ticket_type_id().empty()) {
          org_wide[q.key().organization()] = &q;
        } else {
          org_types[q.key().organization()].push_back(&q);
        }
        break;
      default:
        break;
    }
  }

  v1::RegistrationCounts out;
  out.set_event_id(event.id());
  TimeToProto(counts.as_of, out.mutable_as_of());
  const int32_t capacity = total ? total->capacity() : event.capacity();
  const int32_t remaining = Room(capacity, counts.event);
  out.set_capacity(capacity);
  out.set_remaining(remaining);
  SetStatus(counts.event, out.mutable_total());

  static const StatusTally kNone;
  for (const v1::TicketType& t : event.ticket_types()) {
    v1::TicketTypeCounts* c = out.add_by_ticket_type();
    c->set_ticket_type_id(t.id());
    c->set_name(t.name());
    auto tally = counts.by_ticket_type.find(t.id());
    const StatusTally& tt =
        tally == counts.by_ticket_type.end() ? kNone : tally->second;
    SetStatus(tt, c->mutable_counts());
    auto q = types.find(t.id());
    if (q != types.end()) {
      c->set_capacity(q->second->capacity());
      c->set_remaining(std::min(remaining, Room(q->second->capacity(), tt)));
    } else if (total == nullptr && t.capacity() > 0) {
      c->set_capacity(t.capacity());
      c->set_remaining(std::min(remaining, Room(t.capacity(), tt)));
    } else {
      c->set_capacity(t.capacity() > 0 ? t.capacity() : capacity);
      c->set_remaining(remaining);
    }
  }

  std::set<std::string> org_keys;
  for (const auto& [key, tally] : counts.by_organization) org_keys.insert(key);
  for (const auto& [key, q] : org_wide) org_keys.insert(key);
  for (const auto& [key, qs] : org_types) org_keys.insert(key);
  for (const std::string& key : org_keys) {
    v1::OrganizationCounts* o = out.add_by_organization();
    auto name = counts.organization_names.find(key);
    o->set_organization(name == counts.organization_names.end() ? key
                                                                : name->second);
    auto tally = counts.by_organization.find(key);
    const StatusTally& ot =
        tally == counts.by_organization.end() ? kNone : tally->second;
    SetStatus(ot, o->mutable_counts());
    auto wide = org_wide.find(key);
    if (wide != org_wide.end()) {
      o->set_allotment_seats(wide->second->capacity());
      o->set_allotment_remaining(Room(wide->second->capacity(), ot));
    }
    auto per_type = org_types.find(key);
    if (per_type != org_types.end()) {
      for (const v1::QuotaUsage* q : per_type->second) {
        v1::Allotment* a = o->add_ticket_type_allotments();
        a->set_organization(o->organization());
        a->set_ticket_type_id(q->key().ticket_type_id());
        a->set_seats(q->capacity());
        a->set_held(q->held());
        a->set_sold(q->sold());
      }
    }
  }

  for (const auto& [code, tally] : counts.by_country) {
    v1::CountryCounts* c = out.add_by_country();
    c->set_country_code(code);
    SetStatus(tally, c->mutable_counts());
  }
  return out;
}

bool SameCounts(const v1::RegistrationCounts& a,
                const v1::RegistrationCounts& b) {
  google::protobuf::util::MessageDifferencer differ;
  differ.IgnoreField(
      v1::RegistrationCounts::descriptor()->FindFieldByName("as_of"));
  return differ.Compare(a, b);
}

}  // namespace admit::registration
