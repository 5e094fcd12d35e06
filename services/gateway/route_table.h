// The gateway's routes, read from the google.api.http annotations of the
// services it fronts (no route is written by hand).
//
//   auto table = RouteTable::FromServices({"admit.v1.RegistrationService"});
//   RouteMatch m = table->Match("GET", "/v1/events/pp-2026/availability");
//   // m.route->method is admit.v1.RegistrationService.GetAvailability,
//   // m.bindings is {{"event_id", "pp-2026"}}.
//
// Path templates: the subset of google.api.http's grammar admit's protos use,
// "/" Segment { "/" Segment } [ ":" Verb ], where a segment is a literal, "*"
// (matched, not bound) or a variable "{field.path}" / "{field.path=*}" that
// binds exactly one non-empty path segment to the (possibly nested) field.
// "**" and multi-segment variables are refused at start-up (FromServices
// fails naming the method), so an annotation the gateway cannot serve is
// noticed at once, not at request time.
//
// Thread safety: immutable after construction; Match() may be called from any
// thread.
#ifndef ADMIT_SERVICES_GATEWAY_ROUTE_TABLE_H_
#define ADMIT_SERVICES_GATEWAY_ROUTE_TABLE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"

namespace admit::gateway {

struct Route {
  // "GET", "POST", "PUT", "PATCH", "DELETE" (or a custom verb's kind).
  std::string http_method;
  // The annotation's path as written: "/v1/events/{event_id}/registrations".
  // Used as the `route` metric label (never the concrete path).
  std::string path_template;
  // The annotation's body ("", "*" or a top-level field name) and
  // response_body ("" or a top-level field name).
  std::string body;
  std::string response_body;
  const google::protobuf::MethodDescriptor* method = nullptr;
  // "/admit.v1.RegistrationService/Register".
  std::string grpc_path;
  bool server_streaming = false;

  // Parsed template: one entry per path segment; a literal, "*" or a
  // variable (its field path, dotted).
  struct Segment {
    enum class Kind { kLiteral, kWildcard, kVariable } kind;
    std::string text;  // the literal, or the field path of a variable
  };
  std::vector<Segment> segments;
  std::string verb;  // after the final ':', "" when none
};

struct RouteMatch {
  // Set when a route matched.
  const Route* route = nullptr;
  // Field path -> percent-decoded path segment, in template order.
  std::vector<std::pair<std::string, std::string>> bindings;
  // When no route matched the method but some matched the path: their HTTP
  // methods (for 405 and the Allow header). Empty otherwise.
  std::vector<std::string> allowed_methods;
};

class RouteTable {
 public:
  // Builds the table from every annotated method (and additional_bindings)
  // of the named services, found in the generated descriptor pool. Fails
  // with INVALID_ARGUMENT naming the method when an annotation uses a
  // template this gateway cannot serve, a variable or body names no field,
  // or two routes have the same method and template; NOT_FOUND when a
  // service is not in the pool (its generated code is not linked in).
  static absl::StatusOr<std::unique_ptr<RouteTable>> FromServices(
      const std::vector<std::string>& service_names);

  // Finds the route for an HTTP method and a request path (without the
  // query string; percent-encoding still in place). Literal segments match
  // exactly; variables match one non-empty segment, decoded.
  RouteMatch Match(absl::string_view http_method, absl::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

// Parses a path template into `route->segments` and `route->verb`; exposed
// for tests.
absl::Status ParsePathTemplate(absl::string_view path_template, Route* route);

// Percent-decodes one path segment into `out`; false on a malformed escape
// ("%" not followed by two hex digits) or a decoded NUL.
bool PercentDecode(absl::string_view in, std::string* out);

}  // namespace admit::gateway

#endif  // ADMIT_SERVICES_GATEWAY_ROUTE_TABLE_H_
