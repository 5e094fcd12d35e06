#include <string>

#include "admit/v1/confirmation.pb.h"
#include "admit/v1/organizer.pb.h"
#include "admit/v1/registration.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "services/gateway/admit_api.h"
#include "services/gateway/route_table.h"
#include "services/gateway/transcoder.h"

namespace admit::gateway {
namespace {

class TranscodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto table = RouteTable::FromServices(AdmitServices());
    ASSERT_TRUE(table.ok()) << table.status();
    table_ = *std::move(table);
  }
  std::unique_ptr<RouteTable> table_;
};

TEST_F(TranscodeTest, EveryAnnotatedPublicAndOrganizerMethodHasARoute) {
  int annotated = 0;
  for (const std::string& name : AdmitServices()) {
    const auto* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i) {
      ++annotated;
      bool found = false;
      for (const Route& r : table_->routes())
        found |= r.method == service->method(i);
      EXPECT_TRUE(found) << service->method(i)->full_name()
                         << " has no google.api.http route";
    }
  }
  EXPECT_EQ(static_cast<int>(table_->routes().size()), annotated);
}

TEST_F(TranscodeTest, MatchesTemplatesVerbsAndMethods) {
  RouteMatch m = table_->Match("POST", "/v1/events/pp-2026/registrations");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method->name(), "Register");
  ASSERT_EQ(m.bindings.size(), 1u);
  EXPECT_EQ(m.bindings[0].first, "event_id");
  EXPECT_EQ(m.bindings[0].second, "pp-2026");

  m = table_->Match("GET", "/v1/organizer/events/pp-2026/counts:watch");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method->name(), "WatchRegistrationCounts");
  m = table_->Match("GET", "/v1/organizer/events/pp-2026/counts");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method->name(), "GetRegistrationCounts");
  m = table_->Match("POST", "/v1/registrations/abc:resendConfirmation");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method->name(), "ResendConfirmation");
  EXPECT_EQ(m.bindings[0].second, "abc");
  m = table_->Match("PATCH", "/v1/organizer/events/e%2D1");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.bindings[0].first, "event.id");
  EXPECT_EQ(m.bindings[0].second, "e-1");

  m = table_->Match("PUT", "/v1/registrations/abc");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allowed_methods.size(), 2u);  // GET and DELETE
  m = table_->Match("GET", "/v1/registrations/abc:unknownVerb");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_TRUE(table_->Match("GET", "/v1/events//availability").route ==
              nullptr);
  EXPECT_TRUE(table_->Match("GET", "/v1/events/a%2Fb/availability").route ==
              nullptr);
  EXPECT_TRUE(table_->Match("GET", "/v1/nothing").route == nullptr);
}

TEST(PathTemplate, RefusesWhatItCannotServe) {
  Route r;
  EXPECT_FALSE(ParsePathTemplate("/v1/{name=projects/*}", &r).ok());
  EXPECT_FALSE(ParsePathTemplate("/v1/**", &r).ok());
  EXPECT_FALSE(ParsePathTemplate("v1/x", &r).ok());
  EXPECT_FALSE(ParsePathTemplate("/v1//x", &r).ok());
  ASSERT_TRUE(ParsePathTemplate("/v1/{a.b=*}/x:do", &r).ok());
  EXPECT_EQ(r.verb, "do");
  EXPECT_EQ(r.segments[1].text, "a.b");
}

TEST_F(TranscodeTest, BodyStarPathWinsAndJsonMapping) {
  RouteMatch m = table_->Match("POST", "/v1/events/pp-2026/registrations");
  HttpRequestParts parts;
  parts.bindings = m.bindings;
  parts.body =
      R"({"requestId":"r1","eventId":"other","ticketTypeId":"delegate",
          "attendee":{"email":"a@example.org","full_name":"Ann","countryCode":"CH"}})";
  auto bytes = BuildRequest(*m.route, parts);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  v1::RegisterRequest req;
  ASSERT_TRUE(req.ParseFromString(*bytes));
  EXPECT_EQ(req.event_id(), "pp-2026");
  EXPECT_EQ(req.request_id(), "r1");
  EXPECT_EQ(req.attendee().full_name(), "Ann");

  parts.body = R"({"requestId": 5, "nope": 1})";
  auto bad = BuildRequest(*m.route, parts);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  parts.body = "{";
  EXPECT_EQ(BuildRequest(*m.route, parts).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TranscodeTest, ManageTokenFromHeaderNeverFromQuery) {
  RouteMatch m = table_->Match("GET", "/v1/registrations/r-1");
  HttpRequestParts parts;
  parts.bindings = m.bindings;
  parts.query = {{"manage_token", "from-url"}, {"manageToken", "from-url"}};
  auto bytes = BuildRequest(*m.route, parts);
  ASSERT_TRUE(bytes.ok());
  v1::GetRegistrationRequest req;
  ASSERT_TRUE(req.ParseFromString(*bytes));
  EXPECT_EQ(req.manage_token(), "");
  parts.manage_token = "from-header";
  bytes = BuildRequest(*m.route, parts);
  ASSERT_TRUE(req.ParseFromString(*bytes));
  EXPECT_EQ(req.registration_id(), "r-1");
  EXPECT_EQ(req.manage_token(), "from-header");
}

