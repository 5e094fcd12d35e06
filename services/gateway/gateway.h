// admit's HTTP/JSON gateway: serves every google.api.http route of the
// services it fronts by forwarding to them over gRPC (grpc::GenericStub,
// bytes in and out: no per-route code), plus the static pages and /healthz.
//
// Per request: CORS (configured origins), in-flight limit (503 beyond it),
// route match (404/405), body size limit (413, by cpp-httplib), JSON ->
// request message (400), the call with a deadline and the caller's
// `authorization`, `x-manage-token` (as the request's manage_token field) and
// address (appended to `x-forwarded-for`), then the answer as JSON, or the
// gRPC status as an HTTP error whose body is the google.rpc.Status in JSON
// (details included; 429 carries Retry-After from RetryInfo). Server streams
// are Server-Sent Events, or a chunked body with response_body (the CSV
// export). See README.md for the status table and the settings.
//
// Threading: cpp-httplib serves each connection on a thread of its pool
// (`threads`); a forwarded call blocks that thread until the answer, so the
// pool size bounds concurrency, and long-lived streams hold a thread each.
#ifndef ADMIT_SERVICES_GATEWAY_GATEWAY_H_
#define ADMIT_SERVICES_GATEWAY_GATEWAY_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/config/config.h"
#include "grpcpp/channel.h"
#include "prometheus/registry.h"
#include "services/gateway/route_table.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace admit::gateway {

struct GatewayOptions {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 = any free
  // Origins allowed to call the API from a browser ("https://a.example",
  // exact match); "*" = any. Empty = no CORS headers (same-origin only).
  std::vector<std::string> allowed_origins;
  int64_t max_body_bytes = 64 * 1024;
  // Between two reads of a request (headers and body): a client that stalls
  // longer is disconnected.
  std::chrono::milliseconds read_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};
  // An idle keep-alive connection is closed after this.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(5)};
  int64_t threads = 64;
  int64_t max_in_flight = 256;
  std::chrono::milliseconds unary_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds stream_timeout{std::chrono::hours(1)};
  // An SSE comment line this often on a quiet stream (keeps proxies from
  // closing it, notices gone clients).
  std::chrono::milliseconds sse_heartbeat{std::chrono::seconds(15)};
  // Directory of the static pages; "" = none.
  std::string web_dir;
  // Renders a QR code PNG of a text (the ticket code, for the confirmation
  // page: POST /qr.png with the text as the body, at most 256 bytes); unset =
  // no such endpoint.
  std::function<absl::StatusOr<std::string>(absl::string_view)> qr_png;
};

// Registers the ADMIT_GATEWAY_* variables (see README.md).
void AddGatewaySettings(config::Settings& settings, GatewayOptions* options,
                        std::string* allowed_origins_text);

// Parses "https://a.example, http://localhost:8080" (comma or space
// separated) into options->allowed_origins.
absl::Status SetAllowedOrigins(const std::string& text,
                               GatewayOptions* options);

class Gateway {
 public:
  // `backends` maps each service's full name ("admit.v1.OrganizerService") to
  // the channel that reaches it; every route's service must have one.
  // `routes` and `registry` must outlive the gateway.
  Gateway(GatewayOptions options, const RouteTable* routes,
          std::map<std::string, std::shared_ptr<grpc::Channel>> backends,
          prometheus::Registry* registry);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Loads the pages, binds and starts serving on a thread of its own.
  // INVALID_ARGUMENT for a bad listen address or a route without a backend,
  // UNAVAILABLE when the address cannot be bound, NOT_FOUND when web_dir
  // cannot be read.
  absl::Status Start();
  // The bound port once started.
  int port() const { return port_; }

  // /healthz answers 503 from now on and every open stream ends; then stops
  // accepting, lets requests in progress finish, and returns. Idempotent.
  void Shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::thread listener_;
};

}  // namespace admit::gateway

#endif  // ADMIT_SERVICES_GATEWAY_GATEWAY_H_
