#include "common/server/channel.h"

#include <string>

#include "common/server/server.h"
#include "common/server/testdata/echo_service.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/validate_service_config.h"
#include "gtest/gtest.h"

namespace admit::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

TEST(ServiceConfigJson, DefaultIsValidWithRoundRobinAndRetries) {
  std::string json = ServiceConfigJson(ChannelOptions());
  EXPECT_EQ(grpc::experimental::ValidateServiceConfigJSON(json), "") << json;
  EXPECT_THAT(json, HasSubstr("\"round_robin\""));
  EXPECT_THAT(json, HasSubstr("\"retryableStatusCodes\":[\"UNAVAILABLE\"]"));
  EXPECT_THAT(json, HasSubstr("\"maxAttempts\":4"));
  EXPECT_THAT(json, HasSubstr("\"initialBackoff\":\"0.100s\""));
  EXPECT_THAT(json, HasSubstr("\"maxBackoff\":\"2.000s\""));
  EXPECT_THAT(json, HasSubstr("retryThrottling"));
  EXPECT_THAT(json, Not(HasSubstr("timeout")));
}

TEST(ServiceConfigJson, VariantsAreValid) {
  ChannelOptions no_retry;
  no_retry.retry_max_attempts = 1;
  std::string json = ServiceConfigJson(no_retry);
  EXPECT_EQ(grpc::experimental::ValidateServiceConfigJSON(json), "") << json;
  EXPECT_THAT(json, Not(HasSubstr("retryPolicy")));

  ChannelOptions timeout;
  timeout.default_timeout = 1500ms;
  timeout.retry_max_attempts = 9;  // capped at gRPC's maximum
  json = ServiceConfigJson(timeout);
  EXPECT_EQ(grpc::experimental::ValidateServiceConfigJSON(json), "") << json;
  EXPECT_THAT(json, HasSubstr("\"timeout\":\"1.500s\""));
  EXPECT_THAT(json, HasSubstr("\"maxAttempts\":5"));

  ChannelOptions pick_first;
  pick_first.load_balancing_policy = "pick_first";
  json = ServiceConfigJson(pick_first);
  EXPECT_EQ(grpc::experimental::ValidateServiceConfigJSON(json), "") << json;
}

TEST(ChannelOptions, KeepaliveAgreesWithServerDefaults) {
  // A client pinging more often than the server permits gets GOAWAY
  // too_many_pings; admit's defaults must leave a margin.
  EXPECT_GE(ChannelOptions().keepalive_time,
            2 * ServerOptions().permit_keepalive_time);
}

TEST(ChannelOptions, FromServerCopiesMutualTls) {
  ServerOptions server;
  EXPECT_FALSE(ChannelOptionsFromServer(server).tls);
  server.tls_cert_file = "/c.pem";
  server.tls_key_file = "/k.pem";
  ChannelOptions tls = ChannelOptionsFromServer(server);
  EXPECT_TRUE(tls.tls);
  EXPECT_EQ(tls.tls_cert_file, "");
  server.tls_client_ca_file = "/ca.pem";
  ChannelOptions mtls = ChannelOptionsFromServer(server);
  EXPECT_EQ(mtls.tls_ca_file, "/ca.pem");
  EXPECT_EQ(mtls.tls_cert_file, "/c.pem");
  EXPECT_EQ(mtls.tls_key_file, "/k.pem");
}

TEST(MakeChannel, UnreadableTlsFileIsAnError) {
  ChannelOptions options;
  options.tls = true;
  options.tls_ca_file = "/nonexistent/ca.pem";
  auto channel = MakeChannel("127.0.0.1:1", options);
  EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(channel.status().message(), HasSubstr("tls_ca_file"));

  options.tls_ca_file = "";
  options.tls_cert_file = "/nonexistent/c.pem";
  EXPECT_EQ(MakeChannel("127.0.0.1:1", options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

class ChannelRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.grpc_listen = "127.0.0.1:0";
    options.metrics_listen = "";
    server_ = std::make_unique<Server>(options);
    server_->AddService(&echo_);
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override { server_.reset(); }

  absl::StatusOr<admit::testing::SayResponse> Say(const ChannelOptions& options,
                                                  const std::string& key,
                                                  int fail) {
    auto channel = MakeChannel("dns:///" + server_->grpc_target(), options);
    if (!channel.ok()) return channel.status();
    auto stub = admit::testing::Echo::NewStub(*channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    admit::testing::SayRequest request;
    request.set_text("hi");
    request.set_key(key);
    request.set_fail_attempts(fail);
    admit::testing::SayResponse response;
    grpc::Status status = stub->Say(&context, request, &response);
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    return response;
  }

  testdata::EchoService echo_;
  std::unique_ptr<Server> server_;
};

TEST_F(ChannelRetryTest, RetriesUnavailable) {
  auto response = Say(ChannelOptions(), "retry", 2);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->text(), "hi");
  EXPECT_EQ(response->attempt(), 3);  // two UNAVAILABLE, then OK
}

TEST_F(ChannelRetryTest, GivesUpAfterMaxAttempts) {
  ChannelOptions options;
  options.retry_max_attempts = 2;
  auto response = Say(options, "give-up", 5);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ChannelRetryTest, NoRetryWhenDisabled) {
  ChannelOptions options;
  options.retry_max_attempts = 1;
  auto response = Say(options, "no-retry", 1);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace admit::server
