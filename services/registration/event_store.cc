#include "services/registration/event_store.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status/status.h"
#include "pqxx/pqxx"
#include "services/registration/pg_registration_store.h"

namespace admit::registration {
namespace {

using internal::IntArray;
using internal::TextArray;

int64_t Micros(const google::protobuf::Timestamp& t) {
  return absl::ToUnixMicros(TimeFromProto(t));
}

// A timestamptz from a bigint parameter of Unix microseconds, exactly.
std::string AtMicros(int param) {
  return absl::StrCat("('epoch'::timestamptz + $", param,
                      "::bigint * interval '1 microsecond')");
}

std::string EpochMicros(const char* column) {
  return absl::StrCat("(extract(epoch FROM ", column, ") * 1000000)::bigint");
}

// The event with its ticket types, one row per type (LEFT JOIN: an event has
// at least one, but a torn row must not hide the event). One statement, so
// one snapshot: never an event with another version's ticket types.
std::string SelectEventSql() {
  return absl::StrCat(
      "SELECT e.id, e.name, e.description, ", EpochMicros("e.starts_at"), ", ",
      EpochMicros("e.ends_at"), ", e.time_zone, ",
      EpochMicros("e.registration_opens_at"), ", ",
      EpochMicros("e.registration_closes_at"), ", e.hold_ttl_ms, e.capacity, ",
      EpochMicros("e.created_at"), ", ", EpochMicros("e.updated_at"),
      ", e.ready, encode(e.create_fingerprint, 'hex'), "
      "t.id, t.name, t.description, t.capacity "
      "FROM registration.events e "
      "LEFT JOIN registration.ticket_types t ON t.event_id = e.id "
      "WHERE e.id = $1 ORDER BY t.position");
}

struct StoredEvent {
  v1::Event event;
  bool ready = false;
  std::string fingerprint_hex;
};

std::optional<StoredEvent> ReadEvent(pqxx::transaction_base& tx,
                                     const std::string& event_id) {
  pqxx::result r = tx.exec_params(SelectEventSql(), event_id);
  if (r.empty()) return std::nullopt;
  StoredEvent out;
  v1::Event& e = out.event;
  const pqxx::row& first = r[0];
  e.set_id(first[0].as<std::string>());
  e.set_name(first[1].as<std::string>());
  e.set_description(first[2].as<std::string>());
  TimeToProto(absl::FromUnixMicros(first[3].as<int64_t>()),
              e.mutable_starts_at());
  TimeToProto(absl::FromUnixMicros(first[4].as<int64_t>()),
              e.mutable_ends_at());
  e.set_time_zone(first[5].as<std::string>());
  TimeToProto(absl::FromUnixMicros(first[6].as<int64_t>()),
              e.mutable_registration_opens_at());
  TimeToProto(absl::FromUnixMicros(first[7].as<int64_t>()),
              e.mutable_registration_closes_at());
  DurationToProto(absl::Milliseconds(first[8].as<int64_t>()),
                  e.mutable_hold_ttl());
  e.set_capacity(first[9].as<int32_t>());
  TimeToProto(absl::FromUnixMicros(first[10].as<int64_t>()),
              e.mutable_created_at());
  TimeToProto(absl::FromUnixMicros(first[11].as<int64_t>()),
              e.mutable_updated_at());
  out.ready = first[12].as<bool>();
  out.fingerprint_hex = first[13].as<std::string>();
  for (const pqxx::row& row : r) {
    if (row[14].is_null()) continue;
    v1::TicketType* t = e.add_ticket_types();
    t->set_id(row[14].as<std::string>());
    t->set_name(row[15].as<std::string>());
    t->set_description(row[16].as<std::string>());
    t->set_capacity(row[17].as<int32_t>());
  }
  return out;
}

absl::StatusOr<v1::Event> CreatePendingTx(pqxx::work& tx,
                                          const v1::Event& event,
                                          const std::string& fingerprint) {
  const std::string fingerprint_hex = absl::BytesToHexString(fingerprint);
  const int64_t hold_ttl_ms =
      absl::ToInt64Milliseconds(DurationFromProto(event.hold_ttl()));
  pqxx::result inserted = tx.exec_params(
      absl::StrCat(
          "INSERT INTO registration.events (id, name, description, "
          "starts_at, ends_at, time_zone, registration_opens_at, "
          "registration_closes_at, hold_ttl_ms, capacity, create_fingerprint) "
          "VALUES ($1, $2, $3, ",
          AtMicros(4), ", ", AtMicros(5), ", $6, ", AtMicros(7), ", ",
          AtMicros(8),
          ", $9, $10, decode($11, 'hex')) "
          "ON CONFLICT (id) DO NOTHING RETURNING id"),
      event.id(), event.name(), event.description(), Micros(event.starts_at()),
      Micros(event.ends_at()), event.time_zone(),
      Micros(event.registration_opens_at()),
      Micros(event.registration_closes_at()), hold_ttl_ms, event.capacity(),
      fingerprint_hex);

  if (inserted.empty()) {
    // Taken. ON CONFLICT waited for a concurrent insert of the id to commit,
    // so this statement's snapshot sees the row.
    std::optional<StoredEvent> existing = ReadEvent(tx, event.id());
    if (existing && !existing->ready &&
        existing->fingerprint_hex == fingerprint_hex) {
      return std::move(existing->event);
    }
    return EventAlreadyExistsError(event.id());
  }

  std::vector<std::string> ids, names, descriptions;
  std::vector<int64_t> positions, capacities;
  for (int i = 0; i < event.ticket_types_size(); ++i) {
    const v1::TicketType& t = event.ticket_types(i);
    ids.push_back(t.id());
    names.push_back(t.name());
    descriptions.push_back(t.description());
    positions.push_back(i);
    capacities.push_back(t.capacity());
  }
  tx.exec_params(
      "INSERT INTO registration.ticket_types "
      "(event_id, id, position, name, description, capacity) "
      "SELECT $1, t.id, t.position, t.name, t.description, t.capacity "
      "FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::int[]) "
      "AS t(id, position, name, description, capacity)",
      event.id(), TextArray(ids), IntArray(positions), TextArray(names),
      TextArray(descriptions), IntArray(capacities));

  std::optional<StoredEvent> stored = ReadEvent(tx, event.id());
  if (!stored) return absl::InternalError("inserted event not found");
  return std::move(stored->event);
}

}  // namespace

std::optional<v1::Event> ReadReadyEvent(pqxx::transaction_base& tx,
                                        const std::string& event_id) {
  std::optional<StoredEvent> stored = ReadEvent(tx, event_id);
  if (!stored || !stored->ready) return std::nullopt;
  return std::move(stored->event);
}

absl::Status EventNotFoundError(const std::string& event_id) {
  return WithErrorInfo(
      absl::NotFoundError(absl::StrCat("no event \"", event_id, "\"")),
      "EVENT_NOT_FOUND");
}

absl::Status EventAlreadyExistsError(const std::string& event_id) {
  return WithErrorInfo(absl::AlreadyExistsError(absl::StrCat(
                           "event \"", event_id, "\" already exists")),
                       "EVENT_ALREADY_EXISTS");
}

absl::Time TimeFromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void TimeToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t us = absl::ToUnixMicros(t);
  int64_t seconds = us / 1'000'000;
  int64_t micros = us % 1'000'000;
  if (micros < 0) {
    seconds -= 1;
    micros += 1'000'000;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(micros * 1000));
}

