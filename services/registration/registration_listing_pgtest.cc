// ListRegistrations and ExportRegistrations through a real gRPC channel
// against real Postgres (ADMIT_TEST_PG_URL): paging while registrations
// arrive, filters, page-token misuse, the CSV (quoting, formula prefixes,
// UTF-8, every column), a large export in bounded chunks, cancellation and
// API-key rules. Registrations are inserted with SQL the way the store does
// (the event's counter row locked first); each test has its own event.
#include "services/registration/registration_listing.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "common/server/server.h"
#include "common/status/status.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "services/registration/api_key.h"
#include "services/registration/api_key_store.h"
#include "services/registration/api_keys.h"
#include "services/registration/event_store.h"
#include "services/registration/events_testing.h"
#include "services/registration/organizer_service.h"
#include "services/registration/page_token.h"

namespace admit::registration {
namespace {

using namespace admit::registration::testing;  // NOLINT: test helpers

// A registration to insert.
struct Row {
  std::string id;
  std::string type = "delegate";
  std::string email;
  std::string name = "Ann Lee";
  std::string org;
  std::string country = "CH";
  int status = 2;
};

class ListingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string url = DatabaseUrl();
    ASSERT_FALSE(url.empty());
    pool_ = NewPool(url, 6);
    ASSERT_NE(pool_, nullptr);
    store_ = std::make_unique<EventStore>(pool_.get());
    const KeyParts boot = NewApiKey();
    admin_key_ = FormatApiKey(boot);
    std::string value = admin_key_;
    auto bootstrap = ParseBootstrapKey(value);
    ASSERT_TRUE(bootstrap.ok()) << bootstrap.status();
    keys_ = std::make_unique<ApiKeyAuthenticator>(
        [this] { return LoadActiveApiKeys(*pool_); }, std::move(*bootstrap));
    ASSERT_TRUE(keys_->Refresh().ok());
    ListingOptions options;
    options.export_batch_rows = 500;
    listing_ = std::make_unique<RegistrationListing>(
        pool_.get(), keys_.get(), DerivePageTokenKey("test key"), options);
    service_ = std::make_unique<OrganizerService>(store_.get(), keys_.get(),
                                                  nullptr, nullptr);
    service_->SetListing(listing_.get());
    server::ServerOptions server_options;
    server_options.grpc_listen = "127.0.0.1:0";
    server_options.metrics_listen = "127.0.0.1:0";
    server_options.drain_timeout = std::chrono::seconds(5);
    server_ = std::make_unique<server::Server>(server_options);
    server_->AddService(service_.get());
    ASSERT_TRUE(server_->Start().ok());
    stub_ = v1::OrganizerService::NewStub(grpc::CreateChannel(
        server_->grpc_target(), grpc::InsecureChannelCredentials()));
    event_ = RandomEventId("list");
    auto created = CreateReadyEvent(*store_, SampleEvent(event_));
    ASSERT_TRUE(created.ok()) << created.status();
  }

  void TearDown() override {
    stub_.reset();
    if (server_) server_->Shutdown();
    service_.reset();
    listing_.reset();
    keys_.reset();
    store_.reset();
    pool_.reset();
  }

