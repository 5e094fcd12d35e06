#include "common/status/status.h"

#include <gtest/gtest.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace admit {
namespace {

google::rpc::Status DetailsOf(const grpc::Status& status) {
  google::rpc::Status rpc;
  EXPECT_TRUE(rpc.ParseFromString(status.error_details()));
  return rpc;
}

TEST(ToGrpcStatus, OkStaysOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(ToGrpcStatus, KeepsCodeAndMessageWithoutDetails) {
  auto s = ToGrpcStatus(absl::FailedPreconditionError("registration closed"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "registration closed");
  EXPECT_TRUE(s.error_details().empty());
}

TEST(ToGrpcStatus, InvalidArgumentCarriesEveryFieldViolation) {
  auto s = ToGrpcStatus(InvalidArgumentError(
      {{"attendee.email", "must be a valid email address"},
       {"request_id", "is required"}}));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("attendee.email"), std::string::npos);
  auto rpc = DetailsOf(s);
  EXPECT_EQ(rpc.code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_EQ(rpc.details_size(), 1);
  google::rpc::BadRequest bad;
  ASSERT_TRUE(rpc.details(0).UnpackTo(&bad));
  ASSERT_EQ(bad.field_violations_size(), 2);
  EXPECT_EQ(bad.field_violations(0).field(), "attendee.email");
  EXPECT_EQ(bad.field_violations(1).field(), "request_id");
  EXPECT_EQ(bad.field_violations(1).description(), "is required");
}

TEST(ToGrpcStatus, RateLimitedCarriesRetryInfoAndQuotaFailure) {
  auto s = ToGrpcStatus(RateLimitedError("slow down",
                                         std::chrono::milliseconds(2500),
                                         "policy:ip", "10 per second"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  auto rpc = DetailsOf(s);
  google::rpc::RetryInfo retry;
  google::rpc::QuotaFailure quota;
  bool saw_retry = false, saw_quota = false;
  for (const auto& any : rpc.details()) {
    if (any.UnpackTo(&retry)) saw_retry = true;
    if (any.UnpackTo(&quota)) saw_quota = true;
  }
  ASSERT_TRUE(saw_retry);
  ASSERT_TRUE(saw_quota);
  EXPECT_EQ(retry.retry_delay().seconds(), 2);
  EXPECT_EQ(retry.retry_delay().nanos(), 500000000);
  ASSERT_EQ(quota.violations_size(), 1);
  EXPECT_EQ(quota.violations(0).subject(), "policy:ip");
}

TEST(ToGrpcStatus, ErrorInfoCarriesReasonAndDomain) {
  auto s = ToGrpcStatus(
      WithErrorInfo(absl::AlreadyExistsError("already registered"),
                    "ALREADY_REGISTERED"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  auto rpc = DetailsOf(s);
  ASSERT_EQ(rpc.details_size(), 1);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(rpc.details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "ALREADY_REGISTERED");
  EXPECT_EQ(info.domain(), "admit.v1");
}

TEST(FromGrpcStatus, RoundTripsCodeMessageAndDetails) {
  absl::Status original = WithErrorInfo(
      InvalidArgumentError({{"event_id", "is required"}}), "BAD_EVENT");
  absl::Status back = FromGrpcStatus(ToGrpcStatus(original));
  EXPECT_EQ(back.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(back.message(), original.message());
  auto violations = GetFieldViolations(back);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "event_id");
  EXPECT_EQ(GetErrorReason(back), "BAD_EVENT");
}

absl::StatusOr<int> Half(int n) {
  if (n % 2 != 0) return absl::InvalidArgumentError("odd");
  return n / 2;
}

absl::StatusOr<int> Quarter(int n) {
  ASSIGN_OR_RETURN(int half, Half(n));
  ASSIGN_OR_RETURN(auto quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int n) {
  RETURN_IF_ERROR(Half(n).status());
  return absl::OkStatus();
}

TEST(StatusMacros, PropagateErrorsAndValues) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_FALSE(CheckEven(3).ok());
}

}  // namespace
}  // namespace admit