TEST_F(TranscodeTest, QueryParametersThroughTheJsonMapping) {
  RouteMatch m = table_->Match("GET", "/v1/organizer/events/e1/registrations");
  HttpRequestParts parts;
  parts.bindings = m.bindings;
  parts.query = {{"status", "REGISTRATION_STATUS_CONFIRMED"},
                 {"pageSize", "20"},
                 {"email_prefix", "ann\"\\"},
                 {"_", "123"}};
  auto bytes = BuildRequest(*m.route, parts);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  v1::ListRegistrationsRequest req;
  ASSERT_TRUE(req.ParseFromString(*bytes));
  EXPECT_EQ(req.status(), v1::REGISTRATION_STATUS_CONFIRMED);
  EXPECT_EQ(req.page_size(), 20);
  EXPECT_EQ(req.email_prefix(), "ann\"\\");
  parts.query = {{"pageSize", "many"}};
  EXPECT_EQ(BuildRequest(*m.route, parts).status().code(),
            absl::StatusCode::kInvalidArgument);

  m = table_->Match("GET", "/v1/organizer/events/e1/counts:watch");
  parts = {};
  parts.bindings = m.bindings;
  parts.query = {{"min_interval", "2.5s"}};
  bytes = BuildRequest(*m.route, parts);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  v1::WatchRegistrationCountsRequest watch;
  ASSERT_TRUE(watch.ParseFromString(*bytes));
  EXPECT_EQ(watch.min_interval().seconds(), 2);
  EXPECT_EQ(watch.min_interval().nanos(), 500000000);
}

TEST_F(TranscodeTest, BodyFieldAndNestedPathVariable) {
  RouteMatch m = table_->Match("PATCH", "/v1/organizer/events/pp-2026");
  HttpRequestParts parts;
  parts.bindings = m.bindings;
  parts.body = R"({"name":"Plenipot","capacity":1300})";
  parts.query = {{"updateMask", "name,capacity"}, {"event.name", "from-query"}};
  auto bytes = BuildRequest(*m.route, parts);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  v1::UpdateEventRequest req;
  ASSERT_TRUE(req.ParseFromString(*bytes));
  EXPECT_EQ(req.event().id(), "pp-2026");
  EXPECT_EQ(req.event().name(), "Plenipot");
  EXPECT_EQ(req.event().capacity(), 1300);
  ASSERT_EQ(req.update_mask().paths_size(), 2);
  EXPECT_EQ(req.update_mask().paths(0), "name");
  EXPECT_EQ(req.update_mask().paths(1), "capacity");
}

TEST_F(TranscodeTest, RequestWithoutBodyRefusesOne) {
  RouteMatch m = table_->Match("GET", "/v1/events/e1/availability");
  HttpRequestParts parts;
  parts.bindings = m.bindings;
  parts.body = "{}";
  EXPECT_EQ(BuildRequest(*m.route, parts).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TranscodeTest, ResponseJsonAndResponseBody) {
  RouteMatch m = table_->Match("POST", "/v1/confirmations");
  v1::Registration reg;
  reg.set_id("r1");
  reg.set_status(v1::REGISTRATION_STATUS_CONFIRMED);
  auto json = ResponseBody(*m.route, reg.SerializeAsString());
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(*json, R"({"id":"r1","status":"REGISTRATION_STATUS_CONFIRMED"})");
  EXPECT_FALSE(ResponseBody(*m.route, "\xff\xff\xff").ok());

  m = table_->Match("GET", "/v1/organizer/events/e1/registrations:export");
  ASSERT_NE(m.route, nullptr);
  v1::ExportChunk chunk;
  chunk.set_csv("a,b\r\n");
  chunk.set_rows(1);
  auto raw = ResponseBody(*m.route, chunk.SerializeAsString());
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(*raw, "a,b\r\n");
}

TEST(ErrorMapping, StatusTable) {
  EXPECT_EQ(HttpStatusForCode(3), 400);
  EXPECT_EQ(HttpStatusForCode(16), 401);
  EXPECT_EQ(HttpStatusForCode(7), 403);
  EXPECT_EQ(HttpStatusForCode(5), 404);
  EXPECT_EQ(HttpStatusForCode(6), 409);
  EXPECT_EQ(HttpStatusForCode(10), 409);
  EXPECT_EQ(HttpStatusForCode(9), 412);
  EXPECT_EQ(HttpStatusForCode(8), 429);
  EXPECT_EQ(HttpStatusForCode(14), 503);
  EXPECT_EQ(HttpStatusForCode(4), 504);
  EXPECT_EQ(HttpStatusForCode(12), 501);
  EXPECT_EQ(HttpStatusForCode(13), 500);
  EXPECT_EQ(HttpStatusForCode(99), 500);
}

TEST(ErrorMapping, DetailsAsJsonAndRetryAfter) {
  google::rpc::Status status;
  status.set_code(8);
  status.set_message("slow down");
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(2);
  retry.mutable_retry_delay()->set_nanos(1);
  status.add_details()->PackFrom(retry);
  google::rpc::BadRequest bad;
  bad.add_field_violations()->set_field("attendee.email");
  status.add_details()->PackFrom(bad);
  auto* unknown = status.add_details();
  unknown->set_type_url("type.googleapis.com/not.a.Type");
  unknown->set_value("xyz");
  HttpError error = ErrorFromGrpc(8, "slow down", status.SerializeAsString());
  EXPECT_EQ(error.http_status, 429);
  ASSERT_TRUE(error.retry_after_seconds.has_value());
  EXPECT_EQ(*error.retry_after_seconds, 3);
  google::rpc::Status back;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(error.json, &back).ok())
      << error.json;
  EXPECT_EQ(back.code(), 8);
  EXPECT_EQ(back.message(), "slow down");
  ASSERT_EQ(back.details_size(), 2);  // the unknown type is dropped
  EXPECT_NE(error.json.find("\"field\":\"attendee.email\""), std::string::npos);

  HttpError plain = ErrorFromGrpc(14, "down", "garbage\x01");
  EXPECT_EQ(plain.http_status, 503);
  EXPECT_EQ(plain.json, R"({"code":14,"message":"down"})");
  EXPECT_FALSE(plain.retry_after_seconds.has_value());
}

}  // namespace
}  // namespace admit::gateway
