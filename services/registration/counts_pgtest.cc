// GetRegistrationCounts and WatchRegistrationCounts against real Postgres
// (ADMIT_TEST_PG_URL): an in-process quota replica, a registration replica
// (Register, Cancel, ConfirmRegistration, expiry sweeper, promoter) and an
// OrganizerService serving the counts, all over gRPC. Each test uses its own
// random event id.
#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "admit/v1/lifecycle.grpc.pb.h"
#include "admit/v1/organizer.grpc.pb.h"
#include "common/metrics/metrics_testing.h"
#include "common/server/channel.h"
#include "common/status/status.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "services/registration/api_key.h"
#include "services/registration/api_key_store.h"
#include "services/registration/api_keys.h"
#include "services/registration/counts_service.h"
#include "services/registration/counts_store.h"
#include "services/registration/event_cache.h"
#include "services/registration/event_store.h"
#include "services/registration/organizer_service.h"
#include "services/registration/organizer_writes.h"
#include "services/registration/registration_testing.h"
#include "services/registration/validation.h"
#include "tests/support/test_support.h"

namespace admit::registration {
namespace {

using namespace std::chrono_literals;
using namespace admit::registration::testing;  // NOLINT: test helpers
namespace qt = admit::quota::testing;

// (dim, key) -> tally; dim as in registration_counts, organizations by key.
using Tallies = std::map<std::pair<int, std::string>, StatusTally>;

StatusTally FromProto(const v1::StatusCounts& c) {
  StatusTally t;
  t.pending = c.pending_confirmation();
  t.confirmed = c.confirmed();
  t.waitlisted = c.waitlisted();
  t.cancelled = c.cancelled();
  t.expired = c.expired();
  t.checked_in = c.checked_in();
  return t;
}

bool Empty(const StatusTally& t) { return t == StatusTally{}; }

// What the RPC answered, in the shape of a full scan (groups with no
// registrations left out; totals checked on the way).
Tallies TalliesOf(const v1::RegistrationCounts& counts) {
  Tallies out;
  auto put = [&out](int dim, const std::string& key,
                    const v1::StatusCounts& c) {
    EXPECT_EQ(c.total(), c.pending_confirmation() + c.confirmed() +
                             c.waitlisted() + c.cancelled() + c.expired());
    StatusTally t = FromProto(c);
    if (!Empty(t)) out[{dim, key}] = t;
  };
  put(0, "", counts.total());
  for (const auto& t : counts.by_ticket_type()) {
    put(1, t.ticket_type_id(), t.counts());
  }
  for (const auto& o : counts.by_organization()) {
    put(2, OrganizationKey(o.organization()), o.counts());
  }
  for (const auto& c : counts.by_country()) {
    put(3, c.country_code(), c.counts());
  }
  return out;
}

constexpr const char* kScanSql =
    "SELECT d.dim, d.key, r.status, count(*)::int, "
    "count(*) FILTER (WHERE r.status = 2 AND r.checked_in_at IS NOT NULL)"
    "::int "
    "FROM registration.registrations r CROSS JOIN LATERAL (VALUES (0, ''), "
    "(1, r.ticket_type_id), (2, r.organization_key), (3, r.country_code)) "
    "AS d(dim, key) WHERE r.event_id = $1 GROUP BY 1, 2, 3";

constexpr const char* kCountersSql =
    "SELECT dim, key, sum(pending)::int, sum(confirmed)::int, "
    "sum(waitlisted)::int, sum(cancelled)::int, sum(expired)::int, "
    "sum(checked_in)::int FROM registration.registration_counts "
    "WHERE event_id = $1 GROUP BY 1, 2";

Tallies ScanOn(pqxx::transaction_base& tx, const std::string& event_id) {
  Tallies out;
  for (const auto& row : tx.exec_params(kScanSql, event_id)) {
    StatusTally& t = out[{row[0].as<int>(), row[1].as<std::string>()}];
    const int n = row[3].as<int>();
    switch (row[2].as<int>()) {
      case 1:
        t.pending += n;
        break;
      case 2:
        t.confirmed += n;
        break;
      case 3:
        t.waitlisted += n;
        break;
      case 4:
        t.cancelled += n;
        break;
      case 5:
        t.expired += n;
        break;
    }
    t.checked_in += row[4].as<int>();
  }
  return out;
}

Tallies CountersOn(pqxx::transaction_base& tx, const std::string& event_id) {
  Tallies out;
  for (const auto& row : tx.exec_params(kCountersSql, event_id)) {
    StatusTally t{row[2].as<int>(), row[3].as<int>(), row[4].as<int>(),
                  row[5].as<int>(), row[6].as<int>(), row[7].as<int>()};
    if (!Empty(t)) out[{row[0].as<int>(), row[1].as<std::string>()}] = t;
  }
  return out;
}

std::string Describe(const Tallies& t) {
  std::string out;
  for (const auto& [k, v] : t) {
    absl::StrAppend(&out, k.first, "/", k.second, ": p", v.pending, " c",
                    v.confirmed, " w", v.waitlisted, " x", v.cancelled, " e",
                    v.expired, " ci", v.checked_in, "\n");
  }
  return out;
}

class CountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = DatabaseUrl();
    ASSERT_FALSE(url_.empty());
    qt::ReplicaOptions quota_options;
    quota_options.sweeper = true;
    quota_ = qt::Replica::Start(url_, quota_options);
    ASSERT_NE(quota_, nullptr);
    pg::PoolOptions pool_options;
    pool_options.url = url_;
    pool_options.size = 4;
    auto pool = pg::Pool::Create(pool_options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    event_store_ = std::make_unique<EventStore>(pool_.get());
    EventCacheOptions cache_options;
    cache_options.ttl = 200ms;
    cache_options.negative_ttl = 100ms;
    cache_ = std::make_unique<EventCache>(LoadFromStore(event_store_.get()),
                                          cache_options);
    const KeyParts boot = NewApiKey();
    admin_key_ = FormatApiKey(boot);
    std::string value = admin_key_;
    auto bootstrap = ParseBootstrapKey(value);
    ASSERT_TRUE(bootstrap.ok()) << bootstrap.status();
    keys_ = std::make_unique<ApiKeyAuthenticator>(
        [this] { return LoadActiveApiKeys(*pool_); }, std::move(*bootstrap));
    ASSERT_TRUE(keys_->Refresh().ok());

    auto channel = server::MakeChannel(QuotaTarget({quota_.get()}),
                                       server::ChannelOptions{});
    ASSERT_TRUE(channel.ok()) << channel.status();
    quota_stub_ = v1::QuotaService::NewStub(*channel);
    quota_client_ = std::make_unique<GrpcQuotaClient>(*channel);

    server::ServerOptions server_options;
    server_options.grpc_listen = "127.0.0.1:0";
    server_options.metrics_listen = "127.0.0.1:0";
    server_options.drain_timeout = 5s;
    server_ = std::make_unique<server::Server>(server_options);
    counts_store_ = std::make_unique<CountsStore>(pool_.get());
    CountsServiceOptions counts_options;
    counts_options.min_interval = absl::Milliseconds(200);
    counts_options.reauth_interval = absl::Milliseconds(100);
    counts_options.metrics = &server_->metrics_registry();
    // Long enough that a test sees a capacity change only through
    // ForgetUsage, never through the cache's expiry.
    counts_options.usage_ttl = std::chrono::minutes(10);
    counts_ = std::make_unique<CountsService>(counts_store_.get(), cache_.get(),
                                              quota_client_.get(), keys_.get(),
                                              counts_options);
    organizer_ = std::make_unique<OrganizerService>(
        event_store_.get(), keys_.get(), quota_stub_.get(), cache_.get());
    organizer_->SetCounts(counts_.get());
    auto writes = OrganizerWrites::Create(pool_.get(), keys_.get(),
                                          quota_stub_.get(), cache_.get(), {});
    ASSERT_TRUE(writes.ok()) << writes.status();
    writes_ = std::move(*writes);
    writes_->SetQuotasChanged([this](const std::string& event_id) {
      counts_->ForgetUsage(event_id);
    });
    organizer_->SetWrites(writes_.get());
    server_->AddService(organizer_.get());
    server_->AddDrainHook("counts", [this] { counts_->Stop(); });
    ASSERT_TRUE(server_->Start().ok());
    counts_->Start();
    stub_ = v1::OrganizerService::NewStub(grpc::CreateChannel(
        server_->grpc_target(), grpc::InsecureChannelCredentials()));

    RegistrationReplicaOptions options;
    options.background = true;
    options.expiry_interval = absl::Milliseconds(100);
    options.promotion_interval = absl::Milliseconds(300);
    replica_ = RegistrationReplica::Start(url_, QuotaTarget({quota_.get()}),
                                          cache_.get(), options);
    ASSERT_NE(replica_, nullptr);
    event_id_ = qt::RandomEventId("counts");
  }

