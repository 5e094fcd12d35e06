#include "common/log/log.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace admit::log {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Init("test-service", Level::kInfo);
    SetSinkForTesting(&out_);
  }
  void TearDown() override { SetSinkForTesting(nullptr); }

  std::vector<nlohmann::json> Lines() {
    std::vector<nlohmann::json> lines;
    for (absl::string_view l : absl::StrSplit(out_, '\n', absl::SkipEmpty())) {
      lines.push_back(nlohmann::json::parse(std::string(l)));
    }
    return lines;
  }

  std::string out_;
};

TEST_F(LogTest, WritesOneJsonObjectPerLineWithFields) {
  Info("hold expired", {{"hold_id", "h-1"}, {"seats", 2}, {"ok", true}});
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["service"], "test-service");
  EXPECT_EQ(lines[0]["msg"], "hold expired");
  EXPECT_EQ(lines[0]["hold_id"], "h-1");
  EXPECT_EQ(lines[0]["seats"], 2);
  EXPECT_EQ(lines[0]["ok"], true);
  EXPECT_TRUE(lines[0].contains("ts"));
}

TEST_F(LogTest, LinesBelowTheLevelAreDropped) {
  Init("test-service", Level::kWarn);
  Debug("d");
  Info("i");
  Warn("w");
  Error("e");
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["level"], "warn");
  EXPECT_EQ(lines[1]["level"], "error");
}

TEST_F(LogTest, RequestScopeAddsTheRequestIdAndNests) {
  {
    RequestScope outer("req-1");
    Info("a");
    {
      RequestScope inner("req-2");
      Info("b");
    }
    Info("c");
  }
  Info("d");
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["request_id"], "req-1");
  EXPECT_EQ(lines[1]["request_id"], "req-2");
  EXPECT_EQ(lines[2]["request_id"], "req-1");
  EXPECT_FALSE(lines[3].contains("request_id"));
}

TEST_F(LogTest, QuotesAndControlCharactersAndBadUtf8StayValidJson) {
  Info("a \"quoted\"\nmessage", {{"raw", std::string_view("\xff\xfe", 2)}});
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["msg"], "a \"quoted\"\nmessage");
}

TEST_F(LogTest, ConcurrentWritersNeverInterleaveLines) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 200; ++i) Info("line", {{"t", t}, {"i", i}});
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(Lines().size(), 1600u);  // every line parses as one object
}

TEST(ParseLevel, AcceptsTheFourNamesOnly) {
  Level l;
  ASSERT_TRUE(ParseLevel("debug", &l).ok());
  EXPECT_EQ(l, Level::kDebug);
  ASSERT_TRUE(ParseLevel("error", &l).ok());
  EXPECT_EQ(l, Level::kError);
  EXPECT_FALSE(ParseLevel("verbose", &l).ok());
}

}  // namespace
}  // namespace admit::log
