// Test helpers for anything that serves /metrics: fetch it over HTTP and run
// Debian's promtool over the text. Test-only (admit::metrics_testing).
#ifndef ADMIT_COMMON_METRICS_METRICS_TESTING_H_
#define ADMIT_COMMON_METRICS_METRICS_TESTING_H_

#include <chrono>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace admit::metrics::testing {

// GET http://127.0.0.1:<port><path> with a plain socket (HTTP/1.0-style,
// Connection: close). Returns the body of a 200 response; UNAVAILABLE when the
// connection fails, INTERNAL for another status line (the message has it).
absl::StatusOr<std::string> HttpGet(
    int port, const std::string& path,
    std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Runs `promtool check metrics` (/usr/bin/promtool unless ADMIT_PROMTOOL is
// set) on `text`. OK when it exits 0 with no output; FAILED_PRECONDITION with
// promtool's complaints otherwise; NOT_FOUND when promtool is missing.
absl::Status PromtoolCheckMetrics(const std::string& text);

// The value of the first sample named `name` (e.g. "grpc_server_in_flight",
// "grpc_server_handling_seconds_count") whose labels include every pair in
// `labels`; NOT_FOUND when there is none. Label values must not contain
// escaped quotes (admit's never do).
absl::StatusOr<double> SampleValue(
    const std::string& text, const std::string& name,
    const std::map<std::string, std::string>& labels = {});

}  // namespace admit::metrics::testing

#endif  // ADMIT_COMMON_METRICS_METRICS_TESTING_H_