  // Inserts `rows` in one transaction, locking the event's counter row
  // first as the store does.
  void Insert(const std::vector<Row>& rows, const std::string& event = "") {
    const std::string ev = event.empty() ? event_ : event;
    auto done = pool_->Run([&](pqxx::connection& conn) -> absl::Status {
      pqxx::work tx(conn);
      tx.exec_params(
          "INSERT INTO registration.event_counters (event_id) VALUES ($1) "
          "ON CONFLICT DO NOTHING",
          ev);
      tx.exec_params(
          "SELECT 1 FROM registration.event_counters WHERE event_id = $1 "
          "FOR UPDATE",
          ev);
      for (const Row& r : rows) {
        tx.exec_params(
            "INSERT INTO registration.registrations (registration_id, "
            "event_id, ticket_type_id, request_id, request_fingerprint, "
            "email, full_name, organization, organization_key, "
            "country_code, status, waitlist_seq, hold_id, hold_expires_at, "
            "manage_token_hash, confirmed_at, ticket_code) VALUES ($1, $2, "
            "$3, $1, 'fp', $4, $5, $6, lower($6), $7, $8::int, CASE WHEN "
            "$8::int = 3 "
            "THEN (SELECT count(*) + 1 FROM registration.registrations "
            "WHERE event_id = $2 AND waitlist_seq IS NOT NULL) END, CASE "
            "WHEN $8::int = 1 THEN 'hold-' || $1 END, CASE WHEN $8::int = 1 "
            "THEN now() "
            "+ interval '1 hour' END, '\\x00', CASE WHEN $8::int = 2 THEN "
            "now() END, CASE WHEN $8::int = 2 THEN 'T-' || $1 END)",
            r.id, ev, r.type, r.email, r.name, r.org, r.country, r.status);
      }
      tx.commit();
      return absl::OkStatus();
    });
    ASSERT_TRUE(done.ok()) << done;
  }

  // n plain rows "<prefix>-00000".."; emails <prefix>00000@example.org.
  std::vector<Row> Rows(const std::string& prefix, int n, int from = 0) {
    std::vector<Row> rows;
    for (int i = from; i < from + n; ++i) {
      Row r;
      r.id =
          absl::StrCat(prefix, "-", absl::Dec(i, absl::kZeroPad6), "-", event_);
      r.email =
          absl::StrCat(prefix, absl::Dec(i, absl::kZeroPad6), "@example.org");
      rows.push_back(r);
    }
    return rows;
  }

  absl::StatusOr<v1::ListRegistrationsResponse> List(
      v1::ListRegistrationsRequest request, const std::string& key = "") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    context.AddMetadata("authorization",
                        "Bearer " + (key.empty() ? admin_key_ : key));
    if (request.event_id().empty()) request.set_event_id(event_);
    v1::ListRegistrationsResponse response;
    grpc::Status status =
        stub_->ListRegistrations(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  // Every page from the first (page_size), ids in order.
  std::vector<std::string> ListAll(v1::ListRegistrationsRequest request,
                                   int page_size) {
    std::vector<std::string> ids;
    request.set_page_size(page_size);
    for (int pages = 0; pages < 10000; ++pages) {
      auto page = List(request);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      EXPECT_LE(page->registrations_size(), page_size);
      for (const auto& r : page->registrations()) ids.push_back(r.id());
      if (page->next_page_token().empty()) break;
      request.set_page_token(page->next_page_token());
    }
    return ids;
  }

  struct Chunk {
    int32_t rows = 0;
    size_t bytes = 0;
  };
  struct Export {
    grpc::Status status;
    std::string csv;
    std::vector<Chunk> chunks;
  };
  Export RunExport(v1::ExportRegistrationsRequest request,
                   const std::string& key = "") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
    context.AddMetadata("authorization",
                        "Bearer " + (key.empty() ? admin_key_ : key));
    if (request.event_id().empty()) request.set_event_id(event_);
    auto reader = stub_->ExportRegistrations(&context, request);
    Export out;
    v1::ExportChunk chunk;
    while (reader->Read(&chunk)) {
      out.csv += chunk.csv();
      out.chunks.push_back({chunk.rows(), chunk.csv().size()});
    }
    out.status = reader->Finish();
    return out;
  }

  std::string OrganizerKey(const std::string& event_id, bool read_only) {
    ApiKeySpec spec;
    spec.scope = KeyScope::kOrganizer;
    spec.event_ids = {event_id};
    spec.read_only = read_only;
    auto created = CreateApiKey(*pool_, spec);
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok()) return "";
    EXPECT_TRUE(keys_->Refresh().ok());
    return created->key;
  }

  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<ApiKeyAuthenticator> keys_;
  std::unique_ptr<RegistrationListing> listing_;
  std::unique_ptr<OrganizerService> service_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<v1::OrganizerService::Stub> stub_;
  std::string admin_key_;
  std::string event_;
};