  void TearDown() override {
    replica_.reset();
    stub_.reset();
    if (server_) server_->Shutdown();
    organizer_.reset();
    writes_.reset();
    counts_.reset();
    server_.reset();
    counts_store_.reset();
    quota_client_.reset();
    quota_stub_.reset();
    keys_.reset();
    cache_.reset();
    event_store_.reset();
    pool_.reset();
    quota_.reset();
  }

  // Creates event_id_ through OrganizerService.CreateEvent.
  void CreateEvent(int32_t capacity,
                   const std::map<std::string, int32_t>& types,
                   std::chrono::seconds hold_ttl) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    context.AddMetadata("authorization", "Bearer " + admin_key_);
    v1::CreateEventRequest request;
    *request.mutable_event() = MakeEvent(event_id_, capacity, types, hold_ttl);
    v1::CreateEventResponse response;
    grpc::Status status = stub_->CreateEvent(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // One OrganizerService call with the admin key.
  template <typename Request, typename Response>
  grpc::Status AsAdmin(grpc::Status (v1::OrganizerService::Stub::*method)(
                           grpc::ClientContext*, const Request&, Response*),
                       const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    context.AddMetadata("authorization", "Bearer " + admin_key_);
    return ((*stub_).*method)(&context, request, response);
  }

  absl::StatusOr<v1::RegistrationCounts> GetCounts(const std::string& event_id,
                                                   const std::string& key) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    if (!key.empty()) context.AddMetadata("authorization", "Bearer " + key);
    v1::GetRegistrationCountsRequest request;
    request.set_event_id(event_id);
    v1::RegistrationCounts response;
    grpc::Status status =
        stub_->GetRegistrationCounts(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  std::string StoredKey(KeyScope scope, std::vector<std::string> events,
                        bool read_only, std::string* id = nullptr) {
    ApiKeySpec spec;
    spec.scope = scope;
    spec.event_ids = std::move(events);
    spec.read_only = read_only;
    auto created = CreateApiKey(*pool_, spec);
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok()) return "";
    if (id != nullptr) *id = created->record.id;
    EXPECT_TRUE(keys_->Refresh().ok());
    return created->key;
  }

  Tallies Scan() {
    auto rows =
        pool_->Run([this](pqxx::connection& conn) -> absl::StatusOr<Tallies> {
          pqxx::read_transaction tx(conn);
          return ScanOn(tx, event_id_);
        });
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : Tallies{};
  }

  // A registration with the attendee's organization and country.
  v1::RegisterRequest Request(int i, const std::string& type,
                              const std::string& org,
                              const std::string& country) {
    v1::RegisterRequest r = RegisterRequestFor(
        event_id_, type, absl::StrCat("a", i, "@example.org"), org);
    r.mutable_attendee()->set_country_code(country);
    return r;
  }

  std::string url_;
  std::unique_ptr<qt::Replica> quota_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<EventStore> event_store_;
  std::unique_ptr<EventCache> cache_;
  std::unique_ptr<ApiKeyAuthenticator> keys_;
  std::unique_ptr<v1::QuotaService::Stub> quota_stub_;
  std::unique_ptr<GrpcQuotaClient> quota_client_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<CountsStore> counts_store_;
  std::unique_ptr<OrganizerWrites> writes_;
  std::unique_ptr<CountsService> counts_;
  std::unique_ptr<OrganizerService> organizer_;
  std::unique_ptr<v1::OrganizerService::Stub> stub_;
  std::unique_ptr<RegistrationReplica> replica_;
  std::string admin_key_;
  std::string event_id_;
};

// A watch stream read on a thread of its own: messages in arrival order.
class WatchStream {
 public:
  WatchStream(
      v1::OrganizerService::Stub& stub, const std::string& event_id,
      const std::string& key,
      std::chrono::milliseconds min_interval = std::chrono::milliseconds(0)) {
    context_.set_deadline(std::chrono::system_clock::now() + 60s);
    if (!key.empty()) context_.AddMetadata("authorization", "Bearer " + key);
    v1::WatchRegistrationCountsRequest request;
    request.set_event_id(event_id);
    if (min_interval.count() > 0) {
      request.mutable_min_interval()->set_seconds(min_interval.count() / 1000);
      request.mutable_min_interval()->set_nanos(
          static_cast<int32_t>(min_interval.count() % 1000) * 1000000);
    }
    reader_ = stub.WatchRegistrationCounts(&context_, request);
    thread_ = std::thread([this] {
      v1::RegistrationCounts m;
      while (reader_->Read(&m)) {
        std::lock_guard<std::mutex> lock(mu_);
        messages_.push_back(m);
        cv_.notify_all();
      }
      grpc::Status status = reader_->Finish();
      std::lock_guard<std::mutex> lock(mu_);
      status_ = status;
      cv_.notify_all();
    });
  }
  ~WatchStream() {
    context_.TryCancel();
    thread_.join();
  }

