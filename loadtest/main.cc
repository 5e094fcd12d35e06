// admit-loadtest: load generator, invariant checker and report for admit.
// See loadtest/README.md for the scenarios, flags and exit codes.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "loadtest/checks.h"
#include "loadtest/client.h"
#include "loadtest/driver.h"
#include "loadtest/env_file.h"
#include "loadtest/follow.h"
#include "loadtest/organizer.h"
#include "loadtest/plan.h"
#include "loadtest/proc_stats.h"
#include "loadtest/summary.h"

namespace admit::loadtest {
namespace {

// Exit codes.
constexpr int kOk = 0;
constexpr int kViolations = 1;   // an invariant is broken
constexpr int kSetupFailed = 2;  // bad flags, CreateEvent failed, no connection
constexpr int kCheckFailed = 3;  // the database checks could not run
constexpr int kUnanswered =
    4;  // with --require-all-answered: some call was not answered as expected

struct Flags {
  std::string endpoints;
  std::string registration;
  std::string organizer;
  std::string admin_key;
  std::string pg_url;
  std::vector<std::string> pids;  // NAME=PID
  int channels = 4;
  int deadline_ms = 30000;
  std::string json_out;
  std::string report_out;
  uint64_t seed = 0;
  bool require_all_answered = false;
  // Register scenarios
  std::string event_id;
  int32_t capacity = 100;
  int ticket_types = 1;
  int64_t attempts = 1000;
  int clients = 64;
  double rate = 1000;
  double retry_fraction = 0;
  double duplicate_fraction = 0;
  double invalid_fraction = 0;
  bool skip_db_check = false;
  // Following the run through email confirmation (--confirm-fraction)
  double confirm_fraction = -1;  // < 0: off
  std::string confirmation;
  std::string maildir;
  double mail_deadline_s = 0;  // 0: scaled with the expected messages
  bool wait_tickets = false;
  // Scenario organizer
  int watchers = 1000;
  int watch_channels = 4;
  int pollers = 4;
  double settle_s = 30;
  double export_deadline_s = 120;
};

std::string Or(const std::string& a, const std::string& b) {
  return a.empty() ? b : a;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// Fills what the flags left empty from the endpoints file, then the
// environment (the run command's variable names).
bool ResolveDefaults(Flags& f, std::map<std::string, pid_t>& pids) {
  std::map<std::string, std::string> env;
  if (!f.endpoints.empty()) {
    auto parsed = ReadEnvFile(f.endpoints);
    if (!parsed.ok()) {
      std::cerr << "admit-loadtest: " << parsed.status() << "\n";
      return false;
    }
    env = *parsed;
  }
  auto get = [&](const char* name) {
    auto it = env.find(name);
    return it != env.end() ? it->second : Env(name);
  };
  f.registration = Or(f.registration, get("ADMIT_REGISTRATION_GRPC"));
  f.organizer = Or(f.organizer, f.registration);
  f.admin_key = Or(f.admin_key, get("ADMIT_BOOTSTRAP_ADMIN_KEY"));
  f.pg_url = Or(f.pg_url, get("ADMIT_PG_URL"));
  f.confirmation = Or(f.confirmation, get("ADMIT_CONFIRMATION_GRPC"));
  f.maildir = Or(f.maildir, get("ADMIT_MAILDIR"));
  for (const std::string& name : SplitWords(get("ADMIT_SERVICES"))) {
    std::string upper = name;
    for (char& c : upper)
      c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
    const std::string pid = get(absl::StrCat("ADMIT_", upper, "_PID").c_str());
    if (!pid.empty()) pids[name] = std::atoi(pid.c_str());
  }
  for (const std::string& kv : f.pids) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || std::atoi(kv.c_str() + eq + 1) <= 0) {
      std::cerr << "admit-loadtest: --pid wants NAME=PID, got " << kv << "\n";
      return false;
    }
    pids[kv.substr(0, eq)] = std::atoi(kv.c_str() + eq + 1);
  }
  if (f.seed == 0)
    f.seed = static_cast<uint64_t>(getpid()) * 2654435761u ^
             static_cast<uint64_t>(time(nullptr));
  return true;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) std::cerr << "admit-loadtest: cannot write " << path << "\n";
  return static_cast<bool>(out);
}

