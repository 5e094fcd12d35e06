#include "common/config/config.h"

#include <gtest/gtest.h>

#include <map>

namespace admit::config {
namespace {

Lookup FromMap(std::map<std::string, std::string> values) {
  return [values = std::move(values)](
             const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

struct Example {
  std::string url;
  int64_t pool_size = 0;
  bool tls = false;
  std::chrono::milliseconds timeout{0};
  std::string level;
};

Settings ExampleSettings(Example* e) {
  Settings s("admit-example", "An example service.");
  s.AddString("ADMIT_PG_URL", "postgresql://localhost/admit", "Postgres URL.",
              &e->url);
  s.AddInt("ADMIT_PG_POOL_SIZE", 8, "Connections.", &e->pool_size, 1, 256);
  s.AddBool("ADMIT_TLS", false, "Serve TLS.", &e->tls);
  s.AddDuration("ADMIT_TIMEOUT", std::chrono::seconds(5), "Timeout.",
                &e->timeout);
  s.AddEnum("ADMIT_LOG_LEVEL", "info", {"debug", "info", "warn", "error"},
            "Log level.", &e->level);
  return s;
}

TEST(Settings, DefaultsApplyWhenNothingIsSet) {
  Example e;
  Settings s = ExampleSettings(&e);
  ASSERT_TRUE(s.Load(FromMap({})).ok());
  EXPECT_EQ(e.url, "postgresql://localhost/admit");
  EXPECT_EQ(e.pool_size, 8);
  EXPECT_FALSE(e.tls);
  EXPECT_EQ(e.timeout, std::chrono::seconds(5));
  EXPECT_EQ(e.level, "info");
}

TEST(Settings, ValuesFromTheEnvironmentOverrideDefaults) {
  Example e;
  Settings s = ExampleSettings(&e);
  ASSERT_TRUE(s.Load(FromMap({{"ADMIT_PG_URL", "postgresql://db/x"},
                              {"ADMIT_PG_POOL_SIZE", "32"},
                              {"ADMIT_TLS", "Yes"},
                              {"ADMIT_TIMEOUT", "1m30s"},
                              {"ADMIT_LOG_LEVEL", "debug"}}))
                  .ok());
  EXPECT_EQ(e.url, "postgresql://db/x");
  EXPECT_EQ(e.pool_size, 32);
  EXPECT_TRUE(e.tls);
  EXPECT_EQ(e.timeout, std::chrono::seconds(90));
  EXPECT_EQ(e.level, "debug");
}

TEST(Settings, InvalidIntegerNamesTheVariable) {
  Example e;
  Settings s = ExampleSettings(&e);
  absl::Status st = s.Load(FromMap({{"ADMIT_PG_POOL_SIZE", "lots"}}));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("ADMIT_PG_POOL_SIZE"), std::string::npos);
  EXPECT_NE(st.message().find("integer"), std::string::npos);
}

TEST(Settings, OutOfRangeIntegerIsRejectedWithTheRange) {
  Example e;
  Settings s = ExampleSettings(&e);
  absl::Status st = s.Load(FromMap({{"ADMIT_PG_POOL_SIZE", "0"}}));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("between 1 and 256"), std::string::npos);
}

TEST(Settings, InvalidDurationBoolAndEnumNameTheirVariables) {
  for (auto [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"ADMIT_TIMEOUT", "5"},
           {"ADMIT_TIMEOUT", "5 parsecs"},
           {"ADMIT_TLS", "maybe"},
           {"ADMIT_LOG_LEVEL", "loud"}}) {
    Example e;
    Settings s = ExampleSettings(&e);
    absl::Status st = s.Load(FromMap({{name, value}}));
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_NE(st.message().find(name), std::string::npos) << st.message();
  }
}

TEST(Settings, HelpAndMarkdownListEveryVariableWithItsDefault) {
  Example e;
  Settings s = ExampleSettings(&e);
  for (const std::string& text : {s.Help(), s.Markdown()}) {
    for (const char* name : {"ADMIT_PG_URL", "ADMIT_PG_POOL_SIZE", "ADMIT_TLS",
                             "ADMIT_TIMEOUT", "ADMIT_LOG_LEVEL"}) {
      EXPECT_NE(text.find(name), std::string::npos) << name;
    }
    EXPECT_NE(text.find("5s"), std::string::npos);
  }
}

TEST(ParseDuration, AcceptsUnitsAndSums) {
  std::chrono::milliseconds d;
  ASSERT_TRUE(ParseDuration("250ms", &d).ok());
  EXPECT_EQ(d.count(), 250);
  ASSERT_TRUE(ParseDuration("2h", &d).ok());
  EXPECT_EQ(d, std::chrono::hours(2));
  ASSERT_TRUE(ParseDuration("1m30s", &d).ok());
  EXPECT_EQ(d, std::chrono::seconds(90));
  EXPECT_FALSE(ParseDuration("", &d).ok());
  EXPECT_FALSE(ParseDuration("-5s", &d).ok());
  EXPECT_FALSE(ParseDuration("s", &d).ok());
  // Zero alone needs no unit; other numbers do.
  ASSERT_TRUE(ParseDuration("0", &d).ok());
  EXPECT_EQ(d.count(), 0);
  EXPECT_FALSE(ParseDuration("5", &d).ok());
}

TEST(LoadOrExit, InvalidValueExitsWithStatus2AndNamesTheVariable) {
  Example e;
  Settings s = ExampleSettings(&e);
  char program[] = "admit-example";
  char* argv[] = {program, nullptr};
  ::setenv("ADMIT_PG_POOL_SIZE", "many", 1);
  EXPECT_EXIT(LoadOrExit(s, 1, argv), ::testing::ExitedWithCode(2),
              "ADMIT_PG_POOL_SIZE");
  ::unsetenv("ADMIT_PG_POOL_SIZE");
}

TEST(LoadOrExit, HelpPrintsTheVariablesAndExitsZero) {
  Example e;
  Settings s = ExampleSettings(&e);
  char program[] = "admit-example";
  char help[] = "--help";
  char* argv[] = {program, help, nullptr};
  EXPECT_EXIT({ LoadOrExit(s, 2, argv); }, ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace admit::config
