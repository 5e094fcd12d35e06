#include "common/crypto/sealer.h"

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace admit::crypto {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

// 32 bytes 0x00..0x1f in each accepted spelling.
constexpr char kKeyStandardPadded[] =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr char kKeyStandardUnpadded[] =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
// 32 bytes 0xfb..: the standard spelling has '+' and '/'.
constexpr char kKeyFbStandard[] =
    "+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s=";
constexpr char kKeyFbUrlSafe[] = "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s";

Sealer MakeSealer(std::string_view key = kKeyStandardPadded) {
  absl::StatusOr<Sealer> sealer = Sealer::FromBase64Key(key);
  EXPECT_TRUE(sealer.ok()) << sealer.status();
  return *std::move(sealer);
}

TEST(Sealer, OpensWhatItSealedWithTheSameAssociatedData) {
  const Sealer sealer = MakeSealer();
  for (const std::string& plaintext :
       {std::string(), std::string("x"), std::string("kJ3n_0aV-Qe8rT1mZp4xYw"),
        std::string(1000, '\0'), std::string(4096, 'q')}) {
    const std::string sealed = sealer.Seal(plaintext, "pp-2026/req-1");
    EXPECT_THAT(sealed, SizeIs(plaintext.size() + Sealer::kOverhead));
    absl::StatusOr<std::string> opened = sealer.Open(sealed, "pp-2026/req-1");
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, plaintext);
  }
  const std::string no_ad = sealer.Seal("secret", "");
  EXPECT_EQ(sealer.Open(no_ad, "").value_or("<error>"), "secret");
}

TEST(Sealer, CiphertextDoesNotContainThePlaintext) {
  const Sealer sealer = MakeSealer();
  const std::string plaintext = "kJ3n_0aV-Qe8rT1mZp4xYw";
  EXPECT_THAT(sealer.Seal(plaintext, "ad"), Not(HasSubstr(plaintext)));
}

TEST(Sealer, SealingTwiceGivesDifferentOutputsThatBothOpen) {
  const Sealer sealer = MakeSealer();
  std::set<std::string> outputs;
  for (int i = 0; i < 100; ++i) outputs.insert(sealer.Seal("same", "ad"));
  EXPECT_THAT(outputs, SizeIs(100));
  for (const std::string& sealed : outputs) {
    EXPECT_EQ(sealer.Open(sealed, "ad").value_or("<error>"), "same");
  }
}

TEST(Sealer, EveryChangedBitIsDetected) {
  const Sealer sealer = MakeSealer();
  const std::string sealed = sealer.Seal("manage-token-value", "ad");
  // Covers the nonce (bytes 0-11), the ciphertext and the tag (last 16).
  for (size_t i = 0; i < sealed.size(); ++i) {
    for (int bit = 0; bit < 8; bit += 7) {
      std::string tampered = sealed;
      tampered[i] = static_cast<char>(tampered[i] ^ (1 << bit));
      absl::StatusOr<std::string> opened = sealer.Open(tampered, "ad");
      EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss)
          << "byte " << i << " bit " << bit;
    }
  }
}

