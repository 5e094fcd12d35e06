// Per-RPC server metrics, recorded by a gRPC server interceptor so every
// service gets them without writing any code.
//
// Families (all in one registry, normally MetricsExposer::registry()):
//
//   grpc_server_started_total{grpc_service,grpc_method}          counter
//       RPCs that reached the server (before the handler runs).
//   grpc_server_handled_total{grpc_service,grpc_method,grpc_code} counter
//       RPCs completed, by status code name ("OK", "UNAVAILABLE", ...: the
//       upper-case names of google.rpc.Code). A call whose status was never
//       sent (the transport dropped it) counts as "CANCELLED".
//   grpc_server_handling_seconds{grpc_service,grpc_method}        histogram
//       From arrival to the status being sent; buckets 0.5 ms .. 10 s.
//       For streams this is the stream's lifetime.
//   grpc_server_in_flight{grpc_service,grpc_method}               gauge
//       RPCs started and not yet completed, right now.
//
// grpc_service is the full service name ("admit.v1.QuotaService"),
// grpc_method the bare method ("Reserve"). There is deliberately no unlabelled
// total: the per-pod in-flight figure the HPA scales on is a sum in PromQL
// (prometheus-adapter rule), which also lets it leave out long-lived streams:
//
//   sum by (namespace, pod) (grpc_server_in_flight{grpc_service=~"admit\\..*",
//       grpc_method!~"Watch.*|Export.*"})
//
// (A gauge must not end in _total, so `grpc_server_in_flight_total` would
// fail promtool's lint.) Health checks and reflection are counted like any
// other service; filter them out by grpc_service in queries.
//
// Label cardinality is bounded: calls to methods the server does not
// implement (they reach gRPC's generic handler) are recorded as
// grpc_service="unknown", grpc_method="unknown", and at most kMaxMethods
// distinct methods get their own series. (A service that registers its own
// generic handler would be counted as "unknown" too.)
#ifndef ADMIT_COMMON_METRICS_GRPC_SERVER_METRICS_H_
#define ADMIT_COMMON_METRICS_GRPC_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace admit::metrics {

// The upper-case name of a gRPC status code ("OK", "DEADLINE_EXCEEDED");
// "UNKNOWN" for values outside the enum.
const char* GrpcCodeName(grpc::StatusCode code);

// The metric families above plus a cache of per-method series.
//
// Thread safety: all methods may be called concurrently.
// Lifetime: must outlive every grpc::Server built with an interceptor factory
// from NewInterceptorFactory(), and `registry` must outlive this object.
class GrpcServerMetrics {
 public:
  static constexpr size_t kMaxMethods = 500;
  static constexpr size_t kNumCodes = 17;  // grpc::StatusCode 0..16

  // The histogram's bucket upper bounds, in seconds.
  static const prometheus::Histogram::BucketBoundaries& Buckets();

  // Registers the families in `registry` (the same names twice in one
  // registry throw prometheus' std::invalid_argument: a bug).
  explicit GrpcServerMetrics(prometheus::Registry& registry);
  GrpcServerMetrics(const GrpcServerMetrics&) = delete;
  GrpcServerMetrics& operator=(const GrpcServerMetrics&) = delete;

  // Series for one method. Pointers stay valid for this object's lifetime.
  struct Method {
    std::string service;
    std::string method;
    prometheus::Counter* started = nullptr;
    prometheus::Histogram* handling = nullptr;
    prometheus::Gauge* in_flight = nullptr;
    std::array<std::atomic<prometheus::Counter*>, kNumCodes> handled{};
  };

  // The series for `full_method` ("/pkg.Service/Method"); anything that is
  // not of that form, or beyond kMaxMethods, maps to the "unknown" series.
  Method* ForMethod(const char* full_method);

  // Counts one completed call with `code` and its duration.
  void RecordHandled(Method* method, grpc::StatusCode code, double seconds);

  // A factory to pass to ServerBuilder::experimental().SetInterceptorCreators.
  // The interceptors it creates record into this object.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewInterceptorFactory();

 private:
  Method* Insert(const std::string& service, const std::string& method);

  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& handling_;
  prometheus::Family<prometheus::Gauge>& in_flight_;

  std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Method>> methods_;  // by mu_
  Method* unknown_ = nullptr;
};

}  // namespace admit::metrics

#endif  // ADMIT_COMMON_METRICS_GRPC_SERVER_METRICS_H_