int Finish(RunSummary& s, const Flags& f) {
  std::cout << Table(s) << std::flush;
  if (!f.json_out.empty()) WriteFile(f.json_out, ToJson(s).dump(2) + "\n");
  if (!f.report_out.empty()) WriteFile(f.report_out, HtmlReport(s));
  if (!s.violations.empty()) return kViolations;
  if (f.require_all_answered && s.unexpected > 0) {
    std::cerr << "admit-loadtest: " << s.unexpected
              << " calls were not answered as expected\n";
    return kUnanswered;
  }
  return kOk;
}

int RunRegister(const std::string& scenario, Flags& f) {
  std::map<std::string, pid_t> pids;
  if (!ResolveDefaults(f, pids)) return kSetupFailed;
  if (f.registration.empty()) {
    std::cerr << "admit-loadtest: no registration address (--registration, "
                 "--endpoints or ADMIT_REGISTRATION_GRPC)\n";
    return kSetupFailed;
  }
  if (f.admin_key.empty()) {
    std::cerr << "admit-loadtest: no admin key (--admin-key, --endpoints or "
                 "ADMIT_BOOTSTRAP_ADMIN_KEY)\n";
    return kSetupFailed;
  }
  if (f.pg_url.empty() && !f.skip_db_check) {
    std::cerr
        << "admit-loadtest: no Postgres URL for the invariant checks "
           "(--pg-url, --endpoints or ADMIT_PG_URL; or --skip-db-check)\n";
    return kSetupFailed;
  }
  const bool organizer_load = scenario == "organizer";
  if (organizer_load && f.skip_db_check) {
    std::cerr << "admit-loadtest: the organizer scenario checks the counts "
                 "against Postgres: --skip-db-check is not allowed\n";
    return kSetupFailed;
  }
  const bool follow = f.confirm_fraction >= 0;
  if (follow &&
      (f.confirmation.empty() || f.maildir.empty() || f.skip_db_check)) {
    std::cerr << "admit-loadtest: --confirm-fraction needs the confirmation "
                 "service (--confirmation or ADMIT_CONFIRMATION_GRPC), the "
                 "sink's Maildir (--maildir or ADMIT_MAILDIR) and the "
                 "database checks\n";
    return kSetupFailed;
  }
  std::vector<std::shared_ptr<grpc::Channel>> confirmation;
  if (follow) {
    confirmation = MakeChannels(f.confirmation, f.channels);
    if (!WaitConnected(confirmation, std::chrono::seconds(10))) {
      std::cerr << "admit-loadtest: cannot connect to " << f.confirmation
                << "\n";
      return kSetupFailed;
    }
  }
  const auto deadline = std::chrono::milliseconds(f.deadline_ms);
  auto organizer = MakeChannels(f.organizer, 1);
  EventSpec spec{.event_id = f.event_id,
                 .capacity = f.capacity,
                 .ticket_types = f.ticket_types};
  auto event = CreateEvent(*organizer[0], f.admin_key, spec);
  if (!event.ok()) {
    std::cerr << "admit-loadtest: " << event.status() << "\n";
    return kSetupFailed;
  }
  PlanOptions po{.event_id = event->id(),
                 .attempts = f.attempts,
                 .retry_fraction = f.retry_fraction,
                 .duplicate_fraction = f.duplicate_fraction,
                 .invalid_fraction = f.invalid_fraction,
                 .race_window = std::max(f.clients, 16),
                 .seed = f.seed,
                 .vary_attendees = organizer_load};
  for (const auto& t : event->ticket_types())
    po.ticket_type_ids.push_back(t.id());
  const std::vector<Attempt> plan = MakePlan(po);
  std::vector<Outcome> outcomes(plan.size());
  auto channels = MakeChannels(f.registration, f.channels);
  if (!WaitConnected(channels, std::chrono::seconds(10))) {
    std::cerr << "admit-loadtest: cannot connect to " << f.registration << "\n";
    return kSetupFailed;
  }
  IssueFn issue = RegisterIssuer(channels, plan, outcomes, deadline);

  // Scenario organizer: watchers and pollers from before the first
  // Register; the export when half of the attempts are answered.
  std::unique_ptr<OrganizerLoad> organizer_calls;
  if (organizer_load) {
    auto watch_channels = MakeChannels(f.organizer, f.watch_channels);
    if (!WaitConnected(watch_channels, std::chrono::seconds(10))) {
      std::cerr << "admit-loadtest: cannot connect to " << f.organizer << "\n";
      return kSetupFailed;
    }
    organizer_calls = std::make_unique<OrganizerLoad>(
        watch_channels,
        OrganizerOptions{.event_id = event->id(),
                         .api_key = f.admin_key,
                         .pollers = f.pollers,
                         .watchers = f.watchers,
                         .call_deadline = deadline,
                         .export_deadline = std::chrono::milliseconds(
                             static_cast<int64_t>(f.export_deadline_s * 1000)),
                         .settle_deadline = std::chrono::milliseconds(
                             static_cast<int64_t>(f.settle_s * 1000))});
    auto answered = std::make_shared<std::atomic<int64_t>>(0);
    const int64_t half = std::max<int64_t>(1, f.attempts / 2);
    OrganizerLoad* load = organizer_calls.get();
    issue = [register_call = std::move(issue), answered, half, load](
                int64_t i, std::function<void()> done) {
      register_call(i, [answered, half, load, done = std::move(done)] {
        if (answered->fetch_add(1) + 1 == half) load->MaybeStartDuringExport();
        done();
      });
    };
  }

  ProcWatcher watcher(pids, std::chrono::milliseconds(500));
  watcher.Start();
  if (organizer_calls) organizer_calls->Start();
  const RunClock clock;
  const std::vector<Timing> timings =
      scenario != "steady"
          ? RunClosedLoop(f.attempts, f.clients, issue, clock)
          : RunOpenLoop(f.attempts, f.rate, f.seed, issue, clock);
  const auto run_end = std::chrono::steady_clock::now();
  if (organizer_calls) organizer_calls->StopSpikeLoad();
  auto procs = watcher.Stop();

  RunConfig config{.scenario = scenario,
                   .target = f.registration,
                   .event_id = event->id(),
                   .capacity = f.capacity,
                   .attempts = f.attempts,
                   .clients = scenario != "steady" ? f.clients : 0,
                   .rate = scenario == "steady" ? f.rate : 0,
                   .channels = f.channels};
  RunSummary s = Summarize(config, plan, timings, outcomes);
  s.processes = std::move(procs);
  s.proc_interval_ms = watcher.interval().count();
  s.violations = CheckAnswers(plan, outcomes, f.capacity);
  if (!f.skip_db_check) {
    absl::Status checked = CheckDatabase(f.pg_url, event->id(), outcomes,
                                         s.violations, s.database);
    if (!checked.ok()) {
      Finish(s, f);
      std::cerr << "admit-loadtest: " << checked << "\n";
      return kCheckFailed;
    }
    s.database_checked = true;
  }
  if (organizer_calls) {
    absl::Status checked =
        organizer_calls->Finish(f.pg_url, run_end, s.violations, s.organizer);
    organizer_calls.reset();  // every stream ended
    if (!checked.ok()) {
      Finish(s, f);
      std::cerr << "admit-loadtest: " << checked << "\n";
      return kCheckFailed;
    }
  }
  if (follow) {
    FollowOptions fo{.maildir = f.maildir,
                     .pg_url = f.pg_url,
                     .event_id = event->id(),
                     .confirm_fraction = f.confirm_fraction,
                     .mail_deadline = std::chrono::milliseconds(
                         static_cast<int64_t>(f.mail_deadline_s * 1000)),
                     .wait_tickets = f.wait_tickets,
                     .clients = f.clients,
                     .call_deadline = deadline};
    std::vector<std::string> confirmed;
    absl::Status followed =
        FollowThroughConfirmation(fo, plan, outcomes, confirmation, run_end,
                                  s.violations, s.follow, confirmed);
    if (!followed.ok()) {
      Finish(s, f);
      std::cerr << "admit-loadtest: " << followed << "\n";
      return kCheckFailed;
    }
    // The database invariants again, now that some seats are sold: the
    // confirmed registrations are expected CONFIRMED.
    std::vector<Outcome> after = outcomes;
    const std::set<std::string> ids(confirmed.begin(), confirmed.end());
    for (Outcome& o : after) {
      if (o.code == grpc::StatusCode::OK && ids.count(o.registration_id) > 0)
        o.status = 2;  // CONFIRMED
    }
    std::vector<Violation> again;
    s.database = DatabaseFacts();  // the report shows the rows afterwards
    absl::Status checked =
        CheckDatabase(f.pg_url, event->id(), after, again, s.database);
    for (Violation& v : again) {
      v.check += " (after confirming)";
      s.violations.push_back(std::move(v));
    }
    if (!checked.ok()) {
      Finish(s, f);
      std::cerr << "admit-loadtest: " << checked << "\n";
      return kCheckFailed;
    }
  }
  return Finish(s, f);
}

