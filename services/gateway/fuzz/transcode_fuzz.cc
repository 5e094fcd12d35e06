// libFuzzer target: the gateway's request parsing and JSON mapping, the part
// that sees untrusted bytes before any service does.
//
// Input layout: byte 0 picks a route of the real route table (admit's
// google.api.http annotations); the rest is "path\nquery\nbody". The path is
// matched against every route (and its bindings used), the query parsed and
// percent-decoded, the body mapped through JsonStringToMessage; the same
// bytes are also fed to ResponseBody (as a response message) and
// ErrorFromGrpc (as grpc-status-details-bin). Nothing may crash, leak or hit
// undefined behaviour (built with ASan + UBSan); results are not checked.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_split.h"
#include "services/gateway/admit_api.h"
#include "services/gateway/route_table.h"
#include "services/gateway/transcoder.h"

namespace {

const admit::gateway::RouteTable& Table() {
  static const admit::gateway::RouteTable* table = [] {
    auto t = admit::gateway::RouteTable::FromServices(
        admit::gateway::AdmitServices());
    if (!t.ok()) __builtin_trap();
    return t->release();
  }();
  return *table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace admit::gateway;  // NOLINT
  if (size < 1) return 0;
  const RouteTable& table = Table();
  const Route& route = table.routes()[data[0] % table.routes().size()];
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string> parts =
      absl::StrSplit(rest, absl::MaxSplits('\n', 2));
  parts.resize(3);

  HttpRequestParts request;
  RouteMatch match = table.Match(route.http_method, parts[0]);
  const Route* target = match.route != nullptr ? match.route : &route;
  request.bindings = match.bindings;
  if (match.route == nullptr) {
    // Bind the raw path text to the route's variables, to reach the JSON
    // mapping of path values with any bytes.
    for (const Route::Segment& s : route.segments) {
      if (s.kind == Route::Segment::Kind::kVariable) {
        request.bindings.emplace_back(s.text, parts[0]);
      }
    }
  }
  for (absl::string_view pair :
       absl::StrSplit(parts[1], '&', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    kv.resize(2);
    std::string key, value;
    if (!PercentDecode(kv[0], &key) || !PercentDecode(kv[1], &value)) continue;
    request.query.emplace_back(key, value);
  }
  request.body = parts[2];
  if (!parts[0].empty() && parts[0][0] == 'T') request.manage_token = parts[1];
  (void)BuildRequest(*target, request);
  (void)ResponseBody(*target, rest);
  (void)ErrorFromGrpc(data[0] % 20, parts[0], rest);
  return 0;
}