// Splits CSV text into records of fields (RFC 4180, for the tests).
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      record.push_back(std::move(field));
      field.clear();
      records.push_back(std::move(record));
      record.clear();
      ++i;
    } else {
      field += c;
    }
  }
  EXPECT_TRUE(field.empty() && record.empty()) << "unterminated last record";
  return records;
}

TEST_F(ListingTest, PagesInOrderWithTotalAndDefaults) {
  Insert(Rows("a", 120));
  auto first = List({});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->registrations_size(), 50);  // page_size 0 = 50
  EXPECT_EQ(first->total_size(), 120);
  EXPECT_FALSE(first->next_page_token().empty());
  const auto& r = first->registrations(0);
  EXPECT_EQ(r.event_id(), event_);
  EXPECT_EQ(r.status(), v1::REGISTRATION_STATUS_CONFIRMED);
  EXPECT_EQ(r.attendee().full_name(), "Ann Lee");
  EXPECT_TRUE(r.has_created_at());
  EXPECT_TRUE(r.has_confirmed_at());
  EXPECT_EQ(r.ticket_code(), "T-" + r.id());
  // Times that did not happen are unset, not 1970-01-01.
  EXPECT_FALSE(r.has_cancelled_at());
  EXPECT_FALSE(r.has_expired_at());
  EXPECT_FALSE(r.has_erased_at());

  std::vector<std::string> ids = ListAll({}, 7);
  ASSERT_EQ(ids.size(), 120u);
  std::vector<std::string> expected;
  for (const Row& row : Rows("a", 120)) expected.push_back(row.id);
  // Inserted in id order, one statement after the other.
  EXPECT_EQ(ids, expected);

  v1::ListRegistrationsRequest big;
  big.set_page_size(5000);  // treated as 1000
  auto all = List(big);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->registrations_size(), 120);
  EXPECT_TRUE(all->next_page_token().empty());
}

TEST_F(ListingTest, NoRowMissingOrRepeatedWhileRegistrationsArrive) {
  Insert(Rows("base", 300));
  std::atomic<bool> stop{false};
  std::atomic<int> added{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop.load() && i < 400; ++i) {
        // The transaction starts (now()), waits a little, then takes the
        // lock and inserts: the case a now()-based order would get wrong.
        auto done = pool_->Run([&](pqxx::connection& conn) -> absl::Status {
          pqxx::work tx(conn);
          tx.exec("SELECT now()");
          tx.exec(absl::StrCat("SELECT pg_sleep(", (i % 3) * 0.002, ")"));
          tx.exec_params(
              "SELECT 1 FROM registration.event_counters WHERE event_id = "
              "$1 FOR UPDATE",
              event_);
          for (int k = 0; k < 3; ++k) {
            const std::string id =
                absl::StrCat("new", w, "-", i, "-", k, "-", event_);
            tx.exec_params(
                "INSERT INTO registration.registrations (registration_id, "
                "event_id, ticket_type_id, request_id, request_fingerprint, "
                "email, full_name, country_code, status, manage_token_hash) "
                "VALUES ($1, $2, 'delegate', $1, 'fp', $1 || '@x.org', 'N', "
                "'CH', 2, '\\x00')",
                id, event_);
          }
          tx.commit();
          return absl::OkStatus();
        });
        if (!done.ok()) return;
        added += 3;
      }
    });
  }
  // Page while the writers add rows. A page without next_page_token is
  // the end for now: the client asks again with the last token it had, which
  // returns that last page's rows again (the only repeats allowed, checked
  // to be exactly those) and then whatever was added after them.
  std::set<std::string> seen;
  v1::ListRegistrationsRequest request;
  request.set_page_size(10);
  std::vector<std::string> tail;  // the rows of a page without a token
  int pages = 0;
  auto read_page = [&]() -> bool {  // false at the end
    // Room for the repeated tail and new rows.
    request.set_page_size(static_cast<int>(10 + tail.size()));
    auto page = List(request);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return false;
    ++pages;
    size_t i = 0;
    for (; i < tail.size(); ++i) {
      EXPECT_LT(i, static_cast<size_t>(page->registrations_size()));
      if (i >= static_cast<size_t>(page->registrations_size())) break;
      EXPECT_EQ(page->registrations(i).id(), tail[i]);
    }
    tail.clear();
    for (; i < static_cast<size_t>(page->registrations_size()); ++i) {
      const std::string& id = page->registrations(i).id();
      EXPECT_TRUE(seen.insert(id).second) << "repeated: " << id;
    }
    if (page->next_page_token().empty()) {
      for (const auto& r : page->registrations()) tail.push_back(r.id());
      return false;
    }
    request.set_page_token(page->next_page_token());
    return true;
  };
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline &&
         (pages < 40 || added.load() < 60)) {
    read_page();
  }
  stop = true;
  for (auto& t : writers) t.join();
  // Read to the end after the writers stopped: every row committed is then
  // on some page exactly once.
  while (read_page()) {
  }
  auto total = List({});
  ASSERT_TRUE(total.ok());
  EXPECT_EQ(static_cast<int>(seen.size()), total->total_size());
  EXPECT_EQ(static_cast<int>(seen.size()), 300 + added.load());
}