int RunCeiling(Flags& f) {
  std::map<std::string, pid_t> pids;
  if (!ResolveDefaults(f, pids)) return kSetupFailed;
  if (f.registration.empty()) {
    std::cerr << "admit-loadtest: no target (--target, --endpoints or "
                 "ADMIT_REGISTRATION_GRPC)\n";
    return kSetupFailed;
  }
  auto channels = MakeChannels(f.registration, f.channels);
  if (!WaitConnected(channels, std::chrono::seconds(10))) {
    std::cerr << "admit-loadtest: cannot connect to " << f.registration << "\n";
    return kSetupFailed;
  }
  std::vector<Outcome> outcomes(static_cast<size_t>(f.attempts));
  const IssueFn issue = HealthCheckIssuer(
      channels, outcomes, std::chrono::milliseconds(f.deadline_ms));
  ProcWatcher watcher(pids, std::chrono::milliseconds(500));
  watcher.Start();
  const RunClock clock;
  const auto timings = RunClosedLoop(f.attempts, f.clients, issue, clock);
  auto procs = watcher.Stop();
  RunConfig config{.scenario = "grpc-ceiling",
                   .target = f.registration,
                   .attempts = f.attempts,
                   .clients = f.clients,
                   .channels = f.channels};
  RunSummary s = Summarize(config, {}, timings, outcomes);
  s.processes = std::move(procs);
  s.proc_interval_ms = watcher.interval().count();
  return Finish(s, f);
}

