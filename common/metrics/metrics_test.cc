#include "common/metrics/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/metrics/grpc_server_metrics.h"
#include "common/metrics/metrics_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"

namespace admit::metrics {
namespace {

using ::testing::HasSubstr;
using testing::HttpGet;
using testing::PromtoolCheckMetrics;
using testing::SampleValue;

TEST(ValidateListenAddress, AcceptsIpLiteralsWithPort) {
  EXPECT_TRUE(ValidateListenAddress("127.0.0.1:9464").ok());
  EXPECT_TRUE(ValidateListenAddress("0.0.0.0:0").ok());
  EXPECT_TRUE(ValidateListenAddress("[::]:9464").ok());
  EXPECT_TRUE(ValidateListenAddress("[::1]:65535").ok());
}

TEST(ValidateListenAddress, RejectsOtherForms) {
  for (const char* bad : {"", "9464", "localhost:9464", "127.0.0.1",
                          "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                          "127.0.0.1:94a", "::1:9464", "[::1]", "1.2.3:80"}) {
    absl::Status status = ValidateListenAddress(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(status.message(), HasSubstr("IPv4:port")) << bad;
  }
}

TEST(MetricsExposer, ServesRegistryOnEphemeralPort) {
  MetricsExposer exposer;
  auto& family = prometheus::BuildCounter()
                     .Name("admit_test_events_total")
                     .Help("Events seen by the test.")
                     .Register(exposer.registry());
  family.Add({{"kind", "a"}}).Increment(3);
  ASSERT_TRUE(exposer.Start("127.0.0.1:0").ok());
  ASSERT_GT(exposer.port(), 0);

  absl::StatusOr<std::string> body = HttpGet(exposer.port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*SampleValue(*body, "admit_test_events_total", {{"kind", "a"}}), 3);

  exposer.Stop();
  EXPECT_FALSE(exposer.running());
  EXPECT_EQ(exposer.port(), 0);
}

TEST(MetricsExposer, TakenPortIsAClearError) {
  MetricsExposer first;
  ASSERT_TRUE(first.Start("127.0.0.1:0").ok());
  std::string listen = absl::StrCat("127.0.0.1:", first.port());

  MetricsExposer second;
  absl::Status status = second.Start(listen);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(),
              HasSubstr(absl::StrCat("cannot serve metrics on ", listen)));
  EXPECT_FALSE(second.running());
  // The first one is untouched.
  EXPECT_TRUE(HttpGet(first.port(), "/metrics").ok());
}

TEST(MetricsExposer, PortHeldByAPlainSocketIsAnError) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  MetricsExposer exposer;
  absl::Status status =
      exposer.Start(absl::StrCat("127.0.0.1:", ntohs(addr.sin_port)));
  ::close(fd);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST(MetricsExposer, StartTwiceIsAnError) {
  MetricsExposer exposer;
  ASSERT_TRUE(exposer.Start("127.0.0.1:0").ok());
  EXPECT_EQ(exposer.Start("127.0.0.1:0").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(MetricsExposer, InvalidAddressIsInvalidArgument) {
  MetricsExposer exposer;
  EXPECT_EQ(exposer.Start("localhost:9464").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GrpcCodeName, NamesEveryCode) {
  EXPECT_STREQ(GrpcCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_STREQ(GrpcCodeName(grpc::StatusCode::UNAVAILABLE), "UNAVAILABLE");
  EXPECT_STREQ(GrpcCodeName(grpc::StatusCode::UNAUTHENTICATED),
               "UNAUTHENTICATED");
  EXPECT_STREQ(GrpcCodeName(static_cast<grpc::StatusCode>(99)), "UNKNOWN");
}

TEST(GrpcServerMetrics, SplitsServiceAndMethod) {
  prometheus::Registry registry;
  GrpcServerMetrics metrics(registry);
  GrpcServerMetrics::Method* m = metrics.ForMethod("/admit.v1.Quota/Reserve");
  EXPECT_EQ(m->service, "admit.v1.Quota");
  EXPECT_EQ(m->method, "Reserve");
  EXPECT_EQ(metrics.ForMethod("/admit.v1.Quota/Reserve"), m);
  for (const char* odd : std::initializer_list<const char*>{
           "", "nonsense", "/a/b/c", "//x", "/svc/", nullptr}) {
    EXPECT_EQ(metrics.ForMethod(odd)->service, "unknown")
        << (odd ? odd : "nullptr");
  }
}

TEST(GrpcServerMetrics, BoundsTheNumberOfMethods) {
  prometheus::Registry registry;
  GrpcServerMetrics metrics(registry);
  for (size_t i = 0; i < GrpcServerMetrics::kMaxMethods + 10; ++i) {
    metrics.ForMethod(absl::StrCat("/s.S/M", i).c_str());
  }
  EXPECT_EQ(metrics.ForMethod("/s.S/OneMore")->service, "unknown");
}

TEST(GrpcServerMetrics, RecordsAndPassesPromtool) {
  prometheus::Registry registry;
  GrpcServerMetrics metrics(registry);
  GrpcServerMetrics::Method* m = metrics.ForMethod("/admit.v1.Quota/Reserve");
  metrics.RecordHandled(m, grpc::StatusCode::OK, 0.002);
  metrics.RecordHandled(m, grpc::StatusCode::OK, 0.004);
  metrics.RecordHandled(m, grpc::StatusCode::RESOURCE_EXHAUSTED, 0.001);

  std::string text = SerializeText(registry);
  std::map<std::string, std::string> labels{{"grpc_service", "admit.v1.Quota"},
                                            {"grpc_method", "Reserve"}};
  auto ok_labels = labels;
  ok_labels["grpc_code"] = "OK";
  EXPECT_EQ(*SampleValue(text, "grpc_server_handled_total", ok_labels), 2);
  auto exhausted = labels;
  exhausted["grpc_code"] = "RESOURCE_EXHAUSTED";
  EXPECT_EQ(*SampleValue(text, "grpc_server_handled_total", exhausted), 1);
  EXPECT_EQ(*SampleValue(text, "grpc_server_handling_seconds_count", labels),
            3);
  auto le = labels;
  le["le"] = "0.0025";
  EXPECT_EQ(*SampleValue(text, "grpc_server_handling_seconds_bucket", le), 2);
  EXPECT_THAT(text, HasSubstr("# HELP grpc_server_in_flight "));
  EXPECT_THAT(text, HasSubstr("# HELP grpc_server_started_total "));

  absl::Status lint = PromtoolCheckMetrics(text);
  EXPECT_TRUE(lint.ok()) << lint << "\n" << text;
}

TEST(PromtoolCheckMetrics, ComplainsAboutABadName) {
  // Guards the guard: a counter without _total must be reported.
  std::string text =
      "# HELP bad_counter A counter without the suffix.\n"
      "# TYPE bad_counter counter\n"
      "bad_counter 1\n";
  EXPECT_EQ(PromtoolCheckMetrics(text).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace admit::metrics
