// The figures of one load run, from its timings and outcomes, and their
// three renderings: a table for the terminal, JSON, and an HTML page with
// inline SVG charts (throughput and latency over time).
#ifndef ADMIT_LOADTEST_SUMMARY_H_
#define ADMIT_LOADTEST_SUMMARY_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "loadtest/checks.h"
#include "loadtest/driver.h"
#include "loadtest/follow.h"
#include "loadtest/histogram.h"
#include "loadtest/organizer.h"
#include "loadtest/outcome.h"
#include "loadtest/plan.h"
#include "loadtest/proc_stats.h"
#include "nlohmann/json.hpp"

namespace admit::loadtest {

struct RunConfig {
  std::string scenario;  // spike | steady | organizer | grpc-ceiling
  std::string target;
  std::string event_id;
  int32_t capacity = 0;
  int64_t attempts = 0;
  int clients = 0;  // closed loop
  double rate = 0;  // open loop, calls/s
  int channels = 0;
};

struct Window {
  int64_t start_ms = 0;
  int64_t answers = 0;
  int64_t p50_us = 0, p99_us = 0, max_us = 0;
};

struct RunSummary {
  RunConfig config;
  int64_t answered = 0;
  int64_t ok = 0;
  double wall_seconds = 0;  // first intended send -> last answer
  double answers_per_s = 0;
  double ok_per_s = 0;
  Histogram latency;                       // µs, every answered call
  std::map<std::string, int64_t> by_code;  // "OK", "ALREADY_EXISTS", ...
  std::map<std::string, int64_t>
      by_status;  // OK answers by registration status
  std::map<std::string, int64_t>
      by_kind;  // "retry OK", "invalid INVALID_ARGUMENT", ...
  // Calls whose code the scenario does not expect (e.g. UNAVAILABLE,
  // DEADLINE_EXCEEDED, INTERNAL): not invariant violations, but the run did
  // not get every attempt answered.
  int64_t unexpected = 0;
  std::vector<Window> per_100ms;  // answers only
  std::vector<Window>
      per_second;  // answers and latency of calls answered in it
  std::vector<Violation> violations;
  bool database_checked = false;
  DatabaseFacts database;
  FollowFacts follow;        // spike --confirm-fraction
  OrganizerFacts organizer;  // scenario organizer
  std::map<std::string, ProcReport> processes;
  int64_t proc_interval_ms = 0;
};

const char* CodeName(grpc::StatusCode code);
const char* StatusName(int registration_status);

// `plan` may be empty (grpc-ceiling): then every call counts as kind "call"
// and only OK is expected.
RunSummary Summarize(const RunConfig& config, const std::vector<Attempt>& plan,
                     const std::vector<Timing>& timings,
                     const std::vector<Outcome>& outcomes);

nlohmann::json ToJson(const RunSummary& s);
std::string Table(const RunSummary& s);
std::string HtmlReport(const RunSummary& s);

}  // namespace admit::loadtest

#endif  // ADMIT_LOADTEST_SUMMARY_H_