void CommonFlags(CLI::App* app, Flags& f) {
  app->add_option("--endpoints", f.endpoints,
                  "run command's endpoints.env: addresses, admin key, Postgres "
                  "URL, service PIDs");
  app->add_option("--pid", f.pids,
                  "NAME=PID of a process to report CPU/RSS of (with its "
                  "children); repeatable");
  app->add_option("--channels", f.channels,
                  "gRPC channels (TCP connections) to spread calls over")
      ->check(CLI::Range(1, 1024));
  app->add_option("--clients", f.clients, "concurrent clients (closed loop)")
      ->check(CLI::Range(1, 100000));
  app->add_option("--attempts", f.attempts, "calls to make")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  app->add_option("--deadline-ms", f.deadline_ms, "deadline of each call");
  app->add_option("--json", f.json_out,
                  "write the figures as JSON to this file");
  app->add_option("--report", f.report_out,
                  "write an HTML report with SVG charts to this file");
  app->add_option("--seed", f.seed, "random seed (0 = from pid and time)");
  app->add_flag("--require-all-answered", f.require_all_answered,
                "exit 4 if any call was unanswered or got an unexpected code");
}

void RegisterFlags(CLI::App* app, Flags& f) {
  CommonFlags(app, f);
  app->add_option(
      "--registration", f.registration,
      "registration service host:port (default ADMIT_REGISTRATION_GRPC)");
  app->add_option("--organizer", f.organizer,
                  "OrganizerService host:port (default: --registration)");
  app->add_option(
      "--admin-key", f.admin_key,
      "admin API key for CreateEvent (default ADMIT_BOOTSTRAP_ADMIN_KEY)");
  app->add_option(
      "--pg-url", f.pg_url,
      "Postgres URL for the invariant checks (default ADMIT_PG_URL)");
  app->add_option("--event-id", f.event_id,
                  "event id to create (default lt-<random>)");
  app->add_option("--capacity", f.capacity, "the event's capacity")
      ->check(CLI::Range(1, 1000000));
  app->add_option("--ticket-types", f.ticket_types,
                  "ticket types; attempts cycle through them")
      ->check(CLI::Range(1, 50));
  app->add_option(
         "--retry-fraction", f.retry_fraction,
         "share of attempts that re-send an earlier request (same request_id)")
      ->check(CLI::Range(0.0, 0.9));
  app->add_option(
         "--duplicate-fraction", f.duplicate_fraction,
         "share of attempts reusing an earlier email with a new request_id")
      ->check(CLI::Range(0.0, 0.9));
  app->add_option("--invalid-fraction", f.invalid_fraction,
                  "share of attempts with an invalid email")
      ->check(CLI::Range(0.0, 0.9));
  app->add_flag("--skip-db-check", f.skip_db_check,
                "check the answers only, not Postgres");
  app->add_option("--confirm-fraction", f.confirm_fraction,
                  "follow the run through email confirmation: wait for every "
                  "registration's email in --maildir, then confirm this share "
                  "of the PENDING ones with their token (0 = check delivery "
                  "only)")
      ->check(CLI::Range(0.0, 1.0));
  app->add_option("--confirmation", f.confirmation,
                  "ConfirmationService host:port (default "
                  "ADMIT_CONFIRMATION_GRPC)");
  app->add_option("--maildir", f.maildir,
                  "the SMTP sink's Maildir (default ADMIT_MAILDIR)");
  app->add_option("--mail-deadline-s", f.mail_deadline_s,
                  "how long to wait for the emails (default 30 s + 50 ms per "
                  "expected message)")
      ->check(CLI::Range(0.0, 86400.0));
  app->add_flag("--wait-tickets", f.wait_tickets,
                "also wait for each confirmed registration's ticket email");
}

}  // namespace
}  // namespace admit::loadtest