TEST_F(ListingTest, Filters) {
  std::vector<Row> rows;
  auto add = [&](const std::string& id, const std::string& type,
                 const std::string& email, const std::string& org, int status) {
    Row r;
    r.id = id + "-" + event_;
    r.type = type;
    r.email = email;
    r.org = org;
    r.status = status;
    rows.push_back(r);
  };
  // r1's email sorts after r2's and r5's: a prefix lists in created order.
  add("r1", "delegate", "Anny.Lee@example.org", "ITU Geneva", 2);
  add("r2", "observer", "ann.smith@example.org", "itu geneva", 3);
  add("r3", "delegate", "bob@example.org", "WHO", 1);
  add("r4", "observer", "an_x@example.org", "", 4);
  add("r5", "delegate", "ANNA%@example.org", "WHO", 2);
  Insert(rows);
  auto ids = [&](v1::ListRegistrationsRequest request) {
    std::vector<std::string> out;
    for (const std::string& id : ListAll(request, 2)) {
      out.push_back(id.substr(0, 2));
    }
    return out;
  };
  using ::testing::ElementsAre;
  v1::ListRegistrationsRequest q;
  q.set_status(v1::REGISTRATION_STATUS_CONFIRMED);
  EXPECT_THAT(ids(q), ElementsAre("r1", "r5"));
  q = {};
  q.set_ticket_type_id("observer");
  EXPECT_THAT(ids(q), ElementsAre("r2", "r4"));
  q = {};
  q.set_organization("  Itu   GENEVA ");
  EXPECT_THAT(ids(q), ElementsAre("r1", "r2"));
  q = {};
  q.set_email_prefix("ANN");  // ASCII case ignored
  EXPECT_THAT(ids(q), ElementsAre("r1", "r2", "r5"));
  q = {};
  q.set_email_prefix("an_");  // '_' is not a wildcard
  EXPECT_THAT(ids(q), ElementsAre("r4"));
  q = {};
  q.set_email_prefix("anna%");  // nor '%'
  EXPECT_THAT(ids(q), ElementsAre("r5"));
  q = {};
  q.set_email_prefix("ann");
  q.set_ticket_type_id("delegate");
  q.set_status(v1::REGISTRATION_STATUS_CONFIRMED);
  EXPECT_THAT(ids(q), ElementsAre("r1", "r5"));
  auto counted = List(q);
  ASSERT_TRUE(counted.ok());
  EXPECT_EQ(counted->total_size(), 2);
  q = {};
  q.set_status(v1::REGISTRATION_STATUS_WAITLISTED);
  auto waitlisted = List(q);
  ASSERT_TRUE(waitlisted.ok());
  ASSERT_EQ(waitlisted->registrations_size(), 1);
  EXPECT_EQ(waitlisted->registrations(0).waitlist_position(), 1);
}

