#include "loadtest/organizer.h"

#include "gtest/gtest.h"

namespace admit::loadtest {
namespace {

TEST(CsvRowCounter, SplitsRowsAcrossChunksAndKeepsQuotedBreaks) {
  CsvRowCounter csv;
  csv.Feed("registration_id,status\r\nr1,PENDING\r\n");
  csv.Feed("\"r,2\",\"a \"\"quoted\"\"\r\nline\"\r\nr3,");
  csv.Feed("x\r\n");
  EXPECT_EQ(csv.rows_first_fields,
            (std::vector<std::string>{"registration_id", "r1", "r,2", "r3"}));
  EXPECT_FALSE(csv.in_quotes);
}

}  // namespace
}  // namespace admit::loadtest
