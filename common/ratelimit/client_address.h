// Which address a request comes from, for the per-IP policy, such that a
// client cannot choose its own identity.
#ifndef ADMIT_COMMON_RATELIMIT_CLIENT_ADDRESS_H_
#define ADMIT_COMMON_RATELIMIT_CLIENT_ADDRESS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace admit::ratelimit {

// An IPv4 or IPv6 network. IPv4 is held as ::ffff:a.b.c.d (IPv4-mapped), so
// "10.0.0.0/8" also matches a peer that arrives as ::ffff:10.1.2.3.
struct Cidr {
  std::array<uint8_t, 16> address{};
  int prefix_bits = 0;  // over the 128-bit form

  bool Contains(const std::array<uint8_t, 16>& ip) const;
};

// Parses "10.0.0.0/8", "fd00::/8", or a bare address (a /32 or /128).
absl::StatusOr<Cidr> ParseCidr(std::string_view text);
// A comma- or space-separated list of them ("" -> empty).
absl::StatusOr<std::vector<Cidr>> ParseCidrList(std::string_view text);

// An address in 128-bit form, from a literal ("1.2.3.4", "::1", "[::1]");
// nullopt if it is not one.
std::optional<std::array<uint8_t, 16>> ParseIp(std::string_view text);
// The canonical text of an address (dotted quad for IPv4-mapped).
std::string FormatIp(const std::array<uint8_t, 16>& ip);

// The client's address, canonical text, from
//   `peer`            grpc::ServerContext::peer(): "ipv4:1.2.3.4:5678",
//                     "ipv6:[::1]:5678" (also %5B..%5D-encoded), or a bare
//                     address;
//   `x_forwarded_for` the header's value ("" when absent; several headers
//                     joined with commas);
//   `trusted_proxies` the networks of proxies allowed to speak for clients.
// x-forwarded-for is read only when the peer is a trusted proxy; then its
// hops are walked right to left and the first one that is not a trusted
// proxy is the client (an unparsable hop stops the walk: the last trusted
// hop seen is the answer). When every hop is trusted, the left-most one.
// A peer that is not an IP address (unix socket, in-process) is returned as
// given (all such callers then share one bucket).
std::string ClientAddress(std::string_view peer,
                          std::string_view x_forwarded_for,
                          const std::vector<Cidr>& trusted_proxies);

}  // namespace admit::ratelimit

#endif  // ADMIT_COMMON_RATELIMIT_CLIENT_ADDRESS_H_
