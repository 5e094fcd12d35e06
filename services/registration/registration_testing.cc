#include "services/registration/registration_testing.h"

#include <algorithm>
#include <condition_variable>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/pg/migrations.h"
#include "common/server/channel.h"
#include "common/status/status.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "tests/support/test_support.h"

namespace admit::registration::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string RandomHex(int digits) {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  std::lock_guard<std::mutex> lock(mu);
  std::string out;
  while (static_cast<int>(out.size()) < digits) {
    out += absl::StrFormat("%016x", rng());
  }
  out.resize(digits);
  return out;
}

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  out->set_seconds(absl::ToUnixSeconds(t));
}

template <typename Response, typename Call>
absl::StatusOr<Response> Blocking(Call call) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  Response response;
  grpc::Status status = call(&context, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace

void StaticEventSource::Put(v1::Event event) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string id = event.id();
  events_[id] = std::make_shared<const v1::Event>(std::move(event));
}

void StaticEventSource::Get(const std::string& event_id, Callback done) {
  EventSnapshot snapshot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = events_.find(event_id);
    if (it != events_.end()) snapshot = it->second;
  }
  if (snapshot == nullptr) {
    std::move(done)(
        WithErrorInfo(absl::NotFoundError(absl::StrCat("no event ", event_id)),
                      "EVENT_NOT_FOUND"));
    return;
  }
  std::move(done)(std::move(snapshot));
}

std::string DatabaseUrl() {
  std::string url = quota::testing::DatabaseUrl();
  if (url.empty()) return url;
  static std::once_flag once;
  static absl::Status migrated;
  std::call_once(once, [&] {
    migrated =
        pg::ApplyMigrations(url, "registration", ADMIT_REGISTRATION_SCHEMA_DIR)
            .status();
  });
  if (!migrated.ok()) {
    ADD_FAILURE() << "registration migrations: " << migrated;
    return "";
  }
  return url;
}

const crypto::Sealer& TestSealer() {
  static const crypto::Sealer* sealer = [] {
    auto s = crypto::Sealer::FromBase64Key(crypto::Sealer::NewBase64Key());
    return new crypto::Sealer(*s);
  }();
  return *sealer;
}

v1::Event MakeEvent(const std::string& event_id, int32_t capacity,
                    const std::map<std::string, int32_t>& ticket_types,
                    std::chrono::seconds hold_ttl) {
  v1::Event e;
  e.set_id(event_id);
  e.set_name(absl::StrCat("Event ", event_id));
  const absl::Time now = absl::Now();
  SetTime(now + absl::Hours(24 * 30), e.mutable_starts_at());
  SetTime(now + absl::Hours(24 * 33), e.mutable_ends_at());
  e.set_time_zone("Europe/Zurich");
  SetTime(now - absl::Hours(1), e.mutable_registration_opens_at());
  SetTime(now + absl::Hours(24 * 29), e.mutable_registration_closes_at());
  e.mutable_hold_ttl()->set_seconds(hold_ttl.count());
  e.set_capacity(capacity);
  for (const auto& [id, cap] : ticket_types) {
    v1::TicketType* t = e.add_ticket_types();
    t->set_id(id);
    t->set_name(absl::StrCat("Type ", id));
    t->set_capacity(cap);
  }
  return e;
}

absl::Status SetEventQuotas(v1::QuotaService::Stub& quota,
                            const v1::Event& event) {
  std::vector<v1::QuotaLimit> limits = {
      quota::testing::Limit(quota::testing::EventKey(), event.capacity())};
  for (const v1::TicketType& t : event.ticket_types()) {
    if (t.capacity() > 0) {
      limits.push_back(
          quota::testing::Limit(quota::testing::TypeKey(t.id()), t.capacity()));
    }
  }
  return quota::testing::SetQuotas(
             quota, quota::testing::SetRequest(event.id(), std::move(limits)))
      .status();
}

