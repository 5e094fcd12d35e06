#include "common/crypto/token.h"

#include <set>
#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace admit::crypto {
namespace {

using ::testing::SizeIs;

TEST(NewToken, Is22CharactersOfUnpaddedBase64UrlFor16Bytes) {
  for (int i = 0; i < 100; ++i) {
    const std::string token = NewToken();
    ASSERT_THAT(token, SizeIs(22));
    EXPECT_TRUE(IsWellFormedToken(token)) << token;
    std::string raw;
    ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &raw)) << token;
    EXPECT_THAT(raw, SizeIs(16));
    EXPECT_EQ(token.find_first_of("+/="), std::string::npos) << token;
  }
}

TEST(NewToken, NeverRepeatsAndUsesTheWholeUrlSafeAlphabet) {
  constexpr int kCount = 20000;
  std::set<std::string> seen;
  std::set<char> first_characters;
  for (int i = 0; i < kCount; ++i) {
    std::string token = NewToken();
    first_characters.insert(token.front());
    seen.insert(std::move(token));
  }
  EXPECT_THAT(seen, SizeIs(kCount));
  // 20000 uniform draws from 64 symbols miss one with probability ~1e-134:
  // a missing symbol means a biased or wrong encoding.
  EXPECT_THAT(first_characters, SizeIs(64));
  EXPECT_TRUE(first_characters.count('-'));
  EXPECT_TRUE(first_characters.count('_'));
}

TEST(IsWellFormedToken, AcceptsCanonical22CharacterBase64Url) {
  EXPECT_TRUE(IsWellFormedToken("AAAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_TRUE(IsWellFormedToken("_____________________w"));
  EXPECT_TRUE(IsWellFormedToken("aZ09-_aZ09-_aZ09-_aZ0Q"));
  EXPECT_TRUE(IsWellFormedToken("aZ09-_aZ09-_aZ09-_aZ0g"));
}

TEST(IsWellFormedToken, RejectsOtherLengthsAlphabetsAndNonCanonicalEndings) {
  EXPECT_FALSE(IsWellFormedToken(""));
  EXPECT_FALSE(IsWellFormedToken("AAAAAAAAAAAAAAAAAAAAA"));    // 21
  EXPECT_FALSE(IsWellFormedToken("AAAAAAAAAAAAAAAAAAAAAAA"));  // 23
  EXPECT_FALSE(IsWellFormedToken("AAAAAAAAAAAAAAAAAAAAAA=="));
  EXPECT_FALSE(IsWellFormedToken("AAAAAAAAAAAAAAAAAAAA+A"));  // standard
  EXPECT_FALSE(IsWellFormedToken("AAAAAAAAAAAAAAAAAAAA/A"));  // alphabet
  EXPECT_FALSE(IsWellFormedToken("AAAAAAAAAA AAAAAAAAAAA"));
  EXPECT_FALSE(IsWellFormedToken("AAAAAAAAAA.AAAAAAAAAAA"));
  EXPECT_FALSE(IsWellFormedToken(std::string("AAAAAAAAAA\0AAAAAAAAAAA", 22)));
  // Same 128 bits as "...A" but with padding bits set.
  EXPECT_FALSE(IsWellFormedToken("AAAAAAAAAAAAAAAAAAAAAB"));
  EXPECT_FALSE(IsWellFormedToken("AAAAAAAAAAAAAAAAAAAAAP"));
  EXPECT_FALSE(IsWellFormedToken("_____________________x"));
}

TEST(TokenHash, IsTheRawSha256Digest) {
  // FIPS 180-2 example "abc" and the empty message.
  EXPECT_EQ(absl::BytesToHexString(TokenHash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(absl::BytesToHexString(TokenHash("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_THAT(TokenHash(NewToken()), SizeIs(kTokenHashLength));
}

TEST(TokenHash, DiffersForTokensThatDifferInOneCharacter) {
  EXPECT_NE(TokenHash("AAAAAAAAAAAAAAAAAAAAAA"),
            TokenHash("AAAAAAAAAAAAAAAAAAAAAQ"));
}

TEST(Sha256Hex, IsLowerCaseHexOfSha256) {
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // FIPS 180-2 two-block example.
  EXPECT_EQ(
      Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(ConstantTimeEquals, IsByteEquality) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("token", "token"));
  const std::string hash = TokenHash("x");
  EXPECT_TRUE(ConstantTimeEquals(hash, std::string(hash)));
  EXPECT_FALSE(ConstantTimeEquals("token", "Token"));  // first byte
  EXPECT_FALSE(ConstantTimeEquals("token", "tokeN"));  // last byte
  EXPECT_FALSE(
      ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(ConstantTimeEquals, DifferentLengthsAreUnequal) {
  EXPECT_FALSE(ConstantTimeEquals("token", "tokens"));
  EXPECT_FALSE(ConstantTimeEquals("tokens", "token"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a", 1), std::string("a\0", 2)));
}

}  // namespace
}  // namespace admit::crypto
