#include "common/metrics/grpc_server_metrics.h"

#include <chrono>
#include <cstring>
#include <string_view>
#include <utility>

#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/interceptor.h"

namespace admit::metrics {

namespace {

constexpr const char* kCodeNames[GrpcServerMetrics::kNumCodes] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

size_t CodeIndex(grpc::StatusCode code) {
  int value = static_cast<int>(code);
  if (value < 0 || value >= static_cast<int>(GrpcServerMetrics::kNumCodes)) {
    return static_cast<size_t>(grpc::StatusCode::UNKNOWN);
  }
  return static_cast<size_t>(value);
}

// Splits "/pkg.Service/Method"; false for anything else.
bool SplitMethod(std::string_view full, std::string* service,
                 std::string* method) {
  if (full.size() < 4 || full.front() != '/') return false;
  full.remove_prefix(1);
  size_t slash = full.find('/');
  if (slash == std::string_view::npos || slash == 0 ||
      slash + 1 == full.size() ||
      full.find('/', slash + 1) != std::string_view::npos) {
    return false;
  }
  *service = std::string(full.substr(0, slash));
  *method = std::string(full.substr(slash + 1));
  return true;
}

// One per RPC, created by gRPC when the call arrives and destroyed with the
// call's ServerContext. Intercept() may run on several threads, but each
// hook batch runs once, so `done_` is the only shared state.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(GrpcServerMetrics* metrics,
                     GrpcServerMetrics::Method* method)
      : metrics_(metrics),
        method_(method),
        start_(std::chrono::steady_clock::now()) {
    method_->started->Increment();
    method_->in_flight->Increment();
  }

  ~MetricsInterceptor() override {
    // No status went through the interceptor: the call was dropped.
    Complete(grpc::StatusCode::CANCELLED);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Complete(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Complete(grpc::StatusCode code) {
    if (done_.exchange(true)) return;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
            .count();
    method_->in_flight->Decrement();
    metrics_->RecordHandled(method_, code, seconds);
  }

  GrpcServerMetrics* const metrics_;
  GrpcServerMetrics::Method* const method_;
  const std::chrono::steady_clock::time_point start_;
  std::atomic<bool> done_{false};
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(GrpcServerMetrics* metrics)
      : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // Calls to methods no service implements reach gRPC's generic
    // "unimplemented" handler, whose context is a generic one; their paths
    // are whatever the client sent, so they share the "unknown" series.
    grpc::ServerContextBase* context = info->server_context();
    const bool generic =
        dynamic_cast<grpc::GenericCallbackServerContext*>(context) != nullptr ||
        dynamic_cast<grpc::GenericServerContext*>(context) != nullptr;
    return new MetricsInterceptor(
        metrics_, metrics_->ForMethod(generic ? nullptr : info->method()));
  }

 private:
  GrpcServerMetrics* const metrics_;
};

}  // namespace

const char* GrpcCodeName(grpc::StatusCode code) {
  return kCodeNames[CodeIndex(code)];
}

const prometheus::Histogram::BucketBoundaries& GrpcServerMetrics::Buckets() {
  static const auto* const kBuckets =
      new prometheus::Histogram::BucketBoundaries{
          0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return *kBuckets;
}

GrpcServerMetrics::GrpcServerMetrics(prometheus::Registry& registry)
    : started_(prometheus::BuildCounter()
                   .Name("grpc_server_started_total")
                   .Help("RPCs started on the server, by service and method.")
                   .Register(registry)),
      handled_(prometheus::BuildCounter()
                   .Name("grpc_server_handled_total")
                   .Help("RPCs completed on the server, by service, method and "
                         "gRPC status code.")
                   .Register(registry)),
      handling_(prometheus::BuildHistogram()
                    .Name("grpc_server_handling_seconds")
                    .Help("Time from an RPC's arrival to its status being "
                          "sent, in seconds.")
                    .Register(registry)),
      in_flight_(prometheus::BuildGauge()
                     .Name("grpc_server_in_flight")
                     .Help("RPCs started and not yet completed on the server, "
                           "by service and method.")
                     .Register(registry)) {
  unknown_ = Insert("unknown", "unknown");
}

GrpcServerMetrics::Method* GrpcServerMetrics::Insert(
    const std::string& service, const std::string& method) {
  auto entry = std::make_unique<Method>();
  entry->service = service;
  entry->method = method;
  prometheus::Labels labels{{"grpc_service", service}, {"grpc_method", method}};
  entry->started = &started_.Add(labels);
  entry->handling = &handling_.Add(labels, Buckets());
  entry->in_flight = &in_flight_.Add(labels);
  Method* raw = entry.get();
  methods_.emplace("/" + service + "/" + method, std::move(entry));
  return raw;
}

GrpcServerMetrics::Method* GrpcServerMetrics::ForMethod(
    const char* full_method) {
  if (full_method == nullptr) return unknown_;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = methods_.find(full_method);
  if (it != methods_.end()) return it->second.get();
  std::string service;
  std::string method;
  if (!SplitMethod(full_method, &service, &method) ||
      methods_.size() >= kMaxMethods) {
    return unknown_;
  }
  return Insert(service, method);
}

void GrpcServerMetrics::RecordHandled(Method* method, grpc::StatusCode code,
                                      double seconds) {
  size_t index = CodeIndex(code);
  prometheus::Counter* counter =
      method->handled[index].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Family::Add is thread-safe and returns the existing series for the
    // same labels, so a race here only repeats the lookup.
    counter = &handled_.Add({{"grpc_service", method->service},
                             {"grpc_method", method->method},
                             {"grpc_code", kCodeNames[index]}});
    method->handled[index].store(counter, std::memory_order_release);
  }
  counter->Increment();
  method->handling->Observe(seconds);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
GrpcServerMetrics::NewInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

}  // namespace admit::metrics
