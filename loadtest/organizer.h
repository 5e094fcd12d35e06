// The organizer side of a Register spike (scenario `organizer`): while the
// spike runs, a few clients poll OrganizerService.GetRegistrationCounts,
// N WatchRegistrationCounts streams follow the event and one
// ExportRegistrations runs; after it, the final counts are compared with a
// full scan of the event's registrations, every stream must have converged
// on them, and a second export must hold every registration exactly once.
//
// Every call is on gRPC's callback API: the streams and polls cost no
// thread of their own (1,000 watchers ride on a few channels and gRPC's
// callback threads).
#ifndef ADMIT_LOADTEST_ORGANIZER_H_
#define ADMIT_LOADTEST_ORGANIZER_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "admit/v1/organizer.grpc.pb.h"
#include "grpcpp/channel.h"
#include "loadtest/checks.h"
#include "loadtest/histogram.h"

namespace admit::loadtest {

struct OrganizerOptions {
  std::string event_id;
  std::string api_key;  // sent as `authorization: Bearer <key>`
  int pollers = 4;      // concurrent GetRegistrationCounts loops
  int watchers = 1000;  // WatchRegistrationCounts streams
  std::chrono::milliseconds call_deadline{30000};     // each poll
  std::chrono::milliseconds export_deadline{120000};  // each export
  // How long the streams get, after the spike, to deliver the final counts
  // (the server coalesces changes into one message per interval, 500 ms by
  // default).
  std::chrono::milliseconds settle_deadline{30000};
};

// One ExportRegistrations call.
struct ExportFacts {
  bool ran = false;
  std::string code;  // final status, "OK" when complete
  int64_t chunks = 0;
  int64_t rows = 0;      // sum of ExportChunk.rows
  int64_t csv_rows = 0;  // data rows counted in the CSV bytes
  int64_t bytes = 0;
  int64_t distinct_ids = 0;
  int64_t duplicate_ids = 0;  // registration_id seen more than once
  bool header_ok = false;     // the first row is the documented header
  double seconds = 0;
  double rows_per_s = 0;
  std::set<std::string> ids;  // not reported; for the checks
};

struct OrganizerFacts {
  bool enabled = false;
  // GetRegistrationCounts during the spike.
  int pollers = 0;
  int64_t count_calls = 0;
  Histogram count_latency;  // µs, every answered poll
  std::map<std::string, int64_t> count_codes;
  // WatchRegistrationCounts streams.
  int64_t watchers = 0;
  int64_t watchers_with_message = 0;
  int64_t watchers_final = 0;  // last message equal to the final counts
  int64_t watch_messages = 0;
  Histogram first_message;  // µs from the stream's start
  int64_t messages_min = 0, messages_max = 0;
  std::map<std::string, int64_t> watch_end_codes;  // ended before cancelled
  double settle_seconds = 0;  // spike end -> every stream final (or deadline)
  // Exports: one started when half the spike was answered, one after it.
  ExportFacts export_during, export_after;
  // The final counts against a scan of the registrations.
  bool counts_checked = false;
  bool counts_match = false;
  int64_t registrations = 0;  // rows of the event in the scan
  int64_t counts_total = 0;   // RegistrationCounts.total.total
  int64_t count_groups = 0;   // (dimension, key) groups compared
};

// Drives the organizer calls on `channels` (spread round-robin). Thread
// safety: the methods are called from one thread (the tool's main);
// MaybeStartDuringExport may be called from any thread.
class OrganizerLoad {
 public:
  OrganizerLoad(std::vector<std::shared_ptr<grpc::Channel>> channels,
                OrganizerOptions options);
  ~OrganizerLoad();  // cancels what still runs and waits for it

  // Opens the watch streams and starts the pollers.
  void Start();
  // Starts the during-spike export (once; later calls do nothing).
  void MaybeStartDuringExport();
  // Stops the pollers and waits for the during-spike export.
  void StopSpikeLoad();

  // After the spike: reads the final counts (GetRegistrationCounts),
  // compares them with a scan of the registrations at `pg_url`, waits for
  // every stream's last message to equal them, cancels the streams, runs
  // the final export and checks it against the event's registrations.
  // Appends violations:
  //  - organizer_counts_exact: the final counts differ from the scan in a
  //    status, ticket type, organization or country (or checked_in);
  //  - counts_monotonic: a poller's answer, or a stream's message, whose
  //    total (registrations ever made: never decreases) is below that
  //    poller's or stream's previous one;
  //  - watch_first_message: a stream never got a message;
  //  - watch_final_counts: a stream's last message is not the final counts
  //    by the deadline;
  //  - export_rows: the final export is incomplete, its rows are not the
  //    event's registrations, an id twice, or chunk rows disagree with its
  //    CSV; an export during the spike holds an id twice or one that is
  //    not a registration of the event.
  // Returns an error only if the checks could not run (Postgres, or the
  // final GetRegistrationCounts failed).
  absl::Status Finish(const std::string& pg_url,
                      std::chrono::steady_clock::time_point spike_end,
                      std::vector<Violation>& out, OrganizerFacts& facts);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits CSV bytes (RFC 4180) into rows, keeping each row's first field
// (unquoted) in rows_first_fields, header included; the state carries over
// from one chunk to the next. A line break inside quotes is data. Exposed
// for tests.
struct CsvRowCounter {
  bool in_quotes = false;
  int field_index = 0;
  std::string first_field;
  std::vector<std::string> rows_first_fields;  // the header's first
  void Feed(const std::string& bytes);
};

}  // namespace admit::loadtest

#endif  // ADMIT_LOADTEST_ORGANIZER_H_
