#include "gtest/gtest.h"
#include "services/quota/pg_hold_store.h"

namespace admit::quota::internal {
namespace {

TEST(TextArrayLiteral, QuotesEveryElementAndEscapesQuotesAndBackslashes) {
  EXPECT_EQ(TextArrayLiteral({}), "{}");
  EXPECT_EQ(TextArrayLiteral({"a", "b c"}), "{\"a\",\"b c\"}");
  EXPECT_EQ(TextArrayLiteral({"x\"y", "p\\q", "{,}", "NULL", ""}),
            "{\"x\\\"y\",\"p\\\\q\",\"{,}\",\"NULL\",\"\"}");
}

TEST(BigintArrayLiteral, JoinsWithCommas) {
  EXPECT_EQ(BigintArrayLiteral({}), "{}");
  EXPECT_EQ(BigintArrayLiteral({1, -2, 30}), "{1,-2,30}");
}

TEST(ParseIdList, ReadsArrayToStringOutput) {
  EXPECT_EQ(ParseIdList(""), std::vector<int64_t>{});
  EXPECT_EQ(ParseIdList("7"), std::vector<int64_t>{7});
  EXPECT_EQ(ParseIdList("1,22,333"), (std::vector<int64_t>{1, 22, 333}));
}

}  // namespace
}  // namespace admit::quota::internal
