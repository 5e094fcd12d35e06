// Client channels for service-to-service calls (registration -> quota, ...),
// configured to agree with admit's servers (server.h / options.h).
//
//   admit::server::ChannelOptions copts =
//       admit::server::ChannelOptionsFromServer(server_options);
//   auto channel = admit::server::MakeChannel("dns:///quota:50052", copts);
//   if (!channel.ok()) { ... }  // unreadable TLS files
//   auto stub = admit::v1::QuotaService::NewStub(*channel);
//   grpc::ClientContext ctx;
//   ctx.set_deadline(std::chrono::system_clock::now() + 2s);  // every call
//
// What the channel does:
// - load balancing: round_robin over every address the target resolves to.
//   Use a dns:/// target naming a headless Kubernetes Service so each pod IP
//   is a backend; servers send GOAWAY after ADMIT_GRPC_MAX_CONNECTION_AGE so
//   the client re-resolves and picks up new pods after a scale-up;
// - retries: calls that fail with UNAVAILABLE (server draining, connection
//   refused, dependency down) are retried up to retry_max_attempts in total
//   with exponential backoff, throttled when many fail (retryThrottling:
//   10 tokens, ratio 0.1) so retries cannot amplify an overload. admit's
//   RPCs are idempotent under retry (request ids); a non-idempotent RPC must
//   not be called through this channel;
// - keepalive: a ping every 30s (10s timeout), also when idle; servers
//   permit one every ADMIT_GRPC_PERMIT_KEEPALIVE_TIME (10s) so this never
//   trips their ping-abuse limit;
// - TLS: off, TLS (verify the server against tls_ca_file or the system
//   roots) or mTLS (also present tls_cert_file/tls_key_file).
#ifndef ADMIT_COMMON_SERVER_CHANNEL_H_
#define ADMIT_COMMON_SERVER_CHANNEL_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/server/options.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/channel_arguments.h"

namespace admit::server {

struct ChannelOptions {
  bool tls = false;
  // PEM roots that verify the server; "" = the system's roots.
  std::string tls_ca_file;
  // Client identity for mTLS; both or neither.
  std::string tls_cert_file;
  std::string tls_key_file;
  // The name checked against the server's certificate instead of the target's
  // host (tests, or certificates issued for a shared name). Also SNI.
  std::string tls_server_name;

  std::chrono::milliseconds keepalive_time{std::chrono::seconds(30)};
  std::chrono::milliseconds keepalive_timeout{std::chrono::seconds(10)};

  // Attempts in total, first one included; 1 disables retries; gRPC caps at 5.
  int retry_max_attempts = 4;
  std::chrono::milliseconds retry_initial_backoff{100};
  std::chrono::milliseconds retry_max_backoff{std::chrono::seconds(2)};
  double retry_backoff_multiplier = 2.0;
  // Upper bound on any call's deadline set through the service config; 0 =
  // none (callers still set their own; a shorter one wins).
  std::chrono::milliseconds default_timeout{0};
  std::string load_balancing_policy = "round_robin";
};

// Options for calling other admit services from a process configured with
// `server`: TLS when the server has TLS; with mTLS the server's client CA is
// also the roots that verify peers and its certificate/key are presented as
// the client identity (one CA signs every admit service).
ChannelOptions ChannelOptionsFromServer(const ServerOptions& server);

// The grpc.service_config JSON the channel uses (load balancing, retry policy
// for UNAVAILABLE, throttling, optional timeout).
std::string ServiceConfigJson(const ChannelOptions& options);

// The channel arguments MakeChannel sets (exposed for tests and for callers
// that build channels themselves).
grpc::ChannelArguments ChannelArgumentsFor(const ChannelOptions& options);

// A channel to `target` ("dns:///host:port", "host:port", "unix:/path").
// Returns INVALID_ARGUMENT naming the option when a TLS file cannot be read
// or only one of cert/key is set. Creating the channel does not connect; the
// first call (or WaitForConnected) does. Thread-safe; channels are meant to be
// created once and shared.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& target, const ChannelOptions& options);

}  // namespace admit::server

#endif  // ADMIT_COMMON_SERVER_CHANNEL_H_