absl::Duration DurationFromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void DurationToProto(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  out->set_seconds(ns / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

void EventStore::CreatePending(v1::Event event, std::string fingerprint,
                               Callback<v1::Event> done) {
  pool_->Submit(
      pg::Transact([event = std::move(event),
                    fingerprint = std::move(fingerprint)](pqxx::work& tx) {
        return CreatePendingTx(tx, event, fingerprint);
      }),
      [done = std::move(done)](absl::StatusOr<v1::Event> result) mutable {
        std::move(done)(std::move(result));
      });
}

void EventStore::MarkReady(std::string event_id, Callback<v1::Event> done) {
  pool_->Submit(
      pg::Transact([event_id = std::move(event_id)](
                       pqxx::work& tx) -> absl::StatusOr<v1::Event> {
        pqxx::result r = tx.exec_params(
            "UPDATE registration.events SET ready = true WHERE id = $1 "
            "RETURNING id",
            event_id);
        if (r.empty()) return EventNotFoundError(event_id);
        std::optional<StoredEvent> stored = ReadEvent(tx, event_id);
        if (!stored) return EventNotFoundError(event_id);
        return std::move(stored->event);
      }),
      [done = std::move(done)](absl::StatusOr<v1::Event> result) mutable {
        std::move(done)(std::move(result));
      });
}

void EventStore::Get(std::string event_id, Callback<EventSnapshot> done) {
  pool_->Submit(
      [event_id = std::move(event_id)](
          pqxx::connection& conn) -> absl::StatusOr<EventSnapshot> {
        // One statement: no BEGIN/COMMIT round trips on the cache's misses.
        pqxx::nontransaction tx(conn);
        std::optional<StoredEvent> stored = ReadEvent(tx, event_id);
        if (!stored || !stored->ready) return EventNotFoundError(event_id);
        return std::make_shared<const v1::Event>(std::move(stored->event));
      },
      [done = std::move(done)](absl::StatusOr<EventSnapshot> result) mutable {
        std::move(done)(std::move(result));
      });
}

}  // namespace admit::registration
