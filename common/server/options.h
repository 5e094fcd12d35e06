// Settings of admit's gRPC server bootstrap (admit::server::Server) and the
// environment variables they come from.
//
//   variable                           default      meaning
//   ADMIT_GRPC_LISTEN                  per service  host:port or unix:/path
//   ADMIT_METRICS_LISTEN               per service  IPv4:port, [IPv6]:port;
//                                                   "" = no /metrics
//   ADMIT_DRAIN_TIMEOUT                10s          in-flight calls may run
//                                                   this long on shutdown
//   ADMIT_SHUTDOWN_DELAY               0s           NOT_SERVING -> stop
//                                                   accepting (k8s: longer
//                                                   than the probe period)
//   ADMIT_TLS_CERT_FILE                ""           PEM chain; + key = TLS
//   ADMIT_TLS_KEY_FILE                 ""           PEM private key
//   ADMIT_TLS_CLIENT_CA_FILE           ""           PEM CAs; set = mTLS
//                                                   (client certs required)
//   ADMIT_GRPC_MAX_CONCURRENT_STREAMS  0            per connection; 0 =
//                                                   gRPC's default (none)
//   ADMIT_GRPC_KEEPALIVE_TIME          60s          server pings idle clients
//   ADMIT_GRPC_KEEPALIVE_TIMEOUT       20s          unacked ping -> close
//   ADMIT_GRPC_PERMIT_KEEPALIVE_TIME   10s          clients may ping this often
//   ADMIT_GRPC_MAX_CONNECTION_AGE      5m           then GOAWAY; 0 = never
//
// Keepalive agreement. admit's clients (MakeChannel in channel.h) ping every
// 30s (timeout 10s), also with no call in flight. The server permits pings
// every 10s (>= 3x margin) without calls, so clients never get a
// "too_many_pings" GOAWAY; anything that pings more often than
// ADMIT_GRPC_PERMIT_KEEPALIVE_TIME must be reconfigured, not the server.
// Max connection age makes clients that balance over DNS (headless k8s
// Services, round_robin) re-resolve and spread onto new pods after a
// scale-up; its grace period is ADMIT_DRAIN_TIMEOUT.
#ifndef ADMIT_COMMON_SERVER_OPTIONS_H_
#define ADMIT_COMMON_SERVER_OPTIONS_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/config/config.h"

namespace admit::server {

// Variable names, for error messages and docs.
inline constexpr char kGrpcListenVar[] = "ADMIT_GRPC_LISTEN";
inline constexpr char kMetricsListenVar[] = "ADMIT_METRICS_LISTEN";
inline constexpr char kDrainTimeoutVar[] = "ADMIT_DRAIN_TIMEOUT";
inline constexpr char kShutdownDelayVar[] = "ADMIT_SHUTDOWN_DELAY";
inline constexpr char kTlsCertFileVar[] = "ADMIT_TLS_CERT_FILE";
inline constexpr char kTlsKeyFileVar[] = "ADMIT_TLS_KEY_FILE";
inline constexpr char kTlsClientCaFileVar[] = "ADMIT_TLS_CLIENT_CA_FILE";
inline constexpr char kMaxConcurrentStreamsVar[] =
    "ADMIT_GRPC_MAX_CONCURRENT_STREAMS";
inline constexpr char kKeepaliveTimeVar[] = "ADMIT_GRPC_KEEPALIVE_TIME";
inline constexpr char kKeepaliveTimeoutVar[] = "ADMIT_GRPC_KEEPALIVE_TIMEOUT";
inline constexpr char kPermitKeepaliveTimeVar[] =
    "ADMIT_GRPC_PERMIT_KEEPALIVE_TIME";
inline constexpr char kMaxConnectionAgeVar[] = "ADMIT_GRPC_MAX_CONNECTION_AGE";

// Plain values; the defaults here are the documented defaults (except the
// two listen addresses, which each service picks).
struct ServerOptions {
  std::string grpc_listen = "127.0.0.1:50051";
  // "" disables the metrics endpoint (the registry still exists).
  std::string metrics_listen = "127.0.0.1:9464";
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds shutdown_delay{0};
  // TLS is on when cert and key are both set; client CA requires them.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  int64_t max_concurrent_streams = 0;
  std::chrono::milliseconds keepalive_time{std::chrono::seconds(60)};
  std::chrono::milliseconds keepalive_timeout{std::chrono::seconds(20)};
  std::chrono::milliseconds permit_keepalive_time{std::chrono::seconds(10)};
  std::chrono::milliseconds max_connection_age{std::chrono::minutes(5)};

  bool tls() const { return !tls_cert_file.empty(); }
  bool mtls() const { return !tls_client_ca_file.empty(); }
};

// Registers the variables in the table above with `settings`, writing into
// `options` (which must outlive settings.Load()). The listen defaults are the
// service's own (each service has its own ports, so several run on one
// machine).
void AddServerSettings(config::Settings& settings, ServerOptions* options,
                       std::string default_grpc_listen,
                       std::string default_metrics_listen);

// Checks what Settings cannot: address forms and combinations. Returns
// INVALID_ARGUMENT naming the variable on the first problem:
//   ADMIT_GRPC_LISTEN not host:port (port 0-65535; host a name, an IPv4
//   literal or [IPv6]) nor unix:/path; ADMIT_METRICS_LISTEN not IPv4:port or
//   [IPv6]:port (or empty); only one of cert/key set; a client CA without a
//   certificate; keepalive values of 0 or a negative stream limit.
// Files are not read here (Server::Start reads them).
absl::Status Validate(const ServerOptions& options);

}  // namespace admit::server

#endif  // ADMIT_COMMON_SERVER_OPTIONS_H_