// Waitlist positions are per ticket type, counted over the whole event
// whatever the page: rows of other types, other statuses and other pages
// between them do not change them; a registration leaving the waitlist
// moves the ones behind it up.
TEST_F(ListingTest, WaitlistPositionsAcrossPagesAndTypes) {
  std::vector<Row> rows;
  for (int i = 0; i < 14; ++i) {
    Row r;
    r.id = absl::StrCat("w", absl::Dec(i, absl::kZeroPad2), "-", event_);
    r.email = absl::StrCat("w", i, "@example.org");
    r.type = i % 3 == 0 ? "observer" : "delegate";
    r.status = i % 5 == 4 ? 2 : 3;  // every fifth confirmed
    rows.push_back(r);
  }
  Insert(rows);
  // Expected: the rank of each waitlisted row among its type's, in order.
  auto expected = [&](const std::set<std::string>& left) {
    std::map<std::string, int> position;
    std::map<std::string, int> seen;
    for (const Row& r : rows) {
      if (r.status != 3 || left.count(r.id) > 0) continue;
      position[r.id] = ++seen[r.type];
    }
    return position;
  };
  auto listed = [&](v1::ListRegistrationsRequest request, int page_size) {
    std::map<std::string, int> position;
    request.set_page_size(page_size);
    for (int pages = 0; pages < 100; ++pages) {
      auto page = List(request);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      for (const auto& r : page->registrations()) {
        if (r.status() == v1::REGISTRATION_STATUS_WAITLISTED) {
          position[r.id()] = r.waitlist_position();
        } else {
          EXPECT_EQ(r.waitlist_position(), 0) << r.id();
        }
      }
      if (page->next_page_token().empty()) break;
      request.set_page_token(page->next_page_token());
    }
    return position;
  };
  EXPECT_EQ(listed({}, 3), expected({}));
  v1::ListRegistrationsRequest waitlisted;
  waitlisted.set_status(v1::REGISTRATION_STATUS_WAITLISTED);
  EXPECT_EQ(listed(waitlisted, 2), expected({}));
  v1::ListRegistrationsRequest delegates;
  delegates.set_ticket_type_id("delegate");
  std::map<std::string, int> delegates_expected;
  for (const auto& [id, position] : expected({})) {
    for (const Row& r : rows) {
      if (r.id == id && r.type == "delegate") {
        delegates_expected[id] = position;
      }
    }
  }
  EXPECT_EQ(listed(delegates, 4), delegates_expected);

  // The first waitlisted delegate and a middle observer leave the waitlist.
  const std::string first = rows[1].id, middle = rows[6].id;
  auto done = pool_->Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    tx.exec_params(
        "UPDATE registration.registrations SET status = 4, cancelled_at = "
        "now() WHERE registration_id = ANY(ARRAY[$1, $2])",
        first, middle);
    tx.commit();
    return absl::OkStatus();
  });
  ASSERT_TRUE(done.ok()) << done;
  EXPECT_EQ(listed({}, 3), expected({first, middle}));
  EXPECT_EQ(listed(waitlisted, 2), expected({first, middle}));
}

