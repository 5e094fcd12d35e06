// Unit tests for the pure parts: policies, CIDRs, x-forwarded-for, the
// breaker's state machine (fake clock), settings, the error status.
#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "common/ratelimit/breaker.h"
#include "common/ratelimit/client_address.h"
#include "common/ratelimit/limiter.h"
#include "common/ratelimit/policy.h"
#include "common/status/status.h"
#include "gtest/gtest.h"

namespace admit::ratelimit {
namespace {

using std::chrono::milliseconds;

TEST(ParsePolicy, ReadsRateBurstAndFailMode) {
  auto p = ParsePolicy("email", "0.2/5/closed");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "email");
  EXPECT_DOUBLE_EQ(p->rate, 0.2);
  EXPECT_EQ(p->burst, 5);
  EXPECT_EQ(p->fail_mode, FailMode::kClosed);
  EXPECT_EQ(p->EmissionMicros(), 5'000'000);
  auto q = ParsePolicy("ip", "10/20");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->fail_mode, FailMode::kOpen);
  EXPECT_EQ(q->EmissionMicros(), 100'000);
}

TEST(ParsePolicy, RejectsMalformedSpecs) {
  for (const char* spec : {"", "10", "10/", "0/5", "-1/5", "10/0", "10/1.5",
                           "10/5/maybe", "10/5/open/x", "nan/5", "x/5"}) {
    EXPECT_FALSE(ParsePolicy("ip", spec).ok()) << spec;
  }
  EXPECT_FALSE(ParsePolicy("Bad-Name", "1/1").ok());
}

TEST(ParsePolicy, EveryDefaultParses) {
  for (const auto& [name, spec] : DefaultPolicySpecs()) {
    EXPECT_TRUE(ParsePolicy(name, spec).ok()) << name;
  }
  for (const char* name :
       {"ip", "email", "api_key", "event", "resend", "organizer"}) {
    EXPECT_TRUE(DefaultPolicySpecs().count(name)) << name;
  }
}

TEST(Cidr, MatchesIpv4AndIpv6Prefixes) {
  auto net = ParseCidr("10.0.0.0/8");
  ASSERT_TRUE(net.ok());
  EXPECT_TRUE(net->Contains(*ParseIp("10.200.3.4")));
  EXPECT_TRUE(net->Contains(*ParseIp("::ffff:10.1.2.3")));
  EXPECT_FALSE(net->Contains(*ParseIp("11.0.0.1")));
  auto odd = ParseCidr("192.168.1.128/25");
  ASSERT_TRUE(odd.ok());
  EXPECT_TRUE(odd->Contains(*ParseIp("192.168.1.200")));
  EXPECT_FALSE(odd->Contains(*ParseIp("192.168.1.127")));
  auto v6 = ParseCidr("fd00::/8");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->Contains(*ParseIp("fd12:3456::1")));
  EXPECT_FALSE(v6->Contains(*ParseIp("fe80::1")));
  auto host = ParseCidr("2001:db8::7");
  ASSERT_TRUE(host.ok());
  EXPECT_TRUE(host->Contains(*ParseIp("[2001:db8::7]")));
  EXPECT_FALSE(host->Contains(*ParseIp("2001:db8::8")));
  auto all = ParseCidr("0.0.0.0/0");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Contains(*ParseIp("8.8.8.8")));
}

TEST(Cidr, RejectsMalformed) {
  for (const char* text : {"", "10.0.0.0/33", "fd00::/129", "10.0.0/8", "x",
                           "10.0.0.0/-1", "10.0.0.0/8x"}) {
    EXPECT_FALSE(ParseCidr(text).ok()) << text;
  }
  EXPECT_FALSE(ParseCidrList("10.0.0.0/8, nope").ok());
  auto list = ParseCidrList(" 10.0.0.0/8,fd00::/8 ");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);
  EXPECT_TRUE(ParseCidrList("")->empty());
}

class ClientAddressTest : public ::testing::Test {
 protected:
  std::vector<Cidr> trusted_ = *ParseCidrList("10.0.0.0/8, fd00::/8");
};

TEST_F(ClientAddressTest, UntrustedPeerIgnoresForwardedFor) {
  EXPECT_EQ(ClientAddress("ipv4:203.0.113.9:5555", "1.2.3.4", trusted_),
            "203.0.113.9");
  EXPECT_EQ(ClientAddress("ipv6:[2001:db8::1]:443", "1.2.3.4", trusted_),
            "2001:db8::1");
  EXPECT_EQ(ClientAddress("ipv6:%5B2001:db8::1%5D:443", "", trusted_),
            "2001:db8::1");
}

TEST_F(ClientAddressTest, TrustedPeerTakesRightMostUntrustedHop) {
  EXPECT_EQ(ClientAddress("ipv4:10.0.0.5:5555", "198.51.100.7", trusted_),
            "198.51.100.7");
  // The client may prepend anything; only hops added by trusted proxies
  // count.
  EXPECT_EQ(ClientAddress("ipv4:10.0.0.5:5555",
                          "6.6.6.6, 198.51.100.7, 10.1.1.1", trusted_),
            "198.51.100.7");
  EXPECT_EQ(ClientAddress("ipv6:[fd00::2]:80", "2001:db8::9", trusted_),
            "2001:db8::9");
  EXPECT_EQ(ClientAddress("ipv4:10.0.0.5:1", "::ffff:198.51.100.7", trusted_),
            "198.51.100.7");
}

