#include "common/server/options.h"

#include <arpa/inet.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/metrics/metrics.h"

namespace admit::server {

namespace {

bool ValidPort(const std::string& text) {
  if (text.empty() || text.size() > 5) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  int port = 0;
  return absl::SimpleAtoi(text, &port) && port >= 0 && port <= 65535;
}

bool ValidHostName(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' &&
        c != '.' && c != '_') {
      return false;
    }
  }
  return host.front() != '-' && host.front() != '.';
}

absl::Status ValidateGrpcListen(const std::string& listen) {
  if (absl::StartsWith(listen, "unix:")) {
    if (listen.size() > 5) return absl::OkStatus();
  } else {
    size_t colon = listen.rfind(':');
    if (colon != std::string::npos && ValidPort(listen.substr(colon + 1))) {
      std::string host = listen.substr(0, colon);
      unsigned char buffer[sizeof(in6_addr)];
      if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        std::string inner = host.substr(1, host.size() - 2);
        if (inet_pton(AF_INET6, inner.c_str(), buffer) == 1) {
          return absl::OkStatus();
        }
      } else if (host.find(':') == std::string::npos && ValidHostName(host)) {
        return absl::OkStatus();
      }
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      kGrpcListenVar, "=\"", listen,
      "\" is not a listen address; expected host:port (127.0.0.1:50051, "
      "0.0.0.0:50051, [::]:50051, port 0 = any free port) or unix:/path"));
}

}  // namespace

void AddServerSettings(config::Settings& settings, ServerOptions* options,
                       std::string default_grpc_listen,
                       std::string default_metrics_listen) {
  const ServerOptions defaults;
  settings.AddString(kGrpcListenVar, std::move(default_grpc_listen),
                     "gRPC listen address: host:port (port 0 = any free "
                     "port) or unix:/path. Plaintext unless "
                     "ADMIT_TLS_CERT_FILE/ADMIT_TLS_KEY_FILE are set.",
                     &options->grpc_listen);
  settings.AddString(kMetricsListenVar, std::move(default_metrics_listen),
                     "Prometheus /metrics listen address, IPv4:port or "
                     "[IPv6]:port; empty disables the endpoint.",
                     &options->metrics_listen);
  settings.AddDuration(kDrainTimeoutVar, defaults.drain_timeout,
                       "On SIGTERM/SIGINT, how long in-flight calls may run "
                       "before they are cancelled. Also the grace period "
                       "after ADMIT_GRPC_MAX_CONNECTION_AGE.",
                       &options->drain_timeout);
  settings.AddDuration(kShutdownDelayVar, defaults.shutdown_delay,
                       "On SIGTERM/SIGINT, how long to keep accepting calls "
                       "after health turns NOT_SERVING (Kubernetes: longer "
                       "than the readiness probe period, so the pod leaves "
                       "the endpoints first).",
                       &options->shutdown_delay);
  settings.AddString(kTlsCertFileVar, "",
                     "PEM certificate chain for the gRPC port; with "
                     "ADMIT_TLS_KEY_FILE turns TLS on. Also the client "
                     "certificate for mTLS calls to other services.",
                     &options->tls_cert_file);
  settings.AddString(kTlsKeyFileVar, "",
                     "PEM private key of ADMIT_TLS_CERT_FILE.",
                     &options->tls_key_file);
  settings.AddString(kTlsClientCaFileVar, "",
                     "PEM CA bundle; when set, clients must present a "
                     "certificate it signed (mTLS). Also the roots that "
                     "verify other admit services.",
                     &options->tls_client_ca_file);
  settings.AddInt(kMaxConcurrentStreamsVar, defaults.max_concurrent_streams,
                  "Concurrent calls per client connection; 0 = gRPC's "
                  "default (no limit).",
                  &options->max_concurrent_streams, 0, 1 << 20);
  settings.AddDuration(kKeepaliveTimeVar, defaults.keepalive_time,
                       "The server pings a client connection after this much "
                       "idle time.",
                       &options->keepalive_time);
  settings.AddDuration(kKeepaliveTimeoutVar, defaults.keepalive_timeout,
                       "A connection whose keepalive ping is not acknowledged "
                       "within this is closed.",
                       &options->keepalive_timeout);
  settings.AddDuration(kPermitKeepaliveTimeVar, defaults.permit_keepalive_time,
                       "Minimum interval between client keepalive pings "
                       "(clients made by admit ping every 30s); faster "
                       "pingers get GOAWAY too_many_pings.",
                       &options->permit_keepalive_time);
  settings.AddDuration(kMaxConnectionAgeVar, defaults.max_connection_age,
                       "Connections get a GOAWAY after this long (+-10%), so "
                       "DNS round-robin clients rebalance onto new replicas; "
                       "0 = never.",
                       &options->max_connection_age);
}

absl::Status Validate(const ServerOptions& options) {
  absl::Status grpc = ValidateGrpcListen(options.grpc_listen);
  if (!grpc.ok()) return grpc;
  if (!options.metrics_listen.empty()) {
    absl::Status metrics =
        metrics::ValidateListenAddress(options.metrics_listen);
    if (!metrics.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kMetricsListenVar, ": ", metrics.message()));
    }
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        kTlsCertFileVar, " and ", kTlsKeyFileVar,
        " must be set together (TLS needs both the certificate and its key)"));
  }
  if (!options.tls_client_ca_file.empty() && options.tls_cert_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        kTlsClientCaFileVar, " is set but ", kTlsCertFileVar, " and ",
        kTlsKeyFileVar,
        " are not: verifying client certificates needs a TLS server"));
  }
  if (options.keepalive_time.count() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kKeepaliveTimeVar, " must be greater than 0"));
  }
  if (options.keepalive_timeout.count() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kKeepaliveTimeoutVar, " must be greater than 0"));
  }
  if (options.max_concurrent_streams < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kMaxConcurrentStreamsVar, " must be >= 0"));
  }
  if (options.drain_timeout.count() < 0 || options.shutdown_delay.count() < 0 ||
      options.permit_keepalive_time.count() < 0 ||
      options.max_connection_age.count() < 0) {
    return absl::InvalidArgumentError(
        "durations must not be negative (ADMIT_DRAIN_TIMEOUT, "
        "ADMIT_SHUTDOWN_DELAY, ADMIT_GRPC_PERMIT_KEEPALIVE_TIME, "
        "ADMIT_GRPC_MAX_CONNECTION_AGE)");
  }
  return absl::OkStatus();
}

}  // namespace admit::server
