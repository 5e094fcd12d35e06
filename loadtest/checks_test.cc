#include "loadtest/checks.h"

#include "gtest/gtest.h"

namespace admit::loadtest {
namespace {

Outcome Ok(const std::string& id, int status, int32_t position = 0) {
  Outcome o;
  o.code = grpc::StatusCode::OK;
  o.answered = true;
  o.registration_id = id;
  o.status = status;
  o.ticket_type_id = "t1";
  o.waitlist_position = position;
  return o;
}

std::vector<Attempt> ThreeNewAndARetry() {
  auto plan = MakePlan(
      {.event_id = "ev", .ticket_type_ids = {"t1"}, .attempts = 3, .seed = 1});
  Attempt retry = plan[0];
  retry.kind = AttemptKind::kRetry;
  retry.original = 0;
  plan.push_back(retry);
  return plan;
}

TEST(CheckAnswers, ConsistentAnswersPass) {
  const auto plan = ThreeNewAndARetry();
  const std::vector<Outcome> out = {Ok("a", 1), Ok("b", 3, 1), Ok("c", 3, 2),
                                    Ok("a", 1)};
  EXPECT_TRUE(CheckAnswers(plan, out, 1).empty());
}

TEST(CheckAnswers, FindsEachBrokenPromise) {
  const auto plan = ThreeNewAndARetry();
  // Retry told another id; two PENDING over capacity 1; the same position
  // twice.
  const std::vector<Outcome> out = {Ok("a", 1), Ok("b", 1), Ok("c", 3, 1),
                                    Ok("z", 1)};
  auto v = CheckAnswers(plan, out, 1);
  std::set<std::string> checks;
  for (const auto& x : v) checks.insert(x.check);
  EXPECT_TRUE(checks.contains("retry_same_answer"));
  EXPECT_TRUE(checks.contains("pending_within_capacity"));
  EXPECT_TRUE(checks.contains("one_registration_per_email"));  // a and z

  const std::vector<Outcome> same_position = {Ok("a", 3, 1), Ok("b", 3, 1),
                                              Ok("c", 3, 2), Ok("a", 3, 1)};
  v = CheckAnswers(plan, same_position, 10);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].check, "waitlist_position_unique");
}

TEST(CheckAnswers, InvalidRequestAcceptedIsAViolation) {
  auto plan = ThreeNewAndARetry();
  plan[1].kind = AttemptKind::kInvalid;
  const std::vector<Outcome> out = {Ok("a", 1), Ok("b", 1), Ok("c", 3, 1),
                                    Ok("a", 1)};
  auto v = CheckAnswers(plan, out, 10);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].check, "invalid_request_refused");
}

}  // namespace
}  // namespace admit::loadtest
