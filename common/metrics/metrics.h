// Prometheus metrics for an admit process: one registry and the HTTP
// endpoint that serves it.
//
// Every service exposes its metrics on a port of its own (not the gRPC port),
// at http://<ADMIT_METRICS_LISTEN>/metrics, in the Prometheus text format
// 0.0.4. The registry is created with the exposer, so domain code can add its
// families (admit_registrations_total, ...) before or after the endpoint
// starts:
//
//   admit::metrics::MetricsExposer exposer;
//   auto& sent = prometheus::BuildCounter()
//                    .Name("admit_emails_sent_total")
//                    .Help("Emails handed to the SMTP relay, by result.")
//                    .Register(exposer.registry());
//   RETURN_IF_ERROR(exposer.Start("127.0.0.1:9464"));
//
// Naming rules (checked by `promtool check metrics` in the tests): counters end
// in _total, units are in the name in base units (_seconds, _bytes), every
// family has HELP text, and no label carries an email, a name or a token.
#ifndef ADMIT_COMMON_METRICS_METRICS_H_
#define ADMIT_COMMON_METRICS_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "prometheus/registry.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace admit::metrics {

// Owns a prometheus::Registry and, once started, the civetweb HTTP server
// (prometheus-cpp's pull Exposer) that serves it.
//
// Thread safety: registry() and the metrics in it may be used from any thread
// at any time. Start() and Stop() must not race each other.
class MetricsExposer {
 public:
  MetricsExposer();
  // Stops the endpoint if it is running.
  ~MetricsExposer();
  MetricsExposer(const MetricsExposer&) = delete;
  MetricsExposer& operator=(const MetricsExposer&) = delete;

  // The registry served at /metrics. Lives as long as this object.
  prometheus::Registry& registry() { return *registry_; }
  std::shared_ptr<prometheus::Registry> shared_registry() { return registry_; }

  // Starts serving /metrics on `listen`: "IPv4:port" or "[IPv6]:port"
  // ("127.0.0.1:9464", "0.0.0.0:9464", "[::]:9464"); port 0 picks a free
  // port (see port()). Returns
  //   INVALID_ARGUMENT    `listen` is not in that form;
  //   UNAVAILABLE         the address cannot be bound (in use, not local),
  //                       message "cannot serve metrics on <listen>: ...";
  //   FAILED_PRECONDITION already started.
  // Never throws.
  absl::Status Start(const std::string& listen);

  // Stops the HTTP server (waits for in-progress scrapes). Idempotent; the
  // registry stays usable and Start() may be called again.
  void Stop();

  bool running() const { return exposer_ != nullptr; }
  // The bound TCP port while running, else 0.
  int port() const { return port_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
  std::string poke_host_;
};

// Checks that `listen` is "IPv4:port" or "[IPv6]:port" with a port in
// [0, 65535] (the forms civetweb accepts for a single listener). Returns
// INVALID_ARGUMENT with a message describing the expected form otherwise.
absl::Status ValidateListenAddress(const std::string& listen);

// The registry's current contents in the Prometheus text format, exactly as
// /metrics serves them (for tests and debugging).
std::string SerializeText(prometheus::Registry& registry);

}  // namespace admit::metrics

#endif  // ADMIT_COMMON_METRICS_METRICS_H_
