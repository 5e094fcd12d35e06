#include "services/confirmation/ticket_code.h"

#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "common/crypto/sealer.h"
#include "gtest/gtest.h"

namespace admit::confirmation {
namespace {

TicketCoder MakeCoder() {
  auto coder = TicketCoder::FromBase64Key(crypto::Sealer::NewBase64Key());
  EXPECT_TRUE(coder.ok()) << coder.status();
  return *std::move(coder);
}

TEST(TicketCodeTest, CodeIsStableWellFormedAndVerifies) {
  const TicketCoder coder = MakeCoder();
  const std::string code = coder.CodeFor("3f1e0c9a-reg");
  EXPECT_EQ(code.size(), TicketCoder::kCodeLength);
  EXPECT_EQ(code, coder.CodeFor("3f1e0c9a-reg"));
  EXPECT_TRUE(TicketCoder::IsWellFormed(code));
  EXPECT_TRUE(coder.Verify("3f1e0c9a-reg", code));
  // Typed at a desk: lower case and surrounding spaces are accepted.
  std::string typed = " " + code + "\n";
  absl::AsciiStrToLower(&typed);
  EXPECT_TRUE(coder.Verify("3f1e0c9a-reg", typed));
}

TEST(TicketCodeTest, CodeBelongsToOneRegistrationAndOneKey) {
  const TicketCoder coder = MakeCoder();
  const TicketCoder other_key = MakeCoder();
  const std::string code = coder.CodeFor("reg-a");
  EXPECT_FALSE(coder.Verify("reg-b", code));
  EXPECT_FALSE(other_key.Verify("reg-a", code));
  EXPECT_NE(code, other_key.CodeFor("reg-a"));
}

TEST(TicketCodeTest, ForgedCodesAreRefused) {
  const TicketCoder coder = MakeCoder();
  std::string code = coder.CodeFor("reg-a");
  std::string flipped = code;
  flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(coder.Verify("reg-a", flipped));
  EXPECT_FALSE(coder.Verify("reg-a", ""));
  EXPECT_FALSE(coder.Verify("reg-a", code.substr(0, 20)));
  EXPECT_FALSE(TicketCoder::IsWellFormed(""));
  EXPECT_FALSE(TicketCoder::IsWellFormed("X" + code.substr(1)));
  EXPECT_FALSE(TicketCoder::IsWellFormed(code + "A"));
  EXPECT_FALSE(TicketCoder::IsWellFormed(code.substr(0, 26) + "1"));
}

TEST(TicketCodeTest, CodesDoNotCollideAcrossRegistrations) {
  const TicketCoder coder = MakeCoder();
  std::set<std::string> codes;
  for (int i = 0; i < 10000; ++i) {
    codes.insert(coder.CodeFor("reg-" + std::to_string(i)));
  }
  EXPECT_EQ(codes.size(), 10000u);
}

TEST(TicketCodeTest, BadKeysAreRefusedWithoutEchoingThem) {
  for (const char* key : {"", "not base64!", "c2hvcnQ="}) {
    auto coder = TicketCoder::FromBase64Key(key);
    ASSERT_FALSE(coder.ok()) << key;
    EXPECT_EQ(coder.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(coder.status().message().find("ticket key"), std::string::npos);
  }
}

}  // namespace
}  // namespace admit::confirmation