TEST_F(ListingTest, InvalidRequestsAndTokenMisuse) {
  Insert(Rows("m", 30));
  v1::ListRegistrationsRequest request;
  request.set_page_size(10);
  auto first = List(request);
  ASSERT_TRUE(first.ok());
  const std::string token = first->next_page_token();
  ASSERT_FALSE(token.empty());

  auto field_of = [](const absl::Status& s) {
    auto v = GetFieldViolations(s);
    return v.empty() ? std::string() : v[0].field;
  };
  // The same token with other filters.
  v1::ListRegistrationsRequest other = request;
  other.set_page_token(token);
  other.set_status(v1::REGISTRATION_STATUS_CONFIRMED);
  auto r = List(other);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(field_of(r.status()), "page_token");
  // ... or another event (the second event exists and is readable).
  const std::string event2 = RandomEventId("list");
  ASSERT_TRUE(CreateReadyEvent(*store_, SampleEvent(event2)).ok());
  other = request;
  other.set_page_token(token);
  other.set_event_id(event2);
  r = List(other);
  EXPECT_EQ(field_of(r.status()), "page_token");
  // A page_size change keeps the token valid.
  other = request;
  other.set_page_token(token);
  other.set_page_size(20);
  r = List(other);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->registrations_size(), 20);
  // Altered tokens (each byte changed) and garbage.
  std::string bytes;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &bytes));
  for (size_t i = 0; i < bytes.size(); i += 3) {
    std::string altered = bytes;
    altered[i] ^= 0x01;
    other = request;
    other.set_page_token(absl::WebSafeBase64Escape(altered));
    r = List(other);
    EXPECT_EQ(field_of(r.status()), "page_token") << "byte " << i;
  }
  for (const std::string& bad :
       std::vector<std::string>{"x", "!!!!", std::string(300, 'A')}) {
    other = request;
    other.set_page_token(bad);
    r = List(other);
    EXPECT_EQ(field_of(r.status()), "page_token") << bad;
  }
  // A token of another key (another server secret) is refused.
  PageTokenCodec foreign(DerivePageTokenKey("another key"));
  other = request;
  other.set_page_token(
      foreign.Encode({0, "m"}, FilterBinding(event_, 0, "", "", "")));
  EXPECT_EQ(field_of(List(other).status()), "page_token");

  other = request;
  other.set_page_size(-1);
  EXPECT_EQ(field_of(List(other).status()), "page_size");
  other = request;
  other.set_email_prefix(std::string(255, 'a'));
  EXPECT_EQ(field_of(List(other).status()), "email_prefix");
  other = request;
  other.set_organization("bad\x01");
  EXPECT_EQ(field_of(List(other).status()), "organization");
  other = request;
  other.set_ticket_type_id("Not A Slug");
  EXPECT_EQ(field_of(List(other).status()), "ticket_type_id");
  other = request;
  other.set_status(static_cast<v1::RegistrationStatus>(42));
  EXPECT_EQ(field_of(List(other).status()), "status");
  other = request;
  other.set_event_id("Bad Id");
  EXPECT_EQ(field_of(List(other).status()), "event_id");
  other = request;
  other.set_event_id(RandomEventId("missing"));
  r = List(other);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(r.status()), "EVENT_NOT_FOUND");

  v1::ExportRegistrationsRequest ex;
  ex.set_event_id(RandomEventId("missing"));
  EXPECT_EQ(RunExport(ex).status.error_code(), grpc::StatusCode::NOT_FOUND);
  ex.set_event_id(event_);
  ex.set_email_prefix(std::string(255, 'a'));
  EXPECT_EQ(RunExport(ex).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ListingTest, Authorization) {
  Insert(Rows("k", 3));
  const std::string read_only = OrganizerKey(event_, /*read_only=*/true);
  const std::string event2 = RandomEventId("list");
  ASSERT_TRUE(CreateReadyEvent(*store_, SampleEvent(event2)).ok());
  const std::string other = OrganizerKey(event2, /*read_only=*/false);

  auto listed = List({}, read_only);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->registrations_size(), 3);
  Export ok = RunExport({}, read_only);
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ParseCsv(ok.csv).size(), 4u);

  EXPECT_EQ(List({}, other).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(RunExport({}, other).status.error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Another event's key gets PERMISSION_DENIED for a missing event too.
  v1::ListRegistrationsRequest missing;
  missing.set_event_id(RandomEventId("missing"));
  EXPECT_EQ(List(missing, other).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(List({}, "admit_bogus_key").status().code(),
            absl::StatusCode::kUnauthenticated);
  v1::ExportRegistrationsRequest ex;
  EXPECT_EQ(RunExport(ex, "admit_bogus_key").status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ListingTest, ExportQuotingFormulasUtf8AndEveryColumn) {
  std::vector<Row> rows;
  auto add = [&](const std::string& id, const std::string& name,
                 const std::string& org, int status, std::string email = "") {
    Row r;
    r.id = id + "-" + event_;
    r.name = name;
    r.org = org;
    r.status = status;
    r.email = email.empty() ? id + "@example.org" : email;
    rows.push_back(r);
  };
  add("c1", "Lee, Ann", "Org \"Quoted\"", 2);
  add("c2", "=HYPERLINK(\"http://x\")", "+41 22", 1);
  add("c3", "Zo\xC3\xAB \xE6\x9D\x8E \xF0\x9F\x98\x80", "@home", 3);
  add("c4", "line\r\nbreak", "-minus", 4, "-x@example.org");
  Insert(rows);
  v1::ExportRegistrationsRequest request;
  request.set_utf8_bom(true);
  Export out = RunExport(request);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  ASSERT_EQ(out.csv.substr(0, 3), "\xEF\xBB\xBF");
  const std::string body = out.csv.substr(3);
  EXPECT_NE(body.find("\"Lee, Ann\""), std::string::npos);
  EXPECT_NE(body.find("\"Org \"\"Quoted\"\"\""), std::string::npos);
  EXPECT_NE(body.find("\"'=HYPERLINK(\"\"http://x\"\")\""), std::string::npos);
  EXPECT_NE(body.find(",'+41 22,"), std::string::npos);
  EXPECT_NE(body.find(",'@home,"), std::string::npos);
  EXPECT_NE(body.find("\"line\r\nbreak\""), std::string::npos);
  // Every line ends with CRLF; no bare LF outside quotes.
  EXPECT_EQ(body.substr(body.size() - 2), "\r\n");

  auto records = ParseCsv(body);
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(absl::StrJoin(records[0], ","),
            "registration_id,ticket_type_id,status,email,full_name,"
            "organization,country_code,waitlist_position,created_at,"
            "confirmed_at,cancelled_at,expired_at,checked_in_at,ticket_code");
  std::map<std::string, std::vector<std::string>> by_id;
  for (size_t i = 1; i < records.size(); ++i) {
    ASSERT_EQ(records[i].size(), 14u);
    by_id[records[i][0].substr(0, 2)] = records[i];
  }
  const auto& c1 = by_id["c1"];
  EXPECT_EQ(c1[1], "delegate");
  EXPECT_EQ(c1[2], "CONFIRMED");
  EXPECT_EQ(c1[3], "c1@example.org");
  EXPECT_EQ(c1[4], "Lee, Ann");
  EXPECT_EQ(c1[5], "Org \"Quoted\"");
  EXPECT_EQ(c1[6], "CH");
  EXPECT_EQ(c1[7], "");
  EXPECT_THAT(c1[8],
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z"));
  EXPECT_THAT(c1[9], ::testing::EndsWith("Z"));
  EXPECT_EQ(c1[10], "");
  EXPECT_EQ(c1[11], "");
  EXPECT_EQ(c1[12], "");
  EXPECT_EQ(c1[13], "T-" + c1[0]);
  EXPECT_EQ(by_id["c2"][2], "PENDING_CONFIRMATION");
  EXPECT_EQ(by_id["c2"][4], "'=HYPERLINK(\"http://x\")");
  EXPECT_EQ(by_id["c2"][13], "");  // a ticket code only while CONFIRMED
  EXPECT_EQ(by_id["c3"][2], "WAITLISTED");
  EXPECT_EQ(by_id["c3"][4], "Zo\xC3\xAB \xE6\x9D\x8E \xF0\x9F\x98\x80");
  EXPECT_EQ(by_id["c3"][7], "1");
  EXPECT_EQ(by_id["c4"][2], "CANCELLED");
  EXPECT_EQ(by_id["c4"][3], "'-x@example.org");
  EXPECT_EQ(by_id["c4"][5], "'-minus");

  // checked_in_at comes from the registration's column.
  ASSERT_TRUE(pool_
                  ->Run([&](pqxx::connection& conn) -> absl::Status {
                    pqxx::work tx(conn);
                    tx.exec_params(
                        "UPDATE registration.registrations SET "
                        "checked_in_at = '2026-05-01T09:30:00Z' WHERE "
                        "registration_id = $1",
                        "c1-" + event_);
                    tx.commit();
                    return absl::OkStatus();
                  })
                  .ok());
  Export again = RunExport({});
  ASSERT_TRUE(again.status.ok());
  for (const auto& rec : ParseCsv(again.csv)) {
    if (rec[0] == "c1-" + event_) {
      EXPECT_EQ(rec[12], "2026-05-01T09:30:00Z");
    }
  }
  v1::ListRegistrationsRequest one;
  one.set_email_prefix("c1@");
  auto listed = List(one);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->registrations_size(), 1);
  EXPECT_EQ(listed->registrations(0).checked_in_at().seconds(),
            absl::ToUnixSeconds(absl::FromCivil(
                absl::CivilSecond(2026, 5, 1, 9, 30, 0), absl::UTCTimeZone())));
}

TEST_F(ListingTest, LargeExportInBoundedChunksEveryRowOnce) {
  constexpr int kRows = 50000;
  ASSERT_TRUE(pool_
                  ->Run([&](pqxx::connection& conn) -> absl::Status {
                    pqxx::work tx(conn);
                    tx.exec_params(
                        "INSERT INTO registration.registrations "
                        "(registration_id, event_id, ticket_type_id, "
                        "request_id, request_fingerprint, email, full_name, "
                        "country_code, status, manage_token_hash) SELECT "
                        "'big-' || g || '-' || $1, $1, 'delegate', 'q' || g, "
                        "'fp', 'user' || g || '@example.org', "
                        "'Name, ' || g, 'CH', 2, '\\x00' FROM "
                        "generate_series(1, $2) g",
                        event_, kRows);
                    tx.commit();
                    return absl::OkStatus();
                  })
                  .ok());
  Export out = RunExport({});
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  // Bounded: no chunk holds more than a batch (500 rows here) or more than
  // about 1 MiB, so the server never had the event in memory at once.
  int64_t rows = 0;
  for (const auto& chunk : out.chunks) {
    EXPECT_LE(chunk.rows, 500);
    EXPECT_LE(chunk.bytes, 1024u * 1024u);
    rows += chunk.rows;
  }
  EXPECT_EQ(rows, kRows);
  EXPECT_GE(out.chunks.size(), static_cast<size_t>(kRows / 500));
  auto records = ParseCsv(out.csv);
  ASSERT_EQ(records.size(), static_cast<size_t>(kRows + 1));
  std::set<std::string> ids;
  for (size_t i = 1; i < records.size(); ++i) ids.insert(records[i][0]);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kRows));
  EXPECT_EQ(listing_->exports_in_flight(), 0);
}

TEST_F(ListingTest, CancelledExportStopsAndFreesItsCall) {
  ASSERT_TRUE(pool_
                  ->Run([&](pqxx::connection& conn) -> absl::Status {
                    pqxx::work tx(conn);
                    tx.exec_params(
                        "INSERT INTO registration.registrations "
                        "(registration_id, event_id, ticket_type_id, "
                        "request_id, request_fingerprint, email, full_name, "
                        "country_code, status, manage_token_hash) SELECT "
                        "'cx-' || g || '-' || $1, $1, 'delegate', 'q' || g, "
                        "'fp', 'u' || g || '@example.org', 'N', 'CH', 2, "
                        "'\\x00' FROM generate_series(1, 20000) g",
                        event_);
                    tx.commit();
                    return absl::OkStatus();
                  })
                  .ok());
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + admin_key_);
  v1::ExportRegistrationsRequest request;
  request.set_event_id(event_);
  auto reader = stub_->ExportRegistrations(&context, request);
  v1::ExportChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  EXPECT_EQ(listing_->exports_in_flight(), 1);
  context.TryCancel();
  while (reader->Read(&chunk)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The server side ends too (waits with a deadline, no sleep-and-hope).
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (listing_->exports_in_flight() != 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(listing_->exports_in_flight(), 0);
}

}  // namespace
}  // namespace admit::registration