int main(int argc, char** argv) {
  using namespace admit::loadtest;  // NOLINT: the tool's own namespace
  CLI::App app{
      "admit-loadtest: load generator and invariant checker for admit"};
  app.require_subcommand(1);
  Flags f;
  CLI::App* spike = app.add_subcommand(
      "spike", "closed loop: --attempts from --clients as fast as answered");
  RegisterFlags(spike, f);
  CLI::App* steady =
      app.add_subcommand("steady",
                         "open loop: Poisson arrivals at --rate, latency from "
                         "the intended send time");
  RegisterFlags(steady, f);
  steady->add_option("--rate", f.rate, "arrivals per second")
      ->check(CLI::Range(0.1, 1e7));
  CLI::App* organizer = app.add_subcommand(
      "organizer",
      "spike plus organizer load: GetRegistrationCounts pollers, "
      "--watchers WatchRegistrationCounts streams, ExportRegistrations "
      "during and after; counts checked against a scan");
  RegisterFlags(organizer, f);
  organizer
      ->add_option("--watchers", f.watchers,
                   "WatchRegistrationCounts streams on the event")
      ->check(CLI::Range(0, 100000));
  organizer
      ->add_option("--watch-channels", f.watch_channels,
                   "gRPC channels (TCP connections) the organizer calls and "
                   "streams share")
      ->check(CLI::Range(1, 64));
  organizer
      ->add_option("--pollers", f.pollers,
                   "concurrent GetRegistrationCounts loops during the spike")
      ->check(CLI::Range(0, 1000));
  organizer
      ->add_option("--settle-s", f.settle_s,
                   "how long the streams get after the spike to deliver the "
                   "final counts")
      ->check(CLI::Range(0.0, 3600.0));
  organizer
      ->add_option("--export-deadline-s", f.export_deadline_s,
                   "deadline of each ExportRegistrations")
      ->check(CLI::Range(1.0, 86400.0));
  CLI::App* ceiling = app.add_subcommand(
      "grpc-ceiling",
      "closed loop of grpc.health.v1 Check: gRPC's own unary ceiling");
  CommonFlags(ceiling, f);
  ceiling->add_option(
      "--target", f.registration,
      "host:port of any admit server (default ADMIT_REGISTRATION_GRPC)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (f.retry_fraction + f.duplicate_fraction + f.invalid_fraction >= 1.0) {
    std::cerr << "admit-loadtest: the fractions must add up to less than 1\n";
    return 2;
  }
  if (spike->parsed()) return RunRegister("spike", f);
  if (steady->parsed()) return RunRegister("steady", f);
  if (organizer->parsed()) return RunRegister("organizer", f);
  return RunCeiling(f);
}
