#include "services/registration/counts_store.h"

#include <algorithm>
#include <future>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
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
    "sum(checked_in)::int AS ci, sum(changes)::bigint AS v "
    "FROM registration.registration_counts WHERE event_id = $1 "
    "GROUP BY dim, key) "
    "SELECT t.now_us, s.dim, s.key, s.p, s.c, s.w, s.x, s.e, s.ci, s.v, "
    "o.organization "
    "FROM (SELECT (extract(epoch FROM statement_timestamp()) * 1000000)"
    "::bigint AS now_us) t "
    "LEFT JOIN s ON true "
    "LEFT JOIN registration.registration_count_organizations o "
    "ON s.dim = 2 AND o.event_id = $1 AND o.organization_key = s.key";

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
  pqxx::read_transaction tx(conn);
  pqxx::result rows = tx.exec_params(kReadSql, event_id);
  tx.commit();
  CountsSnapshot out;
  for (const auto& row : rows) {
    out.as_of = absl::FromUnixMicros(row[0].as<int64_t>());
    if (row[1].is_null()) continue;
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

void CountsStore::Read(const std::string& event_id, Done done) {
  pool_->Submit(
      [event_id](pqxx::connection& conn) { return ReadOn(conn, event_id); },
      std::move(done));
}

absl::StatusOr<CountsSnapshot> CountsStore::ReadNow(
    const std::string& event_id) {
  return pool_->Run(
      [event_id](pqxx::connection& conn) { return ReadOn(conn, event_id); });
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
  const int32_t remaining =
      total ? total->remaining() : Room(capacity, counts.event);
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
      c->set_remaining(std::min(remaining, q->second->remaining()));
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
    SetStatus(tally == counts.by_organization.end() ? kNone : tally->second,
              o->mutable_counts());
    auto wide = org_wide.find(key);
    if (wide != org_wide.end()) {
      o->set_allotment_seats(wide->second->capacity());
      o->set_allotment_remaining(wide->second->remaining());
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