TEST_F(ClientAddressTest, TrustedPeerEdgeCases) {
  // No header: the proxy itself.
  EXPECT_EQ(ClientAddress("ipv4:10.0.0.5:5555", "", trusted_), "10.0.0.5");
  // Every hop trusted: the left-most.
  EXPECT_EQ(ClientAddress("ipv4:10.0.0.5:5555", "10.9.9.9, 10.1.1.1", trusted_),
            "10.9.9.9");
  // Garbage stops the walk at the last trusted hop.
  EXPECT_EQ(
      ClientAddress("ipv4:10.0.0.5:5555", "1.1.1.1, junk, 10.1.1.1", trusted_),
      "10.1.1.1");
  // No trusted proxies configured: always the peer.
  EXPECT_EQ(ClientAddress("ipv4:10.0.0.5:5555", "1.2.3.4", {}), "10.0.0.5");
  // Not an IP peer: returned as is.
  EXPECT_EQ(ClientAddress("unix:/tmp/s", "1.2.3.4", trusted_), "unix:/tmp/s");
}

class FakeClock {
 public:
  CircuitBreaker::Clock clock() {
    return [this] { return now_; };
  }
  void Advance(milliseconds d) { now_ += d; }

 private:
  std::chrono::steady_clock::time_point now_{};
};

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresOnly) {
  FakeClock clock;
  CircuitBreaker b(3, milliseconds(1000), clock.clock());
  EXPECT_TRUE(b.Admit());
  b.OnFailure();
  b.OnFailure();
  b.OnSuccess();  // resets the count
  b.OnFailure();
  b.OnFailure();
  EXPECT_EQ(b.state(), CircuitBreaker::State::kClosed);
  b.OnFailure();
  EXPECT_EQ(b.state(), CircuitBreaker::State::kOpen);
  EXPECT_TRUE(b.is_open());
  EXPECT_FALSE(b.Admit());
}

TEST(CircuitBreaker, HalfOpenLetsOneProbeThroughAndRecovers) {
  FakeClock clock;
  CircuitBreaker b(1, milliseconds(1000), clock.clock());
  b.OnFailure();
  clock.Advance(milliseconds(999));
  EXPECT_FALSE(b.Admit());
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(b.Admit());  // the probe
  EXPECT_EQ(b.state(), CircuitBreaker::State::kHalfOpen);
  EXPECT_FALSE(b.Admit());  // others wait for it
  b.OnSuccess();
  EXPECT_EQ(b.state(), CircuitBreaker::State::kClosed);
  EXPECT_TRUE(b.Admit());
}

TEST(CircuitBreaker, FailedProbeRestartsTheCoolDown) {
  FakeClock clock;
  CircuitBreaker b(1, milliseconds(1000), clock.clock());
  b.OnFailure();
  clock.Advance(milliseconds(1000));
  ASSERT_TRUE(b.Admit());
  b.OnFailure();
  EXPECT_EQ(b.state(), CircuitBreaker::State::kOpen);
  clock.Advance(milliseconds(500));
  EXPECT_FALSE(b.Admit());
  clock.Advance(milliseconds(500));
  EXPECT_TRUE(b.Admit());
}

TEST(CircuitBreaker, LateFailureWhileOpenDoesNotExtendCoolDown) {
  FakeClock clock;
  CircuitBreaker b(1, milliseconds(1000), clock.clock());
  b.OnFailure();
  clock.Advance(milliseconds(900));
  b.OnFailure();  // a call admitted before the breaker opened
  clock.Advance(milliseconds(100));
  EXPECT_TRUE(b.Admit());
}

TEST(AddRateLimitSettings, DefaultsAndOverrides) {
  LimiterOptions options;
  config::Settings settings("admit-test", "Test.");
  AddRateLimitSettings(settings, &options);
  const std::map<std::string, std::string> env = {
      {"ADMIT_RATE_LIMIT_IP", "5/7/closed"},
      {"ADMIT_RATE_LIMIT_TIMEOUT", "20ms"},
      {"ADMIT_TRUSTED_PROXIES", "10.0.0.0/8"}};
  ASSERT_TRUE(
      settings
          .Load([&](const std::string& name) -> std::optional<std::string> {
            auto it = env.find(name);
            if (it == env.end()) return std::nullopt;
            return it->second;
          })
          .ok());
  EXPECT_EQ(options.policies["ip"], "5/7/closed");
  EXPECT_EQ(options.policies["email"], DefaultPolicySpecs().at("email"));
  EXPECT_EQ(options.timeout, milliseconds(20));
  EXPECT_EQ(options.breaker_failures, 5);
  EXPECT_EQ(options.breaker_cool_down, milliseconds(1000));
  EXPECT_EQ(options.trusted_proxies, "10.0.0.0/8");
  for (const char* name :
       {"ADMIT_RATE_LIMIT_IP", "ADMIT_RATE_LIMIT_EMAIL",
        "ADMIT_RATE_LIMIT_API_KEY", "ADMIT_RATE_LIMIT_EVENT",
        "ADMIT_RATE_LIMIT_RESEND", "ADMIT_RATE_LIMIT_ORGANIZER",
        "ADMIT_RATE_LIMIT_BREAKER_FAILURES",
        "ADMIT_RATE_LIMIT_BREAKER_COOL_DOWN"}) {
    EXPECT_NE(settings.Help().find(name), std::string::npos) << name;
  }
}

TEST(RateLimited, CarriesRetryInfoQuotaFailureAndReason) {
  const absl::Status s = RateLimited("email", milliseconds(1500));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(admit::GetErrorReason(s), "RATE_LIMITED");
  EXPECT_NE(s.message().find("email"), absl::string_view::npos);
}

}  // namespace
}  // namespace admit::ratelimit
