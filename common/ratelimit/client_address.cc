#include "common/ratelimit/client_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace admit::ratelimit {
namespace {

absl::string_view Absl(std::string_view s) { return {s.data(), s.size()}; }

bool IsTrusted(const std::array<uint8_t, 16>& ip,
               const std::vector<Cidr>& trusted) {
  for (const Cidr& c : trusted) {
    if (c.Contains(ip)) return true;
  }
  return false;
}

// The address part of a gRPC peer string, or "" if it has none.
std::string PeerAddress(std::string_view peer) {
  std::string p(peer);
  // Newer gRPC percent-encodes the brackets of IPv6 peers.
  for (const auto& [from, to] :
       {std::pair{"%5B", "["}, {"%5D", "]"}, {"%5b", "["}, {"%5d", "]"}}) {
    for (size_t at; (at = p.find(from)) != std::string::npos;) {
      p.replace(at, 3, to);
    }
  }
  if (p.rfind("ipv4:", 0) == 0) {
    p = p.substr(5);
    const size_t colon = p.rfind(':');
    return colon == std::string::npos ? p : p.substr(0, colon);
  }
  if (p.rfind("ipv6:", 0) == 0) {
    p = p.substr(5);
    if (!p.empty() && p[0] == '[') {
      const size_t close = p.find(']');
      return close == std::string::npos ? "" : p.substr(1, close - 1);
    }
    return p;
  }
  return p;
}

}  // namespace

bool Cidr::Contains(const std::array<uint8_t, 16>& ip) const {
  int bits = prefix_bits;
  for (size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const uint8_t mask =
        bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((ip[i] & mask) != (address[i] & mask)) return false;
  }
  return true;
}

std::optional<std::array<uint8_t, 16>> ParseIp(std::string_view text) {
  std::string t(absl::StripAsciiWhitespace(Absl(text)));
  if (t.size() >= 2 && t.front() == '[' && t.back() == ']') {
    t = t.substr(1, t.size() - 2);
  }
  // A zone (fe80::1%eth0) is not part of the address.
  if (const size_t pct = t.find('%'); pct != std::string::npos) t.resize(pct);
  std::array<uint8_t, 16> out{};
  in_addr v4;
  if (inet_pton(AF_INET, t.c_str(), &v4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(&out[12], &v4, 4);
    return out;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, t.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

std::string FormatIp(const std::array<uint8_t, 16>& ip) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0,    0,
                                          0, 0, 0, 0, 0xff, 0xff};
  char buf[INET6_ADDRSTRLEN] = {};
  if (std::memcmp(ip.data(), kMapped, 12) == 0) {
    inet_ntop(AF_INET, &ip[12], buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
  }
  return buf;
}

absl::StatusOr<Cidr> ParseCidr(std::string_view text) {
  const std::string t(absl::StripAsciiWhitespace(Absl(text)));
  const size_t slash = t.find('/');
  const std::string addr = t.substr(0, slash);
  const auto ip = ParseIp(addr);
  const bool v4 = addr.find(':') == std::string::npos;
  if (!ip) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", t, "\" is not an address or CIDR"));
  }
  Cidr c{*ip, 128};
  if (slash != std::string::npos) {
    int bits = -1;
    if (!absl::SimpleAtoi(t.substr(slash + 1), &bits) || bits < 0 ||
        bits > (v4 ? 32 : 128)) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", t, "\": bad prefix length"));
    }
    c.prefix_bits = v4 ? bits + 96 : bits;
  }
  return c;
}

absl::StatusOr<std::vector<Cidr>> ParseCidrList(std::string_view text) {
  std::vector<Cidr> out;
  for (absl::string_view part :
       absl::StrSplit(Absl(text), absl::ByAnyChar(", \t"), absl::SkipEmpty())) {
    auto c = ParseCidr(std::string_view(part.data(), part.size()));
    if (!c.ok()) return c.status();
    out.push_back(*c);
  }
  return out;
}

std::string ClientAddress(std::string_view peer,
                          std::string_view x_forwarded_for,
                          const std::vector<Cidr>& trusted_proxies) {
  const std::string peer_addr = PeerAddress(peer);
  const auto peer_ip = ParseIp(peer_addr);
  if (!peer_ip) return std::string(peer);
  std::array<uint8_t, 16> client = *peer_ip;
  if (!IsTrusted(client, trusted_proxies)) return FormatIp(client);
  const std::vector<absl::string_view> hops =
      absl::StrSplit(Absl(x_forwarded_for), ',', absl::SkipWhitespace());
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    const auto hop = ParseIp(std::string_view(it->data(), it->size()));
    if (!hop) break;
    client = *hop;
    if (!IsTrusted(client, trusted_proxies)) break;
  }
  return FormatIp(client);
}

}  // namespace admit::ratelimit
