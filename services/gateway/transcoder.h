// HTTP <-> protobuf for one route, with protobuf's JSON mapping: the pure
// part of the gateway (no sockets, no gRPC calls), so that it can be unit
// tested and fuzzed.
//
// Request (google.api.http rules):
//   body "*"      the whole JSON body is the request message (empty = {});
//                 query parameters are ignored;
//   body "field"  the JSON body is that field; other fields from the query;
//   no body       every field from the query string;
//   path variables are set last, so they win over the body and the query.
// Query parameters name a field path, dotted, in proto or JSON spelling
// ("ticket_type_id" or "ticketTypeId", "min_interval=2s"); each value goes
// through the JSON mapping of that field (numbers, enums by name, durations,
// timestamps...), a repeated field takes every occurrence. Unknown parameters
// are ignored (caches and browsers add their own). A top-level
// `manage_token` field is never read from the query: it comes from the
// X-Manage-Token header (tokens stay out of URLs and access logs).
//
// Every failure is INVALID_ARGUMENT with a message for developers saying what
// was wrong, never a crash: malformed JSON, unknown JSON fields, wrong types.
#ifndef ADMIT_SERVICES_GATEWAY_TRANSCODER_H_
#define ADMIT_SERVICES_GATEWAY_TRANSCODER_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "services/gateway/route_table.h"

namespace admit::gateway {

struct HttpRequestParts {
  std::vector<std::pair<std::string, std::string>> bindings;  // from Match
  // Decoded query parameters, in order (repeats allowed).
  std::vector<std::pair<std::string, std::string>> query;
  absl::string_view body;
  // The X-Manage-Token header, when present.
  std::optional<std::string> manage_token;
};

// The serialized request message for `route`.
absl::StatusOr<std::string> BuildRequest(const Route& route,
                                         const HttpRequestParts& parts);

// A response message (serialized, as received) as the HTTP body: its JSON
// (lowerCamelCase names, defaults omitted), or, with response_body naming a
// bytes/string field, that field's raw content. INTERNAL when the bytes do
// not parse as the method's output type.
absl::StatusOr<std::string> ResponseBody(const Route& route,
                                         absl::string_view message_bytes);

// A gRPC status as an HTTP error.
struct HttpError {
  int http_status = 500;
  // google.rpc.Status as JSON: {"code": N, "message": "...", "details": [...]}.
  std::string json;
  // Seconds, from a google.rpc.RetryInfo detail (rounded up, at least 1).
  std::optional<int64_t> retry_after_seconds;
};

// The HTTP status for a gRPC code (see README.md: the table).
int HttpStatusForCode(int grpc_code);

// Builds the error from the status code, message and the serialized
// google.rpc.Status of grpc-status-details-bin ("" when absent). Details
// whose types are unknown to this binary are dropped, not fatal; when the
// details' code disagrees with `grpc_code`, `grpc_code` wins.
HttpError ErrorFromGrpc(int grpc_code, absl::string_view message,
                        absl::string_view status_details_bin);

}  // namespace admit::gateway

#endif  // ADMIT_SERVICES_GATEWAY_TRANSCODER_H_