TEST(Sealer, TruncatedOrExtendedValuesAreRejected) {
  const Sealer sealer = MakeSealer();
  const std::string sealed = sealer.Seal("manage-token-value", "ad");
  EXPECT_EQ(
      sealer.Open(sealed.substr(0, sealed.size() - 1), "ad").status().code(),
      absl::StatusCode::kDataLoss);
  EXPECT_EQ(sealer.Open(sealed + "x", "ad").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(sealer.Open(sealed.substr(0, 27), "ad").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(sealer.Open("", "ad").status().code(), absl::StatusCode::kDataLoss);
}

TEST(Sealer, WrongAssociatedDataIsRejected) {
  const Sealer sealer = MakeSealer();
  const std::string sealed = sealer.Seal("manage-token-value", "pp-2026/r1");
  EXPECT_EQ(sealer.Open(sealed, "pp-2026/r2").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(sealer.Open(sealed, "").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(sealer.Open(sealer.Seal("v", ""), "x").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(Sealer, WrongKeyIsRejected) {
  const Sealer sealer = MakeSealer();
  const Sealer other = MakeSealer(Sealer::NewBase64Key());
  const std::string sealed = sealer.Seal("manage-token-value", "ad");
  absl::StatusOr<std::string> opened = other.Open(sealed, "ad");
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(opened.status().message(), HasSubstr("authentication"));
}

TEST(Sealer, IsStandardAes256GcmWithNoncePrefixAndTagSuffix) {
  // McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13
  // and 14: all-zero 256-bit key and 96-bit IV, no associated data.
  const Sealer sealer =
      MakeSealer("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  const std::string tag13 =
      absl::HexStringToBytes("530f8afbc74536b9a963b4f1c4cb738b");
  EXPECT_EQ(sealer.Open(std::string(12, '\0') + tag13, "").value_or("<error>"),
            "");
  const std::string sealed14 =
      std::string(12, '\0') + absl::HexStringToBytes(
                                  "cea7403d4d606b6e074ec5d3baf39d18"
                                  "d0d1c8a799996bf0265b98b5d48ab919");
  EXPECT_EQ(sealer.Open(sealed14, "").value_or("<error>"),
            std::string(16, '\0'));
}

TEST(Sealer, IsUsableFromManyThreadsAtOnce) {
  const Sealer sealer = MakeSealer();
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string text = std::to_string(t * 1000 + i);
        const std::string ad = std::to_string(t);
        if (sealer.Open(sealer.Seal(text, ad), ad).value_or("") != text) {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(failures, ::testing::Each(0));
}

TEST(FromBase64Key, AcceptsStandardAndUrlSafePaddedOrNot) {
  // Each spelling of the same bytes is the same key.
  const Sealer a = MakeSealer(kKeyStandardPadded);
  const Sealer b = MakeSealer(kKeyStandardUnpadded);
  const std::string sealed = a.Seal("v", "ad");
  EXPECT_EQ(b.Open(sealed, "ad").value_or("<error>"), "v");

  const Sealer c = MakeSealer(kKeyFbStandard);
  const Sealer d = MakeSealer(kKeyFbUrlSafe);
  const Sealer e = MakeSealer(absl::StrCat(kKeyFbUrlSafe, "="));
  EXPECT_EQ(d.Open(c.Seal("w", "ad"), "ad").value_or("<error>"), "w");
  EXPECT_EQ(e.Open(c.Seal("w", "ad"), "ad").value_or("<error>"), "w");
  // And different bytes are a different key.
  EXPECT_FALSE(c.Open(sealed, "ad").ok());
}

TEST(FromBase64Key, RejectsWhatIsNotExactly32BytesOfBase64) {
  const std::string key31 = absl::Base64Escape(std::string(31, 'k'));
  const std::string key33 = absl::Base64Escape(std::string(33, 'k'));
  const std::string key16 = absl::Base64Escape(std::string(16, 'k'));
  for (const std::string& bad : {
           std::string(),
           key31,
           key33,
           key16,
           std::string(kKeyStandardPadded) + "\n",     // whitespace
           std::string(" ") + kKeyStandardPadded,      //
           std::string(kKeyStandardUnpadded) + ".",    // '.' as padding
           std::string(kKeyStandardUnpadded) + "==",   // wrong padding
           std::string(kKeyStandardUnpadded) + "===",  //
           std::string(
               "-/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s="),  // mixed
           std::string("AAEC=AwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"),
           std::string(43, '!'),
       }) {
    absl::StatusOr<Sealer> sealer = Sealer::FromBase64Key(bad);
    EXPECT_EQ(sealer.status().code(), absl::StatusCode::kInvalidArgument)
        << "'" << bad << "'";
    if (!bad.empty()) {
      EXPECT_THAT(sealer.status().message(), Not(HasSubstr(bad)));
    }
  }
}

TEST(FromBase64Key, SaysWhatIsWrongWithoutTheKey) {
  const std::string key31 = absl::Base64Escape(std::string(31, 'k'));
  absl::StatusOr<Sealer> sealer = Sealer::FromBase64Key(key31);
  EXPECT_THAT(sealer.status().message(), HasSubstr("31 bytes"));
  EXPECT_THAT(sealer.status().message(), Not(HasSubstr(key31.substr(0, 8))));
  EXPECT_THAT(Sealer::FromBase64Key("").status().message(), HasSubstr("empty"));
}

TEST(NewBase64Key, IsA32ByteStandardBase64KeyThatIsNewEachTime) {
  const std::string key = Sealer::NewBase64Key();
  EXPECT_THAT(key, SizeIs(44));
  std::string raw;
  ASSERT_TRUE(absl::Base64Unescape(key, &raw));
  EXPECT_THAT(raw, SizeIs(32));
  EXPECT_TRUE(Sealer::FromBase64Key(key).ok());
  EXPECT_NE(Sealer::NewBase64Key(), key);
}

}  // namespace
}  // namespace admit::crypto