  // Waits (10 s at most) until `pred(messages)` holds.
  template <typename Pred>
  bool WaitFor(Pred pred, std::chrono::seconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(messages_); });
  }
  std::optional<grpc::Status> WaitEnd(std::chrono::seconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return status_.has_value(); });
    return status_;
  }
  std::vector<v1::RegistrationCounts> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  void Cancel() { context_.TryCancel(); }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::RegistrationCounts>> reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::RegistrationCounts> messages_;
  std::optional<grpc::Status> status_;
  std::thread thread_;
};

template <typename Pred>
bool Eventually(Pred pred, std::chrono::seconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

absl::StatusOr<v1::Registration> Confirm(
    v1::RegistrationLifecycleService::Stub& stub, const std::string& id,
    const std::string& code) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::LifecycleConfirmRequest request;
  request.set_registration_id(id);
  request.set_ticket_code(code);
  v1::Registration response;
  grpc::Status status = stub.ConfirmRegistration(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

TEST_F(CountsTest, CountsEqualAFullScanAfterAConcurrentMix) {
  // 2 s holds: unconfirmed registrations expire during the test, and the
  // promoter hands their seats to the waitlist.
  CreateEvent(40, {{"delegate", 25}, {"observer", 0}}, 2s);
  const std::vector<std::string> orgs = {"ACME", "acme", "Beta Org", ""};
  const std::vector<std::string> countries = {"CH", "DE", "FR"};
  std::vector<v1::RegisterRequest> requests;
  for (int i = 0; i < 120; ++i) {
    requests.push_back(Request(i, i % 3 == 0 ? "observer" : "delegate",
                               orgs[i % orgs.size()],
                               countries[i % countries.size()]));
  }

  // Meanwhile: counters and a full scan compared in one snapshot, again and
  // again (exact at every moment, not only at the end).
  // Compactions run in between (folding slots must not change a count).
  std::atomic<bool> done{false};
  std::atomic<int> snapshots{0};
  std::atomic<int> compactions{0};
  std::string mismatch;
  std::thread checker([&] {
    while (!done.load()) {
      // A lock timeout behind a writer is an expected skip.
      if (counts_store_->CompactNow(event_id_).ok()) ++compactions;
      auto same =
          pool_->Run([&](pqxx::connection& conn) -> absl::StatusOr<bool> {
            pqxx::transaction<pqxx::repeatable_read> tx(conn);
            Tallies scan = ScanOn(tx, event_id_);
            Tallies counters = CountersOn(tx, event_id_);
            if (scan != counters && mismatch.empty()) {
              mismatch = "scan:\n" + Describe(scan) + "counters:\n" +
                         Describe(counters);
            }
            return scan == counters;
          });
      ASSERT_TRUE(same.ok()) << same.status();
      ++snapshots;
    }
  });

  auto first = RegisterConcurrently({&replica_->stub()},
                                    {requests.begin(), requests.begin() + 80});
  std::vector<v1::RegisterResponse> registered;
  for (auto& a : first.answers) {
    ASSERT_TRUE(a.ok()) << a.status();
    registered.push_back(*a);
  }
  // Confirm a third, cancel a sixth, while 40 more register.
  std::thread more([&] {
    auto second = RegisterConcurrently({&replica_->stub()},
                                       {requests.begin() + 80, requests.end()});
    for (auto& a : second.answers) EXPECT_TRUE(a.ok()) << a.status();
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (size_t i = w; i < registered.size(); i += 4) {
        const v1::Registration& r = registered[i].registration();
        if (i % 3 == 0 &&
            r.status() == v1::REGISTRATION_STATUS_PENDING_CONFIRMATION) {
          (void)Confirm(replica_->lifecycle_stub(), r.id(),
                        absl::StrCat("TK-", i));
        } else if (i % 6 == 1) {
          (void)CancelRegistration(replica_->stub(), r.id(),
                                   registered[i].manage_token());
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  more.join();
  // Check two of the confirmed in (CheckIn's column).
  ASSERT_TRUE(pool_
                  ->Run([this](pqxx::connection& conn) -> absl::Status {
                    pqxx::work tx(conn);
                    tx.exec_params(
                        "UPDATE registration.registrations SET checked_in_at "
                        "= now() WHERE registration_id IN (SELECT "
                        "registration_id FROM registration.registrations "
                        "WHERE event_id = $1 AND status = 2 LIMIT 2)",
                        event_id_);
                    tx.commit();
                    return absl::OkStatus();
                  })
                  .ok());
  // Let expiries and promotions run for a while (holds are 2 s).
  ASSERT_TRUE(Eventually([&] {
    Tallies scan = Scan();
    auto it = scan.find(std::make_pair(0, std::string()));
    return it != scan.end() && it->second.expired > 0;
  }));
  done = true;
  checker.join();
  EXPECT_TRUE(mismatch.empty()) << mismatch;
  EXPECT_GT(snapshots.load(), 0);
  EXPECT_GT(compactions.load(), 0);

  // The RPC equals a full scan taken right before and right after it (when
  // those two agree, nothing changed in between).
  bool matched = Eventually([&] {
    Tallies before = Scan();
    auto counts = GetCounts(event_id_, admin_key_);
    Tallies after = Scan();
    if (!counts.ok() || before != after) return false;
    Tallies got = TalliesOf(*counts);
    EXPECT_EQ(Describe(got), Describe(before));
    return got == before;
  });
  EXPECT_TRUE(matched);
  Tallies scan = Scan();
  const StatusTally all = scan[std::make_pair(0, std::string())];
  EXPECT_EQ(all.pending + all.confirmed + all.waitlisted + all.cancelled +
                all.expired,
            120);
  EXPECT_EQ(all.checked_in, 2);
  // ACME and acme are one organization, shown with the first spelling.
  auto counts = GetCounts(event_id_, admin_key_);
  ASSERT_TRUE(counts.ok()) << counts.status();
  ASSERT_EQ(counts->by_organization_size(), 3);
  EXPECT_EQ(counts->by_organization(0).organization(), "");
  // (whichever of the two concurrent batches committed first)
  EXPECT_TRUE(counts->by_organization(1).organization() == "ACME" ||
              counts->by_organization(1).organization() == "acme")
      << counts->by_organization(1).organization();
  EXPECT_EQ(counts->by_organization(1).counts().total(), 60);
  EXPECT_EQ(counts->by_organization(2).organization(), "Beta Org");
  ASSERT_EQ(counts->by_ticket_type_size(), 2);
  EXPECT_EQ(counts->by_ticket_type(0).ticket_type_id(), "delegate");
  EXPECT_EQ(counts->by_ticket_type(0).capacity(), 25);
  EXPECT_EQ(counts->by_ticket_type(1).capacity(), 40);
  EXPECT_EQ(counts->capacity(), 40);
  // remaining = capacity - held - sold of the event's quota.
  auto usage = qt::GetUsage(quota_->stub(), event_id_);
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_GE(counts->remaining(), 0);
  EXPECT_LE(counts->remaining(), 40);
  EXPECT_EQ(counts->by_country_size(), 3);
}

// Writers spread over 16 slots; a read that finds many rows per group has
// the store fold them into slot 0, and the counts stay those of a full scan.
TEST_F(CountsTest, ReadsFoldCounterSlotsWithoutChangingCounts) {
  CreateEvent(1000, {{"delegate", 0}}, 600s);
  // 32 transactions (so, slots) of 8 registrations in 8 countries: 11 groups
  // (the event, one type, no organization, 8 countries).
  for (int t = 0; t < 32; ++t) {
    ASSERT_TRUE(pool_
                    ->Run([&](pqxx::connection& conn) -> absl::Status {
                      pqxx::work tx(conn);
                      tx.exec_params(
                          "INSERT INTO registration.registrations "
                          "(registration_id, event_id, ticket_type_id, "
                          "request_id, request_fingerprint, email, full_name, "
                          "organization, organization_key, country_code, "
                          "status, hold_id, manage_token_hash) "
                          "SELECT md5($1 || $2 || g), $1, 'delegate', "
                          "'req-' || $2 || '-' || g, 'fp', "
                          "'fold' || $2 || '-' || g || '@example.org', 'A', "
                          "'', '', 'C' || chr(65 + g), 1, 'h' || $2 || g, "
                          "'\\x00' FROM generate_series(0, 7) g",
                          event_id_, std::to_string(t));
                      tx.commit();
                      return absl::OkStatus();
                    })
                    .ok());
  }
  auto rows = [&]() -> int64_t {
    auto n = pool_->Run([&](pqxx::connection& conn) -> absl::StatusOr<int64_t> {
      pqxx::read_transaction tx(conn);
      return tx
          .exec_params1(
              "SELECT count(*) FROM registration.registration_counts "
              "WHERE event_id = $1",
              event_id_)[0]
          .as<int64_t>();
    });
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : -1;
  };
  const int64_t spread = rows();
  // 32 transaction ids cover at least 6 of the 16 slots.
  ASSERT_GE(spread, CountsStore::kCompactMinRows);
  const Tallies scan = Scan();

  auto counts = GetCounts(event_id_, admin_key_);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(Describe(TalliesOf(*counts)), Describe(scan));
  EXPECT_EQ(counts->total().pending_confirmation(), 256);
  // That read queued the compaction: one row per group is left.
  EXPECT_TRUE(Eventually([&] { return rows() == 11; }))
      << "rows: " << rows() << " (were " << spread << ")";
  auto compacted = GetCounts(event_id_, admin_key_);
  ASSERT_TRUE(compacted.ok()) << compacted.status();
  EXPECT_EQ(Describe(TalliesOf(*compacted)), Describe(scan));
  EXPECT_EQ(compacted->by_country_size(), 8);
}

TEST_F(CountsTest, EmptyEventHasZeroCountsAndEveryTicketType) {
  CreateEvent(10, {{"delegate", 5}, {"observer", 0}}, 600s);
  auto counts = GetCounts(event_id_, admin_key_);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->event_id(), event_id_);
  EXPECT_TRUE(counts->has_as_of());
  EXPECT_EQ(counts->total().total(), 0);
  EXPECT_EQ(counts->capacity(), 10);
  EXPECT_EQ(counts->remaining(), 10);
  ASSERT_EQ(counts->by_ticket_type_size(), 2);
  EXPECT_EQ(counts->by_ticket_type(0).remaining(), 5);
  EXPECT_EQ(counts->by_organization_size(), 0);
  EXPECT_EQ(counts->by_country_size(), 0);
}

// Capacities and allotments are cached per replica (usage_ttl, here ten
// minutes), but a change made through this replica shows at once; remaining
// follows the counters.
TEST_F(CountsTest, CapacityAndAllotmentChangesShowAtOnce) {
  CreateEvent(10, {{"delegate", 0}}, 600s);
  auto before = GetCounts(event_id_, admin_key_);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->capacity(), 10);
  EXPECT_EQ(before->remaining(), 10);
  auto answer =
      Register(replica_->stub(), Request(1, "delegate", "Acme", "CH"));
  ASSERT_TRUE(answer.ok()) << answer.status();

  v1::UpdateEventRequest update;
  update.mutable_event()->set_id(event_id_);
  update.mutable_event()->set_capacity(20);
  update.mutable_update_mask()->add_paths("capacity");
  v1::UpdateEventResponse updated;
  grpc::Status status =
      AsAdmin(&v1::OrganizerService::Stub::UpdateEvent, update, &updated);
  ASSERT_TRUE(status.ok()) << status.error_message();
  auto raised = GetCounts(event_id_, admin_key_);
  ASSERT_TRUE(raised.ok()) << raised.status();
  EXPECT_EQ(raised->capacity(), 20);
  EXPECT_EQ(raised->remaining(), 19);

  v1::SetAllotmentRequest allot;
  allot.set_event_id(event_id_);
  allot.set_organization("ACME");
  allot.set_seats(3);
  v1::SetAllotmentResponse set;
  status = AsAdmin(&v1::OrganizerService::Stub::SetAllotment, allot, &set);
  ASSERT_TRUE(status.ok()) << status.error_message();
  auto allotted = GetCounts(event_id_, admin_key_);
  ASSERT_TRUE(allotted.ok()) << allotted.status();
  ASSERT_EQ(allotted->by_organization_size(), 1);
  // Shown as the organizer spelled the allotment, not as first registered.
  EXPECT_EQ(allotted->by_organization(0).organization(), "ACME");
  EXPECT_EQ(allotted->by_organization(0).allotment_seats(), 3);
  EXPECT_EQ(allotted->by_organization(0).allotment_remaining(), 2);
}

TEST_F(CountsTest, KeysAndRequestsAreChecked) {
  CreateEvent(10, {{"delegate", 0}}, 600s);
  const std::string other_event = qt::RandomEventId("counts");
  {
    std::string saved = event_id_;
    event_id_ = other_event;
    CreateEvent(10, {{"delegate", 0}}, 600s);
    event_id_ = saved;
  }
  const std::string theirs =
      StoredKey(KeyScope::kOrganizer, {other_event}, false);
  const std::string mine_ro = StoredKey(KeyScope::kOrganizer, {event_id_},
                                        /*read_only=*/true);
  EXPECT_EQ(GetCounts(event_id_, "").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(GetCounts(event_id_, "admit_nope_nope").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(GetCounts(event_id_, theirs).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(GetCounts(event_id_, mine_ro).ok());
  EXPECT_EQ(GetCounts("Bad_Id", admin_key_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetCounts("", admin_key_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetCounts(qt::RandomEventId("none"), admin_key_).status().code(),
            absl::StatusCode::kNotFound);

  auto ended = [&](const std::string& event_id, const std::string& key) {
    WatchStream w(*stub_, event_id, key);
    auto status = w.WaitEnd();
    EXPECT_TRUE(w.messages().empty());
    return status.has_value() ? status->error_code() : grpc::StatusCode::OK;
  };
  EXPECT_EQ(ended(event_id_, ""), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ended(event_id_, "admit_nope_nope"),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ended(event_id_, theirs), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ended("Bad_Id", admin_key_), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ended(qt::RandomEventId("none"), admin_key_),
            grpc::StatusCode::NOT_FOUND);
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + admin_key_);
    v1::WatchRegistrationCountsRequest request;
    request.set_event_id(event_id_);
    request.mutable_min_interval()->set_seconds(-1);
    auto reader = stub_->WatchRegistrationCounts(&context, request);
    v1::RegistrationCounts m;
    EXPECT_FALSE(reader->Read(&m));
    EXPECT_EQ(reader->Finish().error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  // A read-only key of the event may watch.
  WatchStream ro(*stub_, event_id_, mine_ro);
  EXPECT_TRUE(ro.WaitFor([](const auto& m) { return !m.empty(); }));
}

TEST_F(CountsTest, WatchSendsAtOnceThenAfterARegistration) {
  CreateEvent(10, {{"delegate", 0}}, 600s);
  WatchStream w(*stub_, event_id_, admin_key_);
  ASSERT_TRUE(w.WaitFor([](const auto& m) { return m.size() == 1; }));
  EXPECT_EQ(w.messages()[0].total().total(), 0);
  EXPECT_EQ(w.messages()[0].remaining(), 10);
  auto answer =
      Register(replica_->stub(), Request(1, "delegate", "Acme", "CH"));
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_TRUE(w.WaitFor([](const auto& m) {
    return !m.empty() && m.back().total().pending_confirmation() == 1;
  }));
  const v1::RegistrationCounts last = w.messages().back();
  EXPECT_EQ(last.total().total(), 1);
  EXPECT_EQ(last.remaining(), 9);
  ASSERT_EQ(last.by_country_size(), 1);
  EXPECT_EQ(last.by_country(0).country_code(), "CH");
  EXPECT_EQ(counts_->watchers(), 1);
}

TEST_F(CountsTest, WatchCoalescesABurstAndEndsOnTheFinalCounts) {
  CreateEvent(500, {{"delegate", 0}}, 600s);
  WatchStream w(*stub_, event_id_, admin_key_, 1000ms);
  ASSERT_TRUE(w.WaitFor([](const auto& m) { return m.size() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  std::vector<v1::RegisterRequest> requests;
  for (int i = 0; i < 200; ++i) {
    requests.push_back(Request(i, "delegate", "", "DE"));
  }
  auto burst = RegisterConcurrently({&replica_->stub()}, requests);
  for (auto& a : burst.answers) ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(w.WaitFor(
      [](const auto& m) { return m.back().total().total() == 200; }, 15s));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const auto messages = w.messages();
  // One message at once, then at most one per second (+1 for a tick's
  // rounding): far fewer than the 200 changes.
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(elapsed).count();
  EXPECT_LE(static_cast<int64_t>(messages.size()), 2 + seconds + 1)
      << "in " << seconds << " s";
  EXPECT_LT(messages.size(), 20u);
  // Counts only grow during the burst, and the last one is the final state.
  for (size_t i = 1; i < messages.size(); ++i) {
    EXPECT_GE(messages[i].total().total(), messages[i - 1].total().total());
  }
  EXPECT_EQ(TalliesOf(messages.back()), Scan());
}

TEST_F(CountsTest, CancelledStreamsAreRemovedFromTheHub) {
  CreateEvent(10, {{"delegate", 0}}, 600s);
  std::vector<std::unique_ptr<WatchStream>> streams;
  for (int i = 0; i < 20; ++i) {
    streams.push_back(
        std::make_unique<WatchStream>(*stub_, event_id_, admin_key_));
  }
  for (auto& s : streams) {
    ASSERT_TRUE(s->WaitFor([](const auto& m) { return !m.empty(); }));
  }
  EXPECT_EQ(counts_->watchers(), 20);
  for (auto& s : streams) s->Cancel();
  for (auto& s : streams) {
    auto status = s->WaitEnd();
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(status->error_code(), grpc::StatusCode::CANCELLED);
  }
  EXPECT_TRUE(Eventually([&] { return counts_->watchers() == 0; }));
  // The gauge follows.
  auto metrics = metrics::testing::HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(
      metrics::testing::SampleValue(*metrics, "admit_registration_watchers")
          .value_or(-1),
      0);
  EXPECT_TRUE(metrics::testing::PromtoolCheckMetrics(*metrics).ok());
}

TEST_F(CountsTest, RevokedKeyEndsItsStreams) {
  CreateEvent(10, {{"delegate", 0}}, 600s);
  std::string id;
  const std::string key =
      StoredKey(KeyScope::kOrganizer, {event_id_}, false, &id);
  WatchStream w(*stub_, event_id_, key);
  ASSERT_TRUE(w.WaitFor([](const auto& m) { return !m.empty(); }));
  ASSERT_TRUE(RevokeApiKey(*pool_, id).ok());
  ASSERT_TRUE(keys_->Refresh().ok());
  auto status = w.WaitEnd();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Eventually([&] { return counts_->watchers() == 0; }));
}

TEST_F(CountsTest, ShutdownEndsStreamsWithUnavailable) {
  CreateEvent(10, {{"delegate", 0}}, 600s);
  WatchStream w(*stub_, event_id_, admin_key_);
  ASSERT_TRUE(w.WaitFor([](const auto& m) { return !m.empty(); }));
  std::thread shutdown([this] { server_->Shutdown(); });
  auto status = w.WaitEnd();
  shutdown.join();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(counts_->watchers(), 0);
}

}  // namespace
}  // namespace admit::registration
