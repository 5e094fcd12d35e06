#include "loadtest/env_file.h"

#include "gtest/gtest.h"

namespace admit::loadtest {
namespace {

TEST(EnvFile, ParsesBashQuotedExports) {
  const auto env = ParseEnvText(
      "# comment\n"
      "export ADMIT_PG_URL=postgresql://postgres@127.0.0.1:5/admit\n"
      "export ADMIT_SERVICES=quota\\ registration\n"
      "export ADMIT_X='a b'\n"
      "NOT_EXPORTED=1\n");
  EXPECT_EQ(env.at("ADMIT_PG_URL"), "postgresql://postgres@127.0.0.1:5/admit");
  EXPECT_EQ(env.at("ADMIT_SERVICES"), "quota registration");
  EXPECT_EQ(env.at("ADMIT_X"), "a b");
  EXPECT_FALSE(env.contains("NOT_EXPORTED"));
  EXPECT_EQ(SplitWords(env.at("ADMIT_SERVICES")).size(), 2u);
}

}  // namespace
}  // namespace admit::loadtest