std::unique_ptr<RegistrationReplica> RegistrationReplica::Start(
    const std::string& url, const std::string& quota_target,
    EventSource* events, RegistrationReplicaOptions options) {
  std::unique_ptr<RegistrationReplica> r(new RegistrationReplica());
  pg::PoolOptions pool_options;
  pool_options.url = url;
  pool_options.size = options.pool_size;
  auto pool = pg::Pool::Create(pool_options);
  if (!pool.ok()) {
    ADD_FAILURE() << "pool: " << pool.status();
    return nullptr;
  }
  r->pool_ = std::move(*pool);
  r->store_ = std::make_unique<PgRegistrationStore>(r->pool_.get());
  auto channel = server::MakeChannel(quota_target, server::ChannelOptions{});
  if (!channel.ok()) {
    ADD_FAILURE() << "quota channel: " << channel.status();
    return nullptr;
  }
  GrpcQuotaClientOptions quota_options;
  quota_options.call_timeout = std::chrono::seconds(5);
  r->quota_ = std::make_unique<GrpcQuotaClient>(*channel, quota_options);
  server::ServerOptions server_options;
  server_options.grpc_listen = "127.0.0.1:0";
  server_options.metrics_listen = "127.0.0.1:0";
  server_options.drain_timeout = std::chrono::seconds(5);
  r->server_ = std::make_unique<server::Server>(server_options);
  r->metrics_ =
      std::make_unique<RegistrationMetrics>(r->server_->metrics_registry());
  RegistrationServiceOptions service_options;
  service_options.registrar.batcher.max_batch = options.max_batch;
  service_options.registrar.max_in_flight = options.max_in_flight;
  service_options.availability.ttl = options.availability_ttl;
  r->lifecycle_store_ =
      std::make_unique<PgLifecycleStore>(r->pool_.get(), r->quota_.get());
  WaitlistPromoterOptions promoter_options;
  promoter_options.interval = options.promotion_interval;
  promoter_options.metrics = r->metrics_.get();
  r->promoter_ = std::make_unique<WaitlistPromoter>(r->lifecycle_store_.get(),
                                                    events, promoter_options);
  ExpirySweeperOptions sweeper_options;
  sweeper_options.interval = options.expiry_interval;
  sweeper_options.metrics = r->metrics_.get();
  r->sweeper_ = std::make_unique<ExpirySweeper>(
      r->lifecycle_store_.get(), r->quota_.get(), r->promoter_.get(),
      sweeper_options);
  WaitlistPromoter* promoter = r->promoter_.get();
  service_options.seat_freed = [promoter](const std::string& event_id,
                                          const std::string& type) {
    promoter->Kick(event_id, type);
  };
  r->service_ = std::make_unique<RegistrationServiceImpl>(
      events, r->store_.get(), r->quota_.get(), &TestSealer(),
      r->metrics_.get(), service_options);
  r->lifecycle_ = std::make_unique<LifecycleServiceImpl>(
      events, r->store_.get(), r->lifecycle_store_.get());
  r->server_->AddService(r->service_.get());
  r->server_->AddService(r->lifecycle_.get());
  if (absl::Status s = r->server_->Start(); !s.ok()) {
    ADD_FAILURE() << "server: " << s;
    return nullptr;
  }
  auto own_channel = grpc::CreateChannel(r->server_->grpc_target(),
                                         grpc::InsecureChannelCredentials());
  r->stub_ = v1::RegistrationService::NewStub(own_channel);
  r->lifecycle_stub_ = v1::RegistrationLifecycleService::NewStub(own_channel);
  if (options.background) {
    r->promoter_->Start();
    r->sweeper_->Start();
  }
  return r;
}

RegistrationReplica::~RegistrationReplica() {
  stub_.reset();
  lifecycle_stub_.reset();
  if (server_) server_->Shutdown();
  lifecycle_.reset();
  service_.reset();
  sweeper_.reset();
  promoter_.reset();
  lifecycle_store_.reset();
  metrics_.reset();
  server_.reset();
  quota_.reset();
  store_.reset();
  pool_.reset();
}

std::string QuotaTarget(const std::vector<quota::testing::Replica*>& replicas) {
  std::vector<std::string> addresses;
  for (auto* r : replicas) {
    addresses.push_back(absl::StrCat("127.0.0.1:", r->server().grpc_port()));
  }
  return absl::StrCat("ipv4:", absl::StrJoin(addresses, ","));
}

v1::RegisterRequest RegisterRequestFor(const std::string& event_id,
                                       const std::string& ticket_type_id,
                                       const std::string& email,
                                       const std::string& organization) {
  v1::RegisterRequest r;
  r.set_request_id(absl::StrCat("req-", RandomHex(32)));
  r.set_event_id(event_id);
  r.set_ticket_type_id(ticket_type_id);
  r.mutable_attendee()->set_email(email);
  r.mutable_attendee()->set_full_name("Test Attendee");
  r.mutable_attendee()->set_organization(organization);
  r.mutable_attendee()->set_country_code("CH");
  return r;
}

absl::StatusOr<v1::RegisterResponse> Register(
    v1::RegistrationService::Stub& stub, const v1::RegisterRequest& request) {
  return Blocking<v1::RegisterResponse>(
      [&](auto* c, auto* r) { return stub.Register(c, request, r); });
}

absl::StatusOr<v1::Registration> GetRegistration(
    v1::RegistrationService::Stub& stub, const std::string& id,
    const std::string& token) {
  v1::GetRegistrationRequest request;
  request.set_registration_id(id);
  request.set_manage_token(token);
  return Blocking<v1::Registration>(
      [&](auto* c, auto* r) { return stub.GetRegistration(c, request, r); });
}

absl::StatusOr<v1::Registration> CancelRegistration(
    v1::RegistrationService::Stub& stub, const std::string& id,
    const std::string& token) {
  v1::CancelRegistrationRequest request;
  request.set_registration_id(id);
  request.set_manage_token(token);
  return Blocking<v1::Registration>(
      [&](auto* c, auto* r) { return stub.CancelRegistration(c, request, r); });
}

