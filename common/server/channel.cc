#include "common/server/channel.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/server/pem.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace admit::server {

namespace {

// A protobuf JSON Duration: seconds with up to 9 decimals and an "s".
std::string JsonDuration(std::chrono::milliseconds value) {
  return absl::StrFormat("%d.%03ds", value.count() / 1000,
                         value.count() % 1000);
}

int ToIntMillis(std::chrono::milliseconds value) {
  return static_cast<int>(std::clamp<int64_t>(value.count(), 0, INT32_MAX));
}

}  // namespace

ChannelOptions ChannelOptionsFromServer(const ServerOptions& server) {
  ChannelOptions options;
  options.tls = server.tls();
  if (server.mtls()) {
    options.tls_ca_file = server.tls_client_ca_file;
    options.tls_cert_file = server.tls_cert_file;
    options.tls_key_file = server.tls_key_file;
  }
  return options;
}

std::string ServiceConfigJson(const ChannelOptions& options) {
  std::string method_config = "{\"name\":[{}]";
  if (options.retry_max_attempts > 1) {
    absl::StrAppend(
        &method_config, ",\"retryPolicy\":{",
        "\"maxAttempts\":", std::min(options.retry_max_attempts, 5),
        ",\"initialBackoff\":\"", JsonDuration(options.retry_initial_backoff),
        "\",\"maxBackoff\":\"", JsonDuration(options.retry_max_backoff),
        "\",\"backoffMultiplier\":",
        absl::StrFormat("%g", options.retry_backoff_multiplier),
        ",\"retryableStatusCodes\":[\"UNAVAILABLE\"]}");
  }
  if (options.default_timeout.count() > 0) {
    absl::StrAppend(&method_config, ",\"timeout\":\"",
                    JsonDuration(options.default_timeout), "\"");
  }
  absl::StrAppend(&method_config, "}");
  std::string json = absl::StrCat(
      "{\"loadBalancingConfig\":[{\"", options.load_balancing_policy,
      "\":{}}],\"methodConfig\":[", method_config, "]");
  if (options.retry_max_attempts > 1) {
    absl::StrAppend(&json,
                    ",\"retryThrottling\":{\"maxTokens\":10,"
                    "\"tokenRatio\":0.1}");
  }
  absl::StrAppend(&json, "}");
  return json;
}

grpc::ChannelArguments ChannelArgumentsFor(const ChannelOptions& options) {
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(ServiceConfigJson(options));
  // The config above is the only one: ignore any from DNS TXT records.
  args.SetInt(GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION, 1);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, options.retry_max_attempts > 1 ? 1 : 0);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, ToIntMillis(options.keepalive_time));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
              ToIntMillis(options.keepalive_timeout));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Keep pinging an idle connection (the default stops after 2 pings).
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  if (options.tls && !options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  return args;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& target, const ChannelOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (!options.tls) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca_file.empty()) {
      absl::StatusOr<std::string> ca = internal::ReadPemFile(
          options.tls_ca_file, "tls_ca_file", internal::kPemCertificate);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
    }
    if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
      return absl::InvalidArgumentError(
          "tls_cert_file and tls_key_file must be set together");
    }
    if (!options.tls_cert_file.empty()) {
      absl::StatusOr<std::string> cert = internal::ReadPemFile(
          options.tls_cert_file, "tls_cert_file", internal::kPemCertificate);
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = internal::ReadPemFile(
          options.tls_key_file, "tls_key_file", internal::kPemPrivateKey);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    credentials = grpc::SslCredentials(ssl);
  }
  return grpc::CreateCustomChannel(target, credentials,
                                   ChannelArgumentsFor(options));
}

}  // namespace admit::server
