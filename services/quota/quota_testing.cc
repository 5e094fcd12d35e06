#include "services/quota/quota_testing.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/pg/migrations.h"
#include "common/status/status.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "tests/support/test_support.h"

namespace admit::quota::testing {
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

std::chrono::system_clock::time_point Deadline(
    std::chrono::milliseconds d = std::chrono::seconds(10)) {
  return std::chrono::system_clock::now() + d;
}

template <typename Response, typename Call>
absl::StatusOr<Response> Blocking(Call call) {
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  Response response;
  grpc::Status status = call(&context, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace

std::string DatabaseUrl() {
  std::string url = admit::testing::RequireEnv("ADMIT_TEST_PG_URL");
  if (url.empty()) return url;
  static std::once_flag once;
  static absl::Status migrated;
  std::call_once(once, [&] {
    migrated =
        pg::ApplyMigrations(url, "quota", ADMIT_QUOTA_SCHEMA_DIR).status();
  });
  if (!migrated.ok()) {
    ADD_FAILURE() << "quota migrations: " << migrated;
    return "";
  }
  return url;
}

std::string RandomEventId(const std::string& prefix) {
  return absl::StrCat(prefix, "-", RandomHex(16));
}

std::string RandomHoldId() { return absl::StrCat("hold-", RandomHex(32)); }

std::unique_ptr<Replica> Replica::Start(const std::string& url,
                                        ReplicaOptions options) {
  std::unique_ptr<Replica> r(new Replica());
  pg::PoolOptions pool_options;
  pool_options.url = url;
  pool_options.size = options.pool_size;
  auto pool = pg::Pool::Create(pool_options);
  if (!pool.ok()) {
    ADD_FAILURE() << "pool: " << pool.status();
    return nullptr;
  }
  r->pool_ = std::move(*pool);
  r->store_ = std::make_unique<PgHoldStore>(r->pool_.get());
  server::ServerOptions server_options;
  server_options.grpc_listen = "127.0.0.1:0";
  server_options.metrics_listen = "127.0.0.1:0";
  server_options.drain_timeout = std::chrono::seconds(5);
  r->server_ = std::make_unique<server::Server>(server_options);
  r->metrics_ = std::make_unique<QuotaMetrics>(r->server_->metrics_registry());
  QuotaServiceOptions service_options;
  service_options.batcher.max_batch = options.max_batch;
  r->service_ = std::make_unique<QuotaServiceImpl>(
      r->store_.get(), r->metrics_.get(), service_options);
  r->sweeper_ =
      std::make_unique<Sweeper>(r->store_.get(), r->metrics_.get(),
                                SweeperOptions{options.sweep_interval, 500});
  r->server_->AddService(r->service_.get());
  if (absl::Status s = r->server_->Start(); !s.ok()) {
    ADD_FAILURE() << "server: " << s;
    return nullptr;
  }
  if (options.sweeper) r->sweeper_->Start();
  r->channel_ = grpc::CreateChannel(r->server_->grpc_target(),
                                    grpc::InsecureChannelCredentials());
  r->stub_ = v1::QuotaService::NewStub(r->channel_);
  return r;
}

Replica::~Replica() {
  stub_.reset();
  channel_.reset();
  if (server_) server_->Shutdown();
  if (sweeper_) sweeper_->Stop();
  service_.reset();
  sweeper_.reset();
  metrics_.reset();
  server_.reset();
  store_.reset();
  pool_.reset();
}

std::unique_ptr<v1::QuotaService::Stub> NewStub(const std::string& target) {
  return v1::QuotaService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
}

absl::StatusOr<v1::SetQuotasResponse> SetQuotas(
    v1::QuotaService::Stub& stub, const v1::SetQuotasRequest& request) {
  return Blocking<v1::SetQuotasResponse>(
      [&](auto* c, auto* r) { return stub.SetQuotas(c, request, r); });
}

absl::StatusOr<v1::ReserveResponse> Reserve(v1::QuotaService::Stub& stub,
                                            const v1::ReserveRequest& request) {
  return Blocking<v1::ReserveResponse>(
      [&](auto* c, auto* r) { return stub.Reserve(c, request, r); });
}

absl::StatusOr<v1::CommitResponse> Commit(v1::QuotaService::Stub& stub,
                                          const std::string& hold_id) {
  v1::CommitRequest request;
  request.set_hold_id(hold_id);
  return Blocking<v1::CommitResponse>(
      [&](auto* c, auto* r) { return stub.Commit(c, request, r); });
}

absl::StatusOr<v1::ReleaseResponse> Release(v1::QuotaService::Stub& stub,
                                            const std::string& hold_id,
                                            v1::ReleaseReason reason) {
  v1::ReleaseRequest request;
  request.set_hold_id(hold_id);
  request.set_reason(reason);
  return Blocking<v1::ReleaseResponse>(
      [&](auto* c, auto* r) { return stub.Release(c, request, r); });
}

absl::StatusOr<v1::GetHoldResponse> GetHold(v1::QuotaService::Stub& stub,
                                            const std::string& hold_id) {
  v1::GetHoldRequest request;
  request.set_hold_id(hold_id);
  return Blocking<v1::GetHoldResponse>(
      [&](auto* c, auto* r) { return stub.GetHold(c, request, r); });
}

absl::StatusOr<v1::GetUsageResponse> GetUsage(v1::QuotaService::Stub& stub,
                                              const std::string& event_id) {
  v1::GetUsageRequest request;
  request.set_event_id(event_id);
  return Blocking<v1::GetUsageResponse>(
      [&](auto* c, auto* r) { return stub.GetUsage(c, request, r); });
}

v1::QuotaKey EventKey() {
  v1::QuotaKey key;
  key.set_kind(v1::QUOTA_KIND_EVENT);
  return key;
}

v1::QuotaKey TypeKey(const std::string& ticket_type_id) {
  v1::QuotaKey key;
  key.set_kind(v1::QUOTA_KIND_TICKET_TYPE);
  key.set_ticket_type_id(ticket_type_id);
  return key;
}

v1::QuotaKey OrgKey(const std::string& organization,
                    const std::string& ticket_type_id) {
  v1::QuotaKey key;
  key.set_kind(v1::QUOTA_KIND_ORGANIZATION);
  key.set_organization(organization);
  key.set_ticket_type_id(ticket_type_id);
  return key;
}

v1::QuotaLimit Limit(v1::QuotaKey key, int32_t capacity) {
  v1::QuotaLimit limit;
  *limit.mutable_key() = std::move(key);
  limit.set_capacity(capacity);
  return limit;
}

v1::SetQuotasRequest SetRequest(const std::string& event_id,
                                std::vector<v1::QuotaLimit> set) {
  v1::SetQuotasRequest request;
  request.set_event_id(event_id);
  for (auto& l : set) *request.add_set() = std::move(l);
  return request;
}

v1::ReserveRequest ReserveRequestFor(const std::string& event_id,
                                     const std::string& ticket_type_id,
                                     const std::string& organization,
                                     std::chrono::seconds ttl,
                                     std::string hold_id) {
  v1::ReserveRequest request;
  request.set_hold_id(std::move(hold_id));
  request.set_event_id(event_id);
  request.set_ticket_type_id(ticket_type_id);
  request.set_organization(organization);
  request.mutable_ttl()->set_seconds(ttl.count());
  return request;
}

ConcurrentResult ReserveConcurrently(
    const std::vector<v1::QuotaService::Stub*>& stubs,
    const std::vector<v1::ReserveRequest>& requests,
    std::chrono::milliseconds deadline) {
  struct Call {
    grpc::ClientContext context;
    v1::ReserveResponse response;
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
    stubs[i % stubs.size()]->async()->Reserve(
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
  ConcurrentResult result;
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

absl::Status AuditEvent(pg::Pool& pool, const std::string& event_id) {
  return pool.Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    pqxx::result r = tx.exec_params(
        "SELECT q.kind, q.ticket_type_id, q.organization, q.capacity, q.held, "
        "q.sold, "
        "(SELECT count(*) FROM quota.holds h WHERE h.state = 1 AND "
        "  q.quota_id = ANY(h.quota_ids)), "
        "(SELECT count(*) FROM quota.holds h WHERE h.state = 2 AND "
        "  q.quota_id = ANY(h.quota_ids)) "
        "FROM quota.quotas q WHERE q.event_id = $1",
        event_id);
    std::string problems;
    if (r.empty()) problems = "no quotas";
    for (const auto& row : r) {
      const std::string key = absl::StrCat("kind=", row[0].as<int>(),
                                           " type=", row[1].as<std::string>(),
                                           " org=", row[2].as<std::string>());
      const int64_t capacity = row[3].as<int64_t>(),
                    held = row[4].as<int64_t>(), sold = row[5].as<int64_t>(),
                    held_scan = row[6].as<int64_t>(),
                    sold_scan = row[7].as<int64_t>();
      if (held < 0 || sold < 0 || held + sold > capacity) {
        absl::StrAppend(&problems, key, ": held ", held, " + sold ", sold,
                        " > capacity ", capacity, "; ");
      }
      if (held != held_scan || sold != sold_scan) {
        absl::StrAppend(&problems, key, ": counters held ", held, " sold ",
                        sold, " but holds say ", held_scan, " / ", sold_scan,
                        "; ");
      }
    }
    if (problems.empty()) return absl::OkStatus();
    return absl::FailedPreconditionError(problems);
  });
}

std::vector<std::string> ViolationFields(const absl::Status& status) {
  std::vector<std::string> out;
  for (const auto& v : GetFieldViolations(status)) out.push_back(v.field);
  return out;
}

}  // namespace admit::quota::testing
