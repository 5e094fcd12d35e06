#include "common/server/options.h"

#include <map>
#include <optional>
#include <string>

#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace admit::server {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

config::Lookup MapLookup(const std::map<std::string, std::string>& values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

absl::Status Load(const std::map<std::string, std::string>& env,
                  ServerOptions* options) {
  config::Settings settings("admit-test", "Test.");
  AddServerSettings(settings, options, "127.0.0.1:50061", "127.0.0.1:9471");
  return settings.Load(MapLookup(env));
}

TEST(ServerSettings, DefaultsWhenUnset) {
  ServerOptions options;
  ASSERT_TRUE(Load({}, &options).ok());
  EXPECT_EQ(options.grpc_listen, "127.0.0.1:50061");
  EXPECT_EQ(options.metrics_listen, "127.0.0.1:9471");
  EXPECT_EQ(options.drain_timeout, 10s);
  EXPECT_EQ(options.shutdown_delay, 0s);
  EXPECT_FALSE(options.tls());
  EXPECT_FALSE(options.mtls());
  EXPECT_EQ(options.keepalive_time, 60s);
  EXPECT_EQ(options.keepalive_timeout, 20s);
  EXPECT_EQ(options.permit_keepalive_time, 10s);
  EXPECT_EQ(options.max_connection_age, 5min);
  EXPECT_EQ(options.max_concurrent_streams, 0);
  EXPECT_TRUE(Validate(options).ok());
}

TEST(ServerSettings, EnvironmentOverrides) {
  ServerOptions options;
  ASSERT_TRUE(Load({{"ADMIT_GRPC_LISTEN", "0.0.0.0:6000"},
                    {"ADMIT_METRICS_LISTEN", ""},
                    {"ADMIT_DRAIN_TIMEOUT", "3s"},
                    {"ADMIT_SHUTDOWN_DELAY", "5s"},
                    {"ADMIT_TLS_CERT_FILE", "/etc/admit/tls.crt"},
                    {"ADMIT_TLS_KEY_FILE", "/etc/admit/tls.key"},
                    {"ADMIT_TLS_CLIENT_CA_FILE", "/etc/admit/ca.crt"},
                    {"ADMIT_GRPC_MAX_CONCURRENT_STREAMS", "200"},
                    {"ADMIT_GRPC_KEEPALIVE_TIME", "2m"},
                    {"ADMIT_GRPC_KEEPALIVE_TIMEOUT", "5s"},
                    {"ADMIT_GRPC_PERMIT_KEEPALIVE_TIME", "20s"},
                    {"ADMIT_GRPC_MAX_CONNECTION_AGE", "0s"}},
                   &options)
                  .ok());
  EXPECT_EQ(options.grpc_listen, "0.0.0.0:6000");
  EXPECT_EQ(options.metrics_listen, "");
  EXPECT_EQ(options.drain_timeout, 3s);
  EXPECT_EQ(options.shutdown_delay, 5s);
  EXPECT_TRUE(options.tls());
  EXPECT_TRUE(options.mtls());
  EXPECT_EQ(options.max_concurrent_streams, 200);
  EXPECT_EQ(options.keepalive_time, 2min);
  EXPECT_EQ(options.keepalive_timeout, 5s);
  EXPECT_EQ(options.permit_keepalive_time, 20s);
  EXPECT_EQ(options.max_connection_age, 0s);
  EXPECT_TRUE(Validate(options).ok());
}

TEST(ServerSettings, BadDurationNamesTheVariable) {
  ServerOptions options;
  absl::Status status = Load({{"ADMIT_DRAIN_TIMEOUT", "ten"}}, &options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("ADMIT_DRAIN_TIMEOUT"));
}

TEST(ServerSettings, NegativeStreamLimitNamesTheVariable) {
  ServerOptions options;
  absl::Status status =
      Load({{"ADMIT_GRPC_MAX_CONCURRENT_STREAMS", "-1"}}, &options);
  EXPECT_THAT(status.message(), HasSubstr("ADMIT_GRPC_MAX_CONCURRENT_STREAMS"));
}

TEST(ServerSettings, HelpListsEveryVariable) {
  ServerOptions options;
  config::Settings settings("admit-test", "Test.");
  AddServerSettings(settings, &options, "127.0.0.1:1", "127.0.0.1:2");
  std::string help = settings.Help();
  for (const char* name :
       {kGrpcListenVar, kMetricsListenVar, kDrainTimeoutVar, kShutdownDelayVar,
        kTlsCertFileVar, kTlsKeyFileVar, kTlsClientCaFileVar,
        kMaxConcurrentStreamsVar, kKeepaliveTimeVar, kKeepaliveTimeoutVar,
        kPermitKeepaliveTimeVar, kMaxConnectionAgeVar}) {
    EXPECT_THAT(help, HasSubstr(name));
  }
}

TEST(Validate, AcceptsListenForms) {
  for (const char* listen :
       {"127.0.0.1:50051", "0.0.0.0:0", "[::]:50051", "[::1]:1",
        "localhost:50051", "quota-0.quota.admit.svc:50051",
        "unix:/tmp/a.sock"}) {
    ServerOptions options;
    options.grpc_listen = listen;
    EXPECT_TRUE(Validate(options).ok()) << listen;
  }
}

TEST(Validate, InvalidGrpcListenNamesTheVariable) {
  for (const char* listen :
       {"", "50051", "127.0.0.1", "127.0.0.1:port", "127.0.0.1:70000",
        "::1:50051", "[::1]", "host name:1", "unix:", ":50051"}) {
    ServerOptions options;
    options.grpc_listen = listen;
    absl::Status status = Validate(options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << listen;
    EXPECT_THAT(status.message(), HasSubstr("ADMIT_GRPC_LISTEN")) << listen;
  }
}

TEST(Validate, InvalidMetricsListenNamesTheVariable) {
  ServerOptions options;
  options.metrics_listen = "localhost:9464";  // civetweb wants an IP literal
  absl::Status status = Validate(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("ADMIT_METRICS_LISTEN"));
  options.metrics_listen = "";  // disabled is fine
  EXPECT_TRUE(Validate(options).ok());
}

TEST(Validate, TlsFilesComeInPairs) {
  ServerOptions options;
  options.tls_cert_file = "/x.crt";
  absl::Status status = Validate(options);
  EXPECT_THAT(status.message(), HasSubstr("ADMIT_TLS_KEY_FILE"));

  options = ServerOptions();
  options.tls_key_file = "/x.key";
  EXPECT_THAT(Validate(options).message(), HasSubstr("ADMIT_TLS_CERT_FILE"));

  options = ServerOptions();
  options.tls_client_ca_file = "/ca.crt";
  status = Validate(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("ADMIT_TLS_CLIENT_CA_FILE"));
}

TEST(Validate, KeepaliveMustBePositive) {
  ServerOptions options;
  options.keepalive_time = 0ms;
  EXPECT_THAT(Validate(options).message(),
              HasSubstr("ADMIT_GRPC_KEEPALIVE_TIME"));
  options = ServerOptions();
  options.keepalive_timeout = 0ms;
  EXPECT_THAT(Validate(options).message(),
              HasSubstr("ADMIT_GRPC_KEEPALIVE_TIMEOUT"));
}

}  // namespace
}  // namespace admit::server
