// Pure parts of ListRegistrations / ExportRegistrations: CSV escaping, page
// tokens, filter validation, page sizes, time formatting.
#include "services/registration/registration_listing.h"

#include <string>

#include "absl/strings/escaping.h"
#include "common/status/status.h"
#include "gtest/gtest.h"
#include "services/registration/csv_writer.h"
#include "services/registration/page_token.h"

namespace admit::registration {
namespace {

std::string Field(std::string_view in) {
  std::string out;
  AppendCsvField(out, in);
  return out;
}

TEST(CsvTest, QuotesAndFormulaPrefixes) {
  EXPECT_EQ(Field("plain"), "plain");
  EXPECT_EQ(Field(""), "");
  EXPECT_EQ(Field("a,b"), "\"a,b\"");
  EXPECT_EQ(Field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(Field("a\nb"), "\"a\nb\"");
  EXPECT_EQ(Field("a\rb"), "\"a\rb\"");
  EXPECT_EQ(Field("=1+2"), "'=1+2");
  EXPECT_EQ(Field("+41"), "'+41");
  EXPECT_EQ(Field("-x"), "'-x");
  EXPECT_EQ(Field("@cmd"), "'@cmd");
  EXPECT_EQ(Field("=A1,\"x\""), "\"'=A1,\"\"x\"\"\"");
  EXPECT_EQ(Field("a=b"), "a=b");
  EXPECT_EQ(Field("Zo\xC3\xAB"), "Zo\xC3\xAB");
  std::string row;
  AppendCsvRow(row, {"a", "b,c", ""});
  EXPECT_EQ(row, "a,\"b,c\",\r\n");
}

TEST(PageTokenTest, RoundTripAndBinding) {
  PageTokenCodec codec(DerivePageTokenKey("k"));
  const std::string binding = FilterBinding("ev", 2, "t", "org", "ann");
  const std::string token = codec.Encode({1234567890123456, "reg-1"}, binding);
  auto cursor = codec.Decode(token, binding);
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  EXPECT_EQ(cursor->created_us, 1234567890123456);
  EXPECT_EQ(cursor->registration_id, "reg-1");
  for (const std::string& other : {FilterBinding("ev2", 2, "t", "org", "ann"),
                                   FilterBinding("ev", 3, "t", "org", "ann"),
                                   FilterBinding("ev", 2, "", "org", "ann"),
                                   FilterBinding("ev", 2, "t", "or", "gann"),
                                   FilterBinding("ev", 2, "t", "org", "an")}) {
    auto refused = codec.Decode(token, other);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(GetFieldViolations(refused.status())[0].field, "page_token");
  }
  PageTokenCodec other_key(DerivePageTokenKey("k2"));
  EXPECT_FALSE(other_key.Decode(token, binding).ok());
  std::string bytes;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &bytes));
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string altered = bytes;
    altered[i] ^= 0x40;
    EXPECT_FALSE(codec.Decode(absl::WebSafeBase64Escape(altered), binding).ok())
        << i;
  }
  EXPECT_FALSE(codec.Decode("", binding).ok());
  EXPECT_FALSE(codec.Decode("***", binding).ok());
}

TEST(ListingValidationTest, FiltersAndPageSize) {
  auto ok =
      internal::ValidateFilter("ev-1", 2, "delegate", "  ITU  Geneva ", "Ann.");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->organization_key, "itu geneva");
  EXPECT_EQ(ok->email_prefix, "ann.");
  EXPECT_FALSE(internal::ValidateFilter("", 0, "", "", "").ok());
  EXPECT_FALSE(internal::ValidateFilter("ev", 6, "", "", "").ok());
  EXPECT_FALSE(internal::ValidateFilter("ev", 0, "", "", "\xff").ok());
  EXPECT_TRUE(
      internal::ValidateFilter("ev", 0, "", std::string(200, 'o'), "").ok());
  EXPECT_FALSE(
      internal::ValidateFilter("ev", 0, "", std::string(201, 'o'), "").ok());
  EXPECT_EQ(*internal::EffectivePageSize(0), 50);
  EXPECT_EQ(*internal::EffectivePageSize(1), 1);
  EXPECT_EQ(*internal::EffectivePageSize(1000), 1000);
  EXPECT_EQ(*internal::EffectivePageSize(1001), 1000);
  EXPECT_FALSE(internal::EffectivePageSize(-1).ok());
  EXPECT_EQ(internal::Rfc3339FromMicros(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(internal::Rfc3339FromMicros(1500000),
            "1970-01-01T00:00:01.500000Z");
}

}  // namespace
}  // namespace admit::registration
