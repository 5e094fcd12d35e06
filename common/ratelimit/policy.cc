#include "common/ratelimit/policy.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace admit::ratelimit {

int64_t Policy::EmissionMicros() const {
  const double micros = std::llround(1e6 / rate);
  return micros < 1 ? 1 : static_cast<int64_t>(micros);
}

absl::StatusOr<Policy> ParsePolicy(std::string_view name,
                                   std::string_view spec) {
  const std::string n(name);
  if (n.empty() ||
      n.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") !=
          std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("rate-limit policy name \"", n, "\": want [a-z0-9_]+"));
  }
  const std::vector<std::string> parts =
      absl::StrSplit(absl::string_view(spec.data(), spec.size()), '/');
  const auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("rate-limit policy ", n, " \"", std::string(spec),
                     "\": ", why, " (want rate/burst[/open|closed])"));
  };
  if (parts.size() < 2 || parts.size() > 3) return bad("wrong number of parts");
  Policy p;
  p.name = n;
  if (!absl::SimpleAtod(parts[0], &p.rate) || !std::isfinite(p.rate) ||
      p.rate <= 0 || p.rate > 1e6) {
    return bad("rate must be a number in (0, 1e6]");
  }
  if (!absl::SimpleAtoi(parts[1], &p.burst) || p.burst < 1 ||
      p.burst > 1'000'000) {
    return bad("burst must be an integer in [1, 1000000]");
  }
  if (parts.size() == 3) {
    if (parts[2] == "open") {
      p.fail_mode = FailMode::kOpen;
    } else if (parts[2] == "closed") {
      p.fail_mode = FailMode::kClosed;
    } else {
      return bad("fail mode must be open or closed");
    }
  }
  return p;
}

const std::map<std::string, std::string>& DefaultPolicySpecs() {
  static const auto* specs = new std::map<std::string, std::string>{
      {"ip", "10/20/open"},          {"email", "0.2/5/open"},
      {"api_key", "50/100/open"},    {"event", "500/1000/open"},
      {"resend", "0.0167/3/closed"}, {"organizer", "20/50/open"},
  };
  return *specs;
}

}  // namespace admit::ratelimit
