#include "loadtest/checks.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "pqxx/pqxx"

namespace admit::loadtest {
namespace {

constexpr int kPending = 1;
constexpr int kWaitlisted = 3;

void Add(std::vector<Violation>& out, std::string check, std::string detail) {
  out.push_back({std::move(check), std::move(detail)});
}

}  // namespace

std::vector<Violation> CheckAnswers(const std::vector<Attempt>& plan,
                                    const std::vector<Outcome>& outcomes,
                                    int32_t capacity) {
  std::vector<Violation> out;
  // email (as sent; the plan's emails are already normalized) -> ids told OK
  std::map<std::string, std::set<std::string>> ids_by_email;
  std::set<std::string> pending;
  std::map<std::string, std::map<int32_t, std::string>>
      positions;  // type -> pos -> id
  for (size_t i = 0; i < plan.size(); ++i) {
    const Attempt& a = plan[i];
    const Outcome& o = outcomes[i];
    if (o.code != grpc::StatusCode::OK) continue;
    if (a.kind == AttemptKind::kInvalid) {
      Add(out, "invalid_request_refused",
          absl::StrCat("attempt ", i, " answered OK"));
      continue;
    }
    if (o.status != kPending && o.status != kWaitlisted) {
      Add(out, "register_status",
          absl::StrCat("attempt ", i, " told status ", o.status));
    }
    if (a.kind == AttemptKind::kRetry) {
      const Outcome& first = outcomes[static_cast<size_t>(a.original)];
      if (first.code == grpc::StatusCode::OK &&
          (first.registration_id != o.registration_id ||
           first.status != o.status)) {
        Add(out, "retry_same_answer",
            absl::StrCat("attempt ", i, " (retry of ", a.original, ") told ",
                         o.registration_id, "/", o.status, ", original ",
                         first.registration_id, "/", first.status));
      }
    }
    ids_by_email[a.request.attendee().email()].insert(o.registration_id);
    if (o.status == kPending) pending.insert(o.registration_id);
    if (o.status == kWaitlisted) {
      auto [it, inserted] = positions[o.ticket_type_id].emplace(
          o.waitlist_position, o.registration_id);
      if (!inserted && it->second != o.registration_id) {
        Add(out, "waitlist_position_unique",
            absl::StrCat("position ", o.waitlist_position, " of type ",
                         o.ticket_type_id, " told to ", it->second, " and ",
                         o.registration_id));
      }
    }
  }
  for (const auto& [email, ids] : ids_by_email) {
    if (ids.size() > 1) {
      Add(out, "one_registration_per_email",
          absl::StrCat(ids.size(),
                       " registrations acknowledged for one email: ",
                       *ids.begin(), ", ..."));
    }
  }
  if (static_cast<int64_t>(pending.size()) > capacity) {
    Add(out, "pending_within_capacity",
        absl::StrCat(pending.size(), " PENDING acknowledged for capacity ",
                     capacity));
  }
  return out;
}

absl::Status CheckDatabase(const std::string& pg_url,
                           const std::string& event_id,
                           const std::vector<Outcome>& outcomes,
                           std::vector<Violation>& out, DatabaseFacts& facts) {
  try {
    pqxx::connection conn(pg_url);
    pqxx::read_transaction tx(conn);

    for (const auto& r :
         tx.exec("SELECT quota_id, event_id, capacity, held, sold FROM "
                 "quota.quotas "
                 "WHERE held + sold > capacity OR held < 0 OR sold < 0")) {
      Add(out, "held_plus_sold_within_capacity",
          absl::StrCat("quota ", r[0].as<int64_t>(), " of event ",
                       r[1].as<std::string>(), ": capacity ",
                       r[2].as<int64_t>(), ", held ", r[3].as<int64_t>(),
                       ", sold ", r[4].as<int64_t>()));
    }
    facts.quotas_checked =
        tx.exec("SELECT count(*) FROM quota.quotas")[0][0].as<int64_t>();

    for (const auto& r : tx.exec_params(
             "SELECT q.quota_id, q.held, q.sold, coalesce(h.held, 0), "
             "coalesce(h.sold, 0) FROM quota.quotas q LEFT JOIN ("
             "  SELECT qid, count(*) FILTER (WHERE state = 1) AS held,"
             "         count(*) FILTER (WHERE state = 2) AS sold"
             "  FROM quota.holds, unnest(quota_ids) AS qid"
             "  WHERE event_id = $1 AND state IN (1, 2) GROUP BY qid"
             ") h ON h.qid = q.quota_id WHERE q.event_id = $1 AND "
             "(q.held <> coalesce(h.held, 0) OR q.sold <> coalesce(h.sold, 0))",
             event_id)) {
      Add(out, "quota_counts_its_holds",
          absl::StrCat("quota ", r[0].as<int64_t>(), ": held/sold ",
                       r[1].as<int64_t>(), "/", r[2].as<int64_t>(),
                       ", holds say ", r[3].as<int64_t>(), "/",
                       r[4].as<int64_t>()));
    }

    for (const auto& r : tx.exec_params(
             "SELECT count(*) FROM registration.registrations WHERE event_id = "
             "$1 "
             "AND status IN (1, 2, 3) GROUP BY email HAVING count(*) > 1",
             event_id)) {
      Add(out, "one_live_registration_per_email",
          absl::StrCat(r[0].as<int64_t>(),
                       " live registrations share an email"));
    }

    // registration id -> (status, ticket type, waitlist rank among WAITLISTED)
    struct Row {
      int status;
      std::string type;
      int64_t rank;
    };
    std::map<std::string, Row> rows;
    for (const auto& r : tx.exec_params(
             "SELECT registration_id, status, ticket_type_id, CASE WHEN status "
             "= 3 "
             "THEN row_number() OVER (PARTITION BY ticket_type_id, status = 3 "
             "ORDER BY waitlist_seq) ELSE 0 END FROM "
             "registration.registrations "
             "WHERE event_id = $1",
             event_id)) {
      rows[r[0].as<std::string>()] = {r[1].as<int>(), r[2].as<std::string>(),
                                      r[3].as<int64_t>()};
      ++facts.rows_by_status[r[1].as<int>()];
    }
    for (size_t i = 0; i < outcomes.size(); ++i) {
      const Outcome& o = outcomes[i];
      if (o.code != grpc::StatusCode::OK) continue;
      auto it = rows.find(o.registration_id);
      if (it == rows.end()) {
        Add(out, "acknowledged_registration_stored",
            absl::StrCat("attempt ", i, ": ", o.registration_id,
                         " not stored"));
      } else if (it->second.status != o.status) {
        Add(out, "acknowledged_registration_stored",
            absl::StrCat("attempt ", i, ": ", o.registration_id,
                         " told status ", o.status, ", stored ",
                         it->second.status));
      } else if (o.status == kWaitlisted &&
                 it->second.rank != o.waitlist_position) {
        Add(out, "waitlist_position_is_rank",
            absl::StrCat("attempt ", i, ": ", o.registration_id,
                         " told position ", o.waitlist_position, ", rank ",
                         it->second.rank));
      }
    }

    for (const auto& r : tx.exec_params(
             "SELECT count(*) FROM registration.registrations r LEFT JOIN "
             "quota.holds h ON h.hold_id = r.hold_id WHERE r.event_id = $1 AND "
             "r.status = 1 AND h.state IS DISTINCT FROM 1",
             event_id)) {
      if (r[0].as<int64_t>() > 0) {
        Add(out, "pending_owns_a_held_seat",
            absl::StrCat(r[0].as<int64_t>(),
                         " PENDING registrations without a HELD hold"));
      }
    }

    for (const auto& r : tx.exec_params(
             "SELECT s.ticket_type_id, s.n, s.lo, s.hi, s.distinct_seqs, "
             "s.waitlisted, coalesce(c.last_seq, -1), coalesce(c.waitlisted, "
             "-1) "
             "FROM (SELECT ticket_type_id, count(*) AS n, min(waitlist_seq) AS "
             "lo,"
             "  max(waitlist_seq) AS hi, count(DISTINCT waitlist_seq) AS "
             "distinct_seqs,"
             "  count(*) FILTER (WHERE status = 3) AS waitlisted"
             "  FROM registration.registrations WHERE event_id = $1 AND"
             "  waitlist_seq IS NOT NULL GROUP BY ticket_type_id) s "
             "LEFT JOIN registration.waitlist_counters c ON c.event_id = $1 "
             "AND "
             "c.ticket_type_id = s.ticket_type_id",
             event_id)) {
      const auto n = r[1].as<int64_t>();
      if (r[2].as<int64_t>() != 1 || r[3].as<int64_t>() != n ||
          r[4].as<int64_t>() != n || r[6].as<int64_t>() != n ||
          r[7].as<int64_t>() != r[5].as<int64_t>()) {
        Add(out, "waitlist_without_gaps",
            absl::StrCat("type ", r[0].as<std::string>(), ": ", n,
                         " waitlist seqs, min ", r[2].as<int64_t>(), ", max ",
                         r[3].as<int64_t>(), ", distinct ", r[4].as<int64_t>(),
                         "; counter last_seq ", r[6].as<int64_t>(),
                         ", waitlisted ", r[7].as<int64_t>(), " vs rows ",
                         r[5].as<int64_t>()));
      }
    }

    facts.held_without_registration =
        tx.exec_params(
              // A set difference, not NOT EXISTS: for an event that is in no
              // statistics yet the planner expects one row per event and
              // chose a nested loop over all of the event's registrations
              // per hold (29 s after a 20,000-seat spike).
              "SELECT count(*) FROM (SELECT hold_id FROM quota.holds WHERE "
              "event_id = $1 AND state = 1 EXCEPT SELECT hold_id FROM "
              "registration.registrations WHERE event_id = $1 AND hold_id IS "
              "NOT NULL) AS d",
              event_id)[0][0]
            .as<int64_t>();
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("invariant queries: ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace admit::loadtest