absl::StatusOr<v1::Availability> GetAvailability(
    v1::RegistrationService::Stub& stub, const std::string& event_id) {
  v1::GetAvailabilityRequest request;
  request.set_event_id(event_id);
  return Blocking<v1::Availability>(
      [&](auto* c, auto* r) { return stub.GetAvailability(c, request, r); });
}

ConcurrentRegisterResult RegisterConcurrently(
    const std::vector<v1::RegistrationService::Stub*>& stubs,
    const std::vector<v1::RegisterRequest>& requests,
    std::chrono::milliseconds deadline) {
  struct Call {
    grpc::ClientContext context;
    v1::RegisterResponse response;
    grpc::Status status;
    Clock::time_point sent;
    Clock::time_point answered;
  };
  std::vector<std::unique_ptr<Call>> calls;
  calls.reserve(requests.size());
  std::mutex mu;
  std::condition_variable cv;
  size_t remaining = requests.size();
  const auto start = Clock::now();
  for (size_t i = 0; i < requests.size(); ++i) {
    calls.push_back(std::make_unique<Call>());
    Call* call = calls.back().get();
    call->context.set_deadline(std::chrono::system_clock::now() + deadline);
    call->sent = Clock::now();
    stubs[i % stubs.size()]->async()->Register(
        &call->context, &requests[i], &call->response,
        [call, &mu, &cv, &remaining](grpc::Status status) {
          call->status = std::move(status);
          call->answered = Clock::now();
          std::lock_guard<std::mutex> lock(mu);
          if (--remaining == 0) cv.notify_all();
        });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return remaining == 0; });
  }
  ConcurrentRegisterResult result;
  Clock::time_point last = start;
  for (auto& call : calls) {
    last = std::max(last, call->answered);
    result.latencies.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(call->answered -
                                                              call->sent));
    if (call->status.ok()) {
      result.answers.emplace_back(std::move(call->response));
    } else {
      result.answers.emplace_back(FromGrpcStatus(call->status));
    }
  }
  result.elapsed =
      std::chrono::duration_cast<std::chrono::microseconds>(last - start);
  return result;
}

std::chrono::microseconds Percentile(std::vector<std::chrono::microseconds> v,
                                     double p) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

absl::StatusOr<EventRows> ReadEventRows(pg::Pool& pool,
                                        const std::string& event_id) {
  return pool.Run([&](pqxx::connection& conn) -> absl::StatusOr<EventRows> {
    pqxx::work tx(conn);
    EventRows rows;
    for (const auto& r : tx.exec_params(
             "SELECT status, count(*) FROM registration.registrations WHERE "
             "event_id = $1 GROUP BY status",
             event_id)) {
      rows.by_status[r[0].as<int>()] = r[1].as<int>();
    }
    for (const auto& r : tx.exec_params(
             "SELECT waitlist_seq FROM registration.registrations WHERE "
             "event_id = $1 AND status = 3 ORDER BY waitlist_seq",
             event_id)) {
      rows.waitlist_seqs.push_back(r[0].as<int64_t>());
    }
    rows.outbox_rows = tx.exec_params(
                             "SELECT count(*) FROM registration.outbox WHERE "
                             "event_id = $1",
                             event_id)[0][0]
                           .as<int>();
    for (const auto& r :
         tx.exec_params("SELECT ticket_type_id, waitlisted FROM "
                        "registration.waitlist_counters WHERE event_id = $1",
                        event_id)) {
      rows.waitlist_counter[r[0].as<std::string>()] = r[1].as<int>();
    }
    return rows;
  });
}

absl::StatusOr<std::map<std::string, QuotaRow>> ReadQuotas(
    pg::Pool& pool, const std::string& event_id) {
  return pool.Run([&](pqxx::connection& conn)
                      -> absl::StatusOr<std::map<std::string, QuotaRow>> {
    pqxx::work tx(conn);
    std::map<std::string, QuotaRow> out;
    for (const auto& r : tx.exec_params(
             "SELECT kind, ticket_type_id, organization, capacity, held, sold "
             "FROM quota.quotas WHERE event_id = $1",
             event_id)) {
      const int kind = r[0].as<int>();
      const std::string type = r[1].as<std::string>();
      const std::string org = r[2].as<std::string>();
      std::string key = kind == 1   ? "event"
                        : kind == 2 ? absl::StrCat("type:", type)
                                    : absl::StrCat("org:", org);
      if (kind == 3 && !type.empty()) absl::StrAppend(&key, "/type:", type);
      out[key] =
          QuotaRow{r[3].as<int32_t>(), r[4].as<int32_t>(), r[5].as<int32_t>()};
    }
    return out;
  });
}

}  // namespace admit::registration::testing
