#include "loadtest/organizer.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"
#include "loadtest/summary.h"
#include "pqxx/pqxx"

namespace admit::loadtest {
namespace {

using Clock = std::chrono::steady_clock;

int64_t MicrosSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t)
      .count();
}

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void Authorize(grpc::ClientContext& context, const std::string& key) {
  context.AddMetadata("authorization", absl::StrCat("Bearer ", key));
}

// `a` and `b` equal but for as_of.
bool SameCounts(const v1::RegistrationCounts& a,
                const v1::RegistrationCounts& b) {
  v1::RegistrationCounts x = a, y = b;
  x.clear_as_of();
  y.clear_as_of();
  return x.SerializeAsString() == y.SerializeAsString();
}

// Registrations per status (pending, confirmed, waitlisted, cancelled,
// expired) and checked_in, by (dimension, key): the dimensions of
// registration.registration_counts (0 event, 1 ticket type, 2 organization
// key, 3 country).
using Tally = std::array<int64_t, 6>;
using Tallies = std::map<std::pair<int, std::string>, Tally>;

constexpr const char* kScanSql =
    "SELECT d.dim, d.key, r.status, count(*), "
    "count(*) FILTER (WHERE r.status = 2 AND r.checked_in_at IS NOT NULL) "
    "FROM registration.registrations r CROSS JOIN LATERAL (VALUES (0, ''), "
    "(1, r.ticket_type_id), (2, r.organization_key), (3, r.country_code)) "
    "AS d(dim, key) WHERE r.event_id = $1 GROUP BY 1, 2, 3";

Tallies Scan(pqxx::connection& conn, const std::string& event_id) {
  pqxx::read_transaction tx(conn);
  Tallies out;
  for (const auto& row : tx.exec_params(kScanSql, event_id)) {
    Tally& t = out[{row[0].as<int>(), row[1].as<std::string>()}];
    const int status = row[2].as<int>();
    if (status >= 1 && status <= 5) t[status - 1] += row[3].as<int64_t>();
    t[5] += row[4].as<int64_t>();
  }
  return out;
}

bool Empty(const Tally& t) {
  for (int64_t v : t) {
    if (v != 0) return false;
  }
  return true;
}

std::string TallyText(const Tally& t) {
  return absl::StrCat("pending ", t[0], " confirmed ", t[1], " waitlisted ",
                      t[2], " cancelled ", t[3], " expired ", t[4],
                      " checked_in ", t[5]);
}

// The counts' groups, organizations by their key (the lower-cased spelling,
// as the service groups them); empty groups (a ticket type without
// registrations) left out, as the scan has none. Appends a violation for a
// `total` that is not the sum of the statuses.
Tallies TalliesOf(const v1::RegistrationCounts& counts,
                  std::vector<Violation>& out) {
  Tallies tallies;
  auto put = [&](int dim, const std::string& key, const v1::StatusCounts& c) {
    const Tally t{c.pending_confirmation(),
                  c.confirmed(),
                  c.waitlisted(),
                  c.cancelled(),
                  c.expired(),
                  c.checked_in()};
    if (c.total() != t[0] + t[1] + t[2] + t[3] + t[4]) {
      out.push_back(
          {"organizer_counts_exact",
           absl::StrCat("dimension ", dim, " key '", key, "': total ",
                        c.total(), " is not the sum of ", TallyText(t))});
    }
    if (!Empty(t)) tallies[{dim, key}] = t;
  };
  put(0, "", counts.total());
  for (const auto& t : counts.by_ticket_type())
    put(1, t.ticket_type_id(), t.counts());
  for (const auto& o : counts.by_organization())
    put(2, absl::AsciiStrToLower(o.organization()), o.counts());
  for (const auto& c : counts.by_country())
    put(3, c.country_code(), c.counts());
  return tallies;
}

constexpr const char* kDimNames[] = {"event", "ticket type", "organization",
                                     "country"};

}  // namespace

void CsvRowCounter::Feed(const std::string& bytes) {
  for (char c : bytes) {
    if (c == '"') {
      in_quotes = !in_quotes;  // a doubled quote toggles twice
      continue;
    }
    if (in_quotes) {
      if (field_index == 0) first_field += c;
      continue;
    }
    if (c == ',') {
      ++field_index;
    } else if (c == '\n') {
      rows_first_fields.push_back(std::move(first_field));
      first_field.clear();
      field_index = 0;
    } else if (c != '\r' && field_index == 0) {
      first_field += c;
    }
  }
}

class OrganizerLoad::Impl {
 public:
  Impl(std::vector<std::shared_ptr<grpc::Channel>> channels,
       OrganizerOptions options)
      : options_(std::move(options)) {
    for (const auto& c : channels)
      stubs_.push_back(v1::OrganizerService::NewStub(c));
  }

  ~Impl() {
    StopPollers();
    for (auto& w : watchers_) w->Cancel();
    WaitWatchersDone();
    for (ExportCall* e : {during_.get(), after_.get()}) {
      if (e != nullptr) e->Wait();
    }
  }

  v1::OrganizerService::Stub& Stub(size_t i) {
    return *stubs_[i % stubs_.size()];
  }

  // --- WatchRegistrationCounts -------------------------------------------

  class Watcher : public grpc::ClientReadReactor<v1::RegistrationCounts> {
   public:
    explicit Watcher(Impl* owner) : owner_(owner) {}

    void Start(v1::OrganizerService::Stub& stub) {
      Authorize(context_, owner_->options_.api_key);
      request_.set_event_id(owner_->options_.event_id);
      start_ = Clock::now();
      stub.async()->WatchRegistrationCounts(&context_, &request_, this);
      StartRead(&message_);
      StartCall();
    }
    void Cancel() { context_.TryCancel(); }

    void OnReadDone(bool ok) override {
      if (!ok) return;  // OnDone follows
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (messages_ == 0) first_us_ = MicrosSince(start_);
        if (messages_ > 0 && message_.total().total() < last_.total().total())
          ++regressions_;
        ++messages_;
        last_ = message_;
      }
      StartRead(&message_);
    }
    void OnDone(const grpc::Status& status) override {
      {
        std::lock_guard<std::mutex> lock(mu_);
        done_ = true;
        code_ = status.error_code();
      }
      owner_->WatcherDone();  // last: the owner may delete this afterwards
    }

    struct State {
      int64_t messages = 0;
      int64_t first_us = -1;
      bool done = false;
      grpc::StatusCode code = grpc::StatusCode::OK;
      int64_t regressions = 0;
    };
    State state() {
      std::lock_guard<std::mutex> lock(mu_);
      return {messages_, first_us_, done_, code_, regressions_};
    }
    bool LastEquals(const v1::RegistrationCounts& counts) {
      std::lock_guard<std::mutex> lock(mu_);
      return messages_ > 0 && SameCounts(last_, counts);
    }

   private:
    Impl* const owner_;
    grpc::ClientContext context_;
    v1::WatchRegistrationCountsRequest request_;
    v1::RegistrationCounts message_;
    Clock::time_point start_;
    std::mutex mu_;
    int64_t messages_ = 0;
    int64_t regressions_ = 0;  // messages whose total fell below the last
    int64_t first_us_ = -1;
    bool done_ = false;
    grpc::StatusCode code_ = grpc::StatusCode::OK;
    v1::RegistrationCounts last_;
  };

  void StartWatchers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      watchers_running_ = options_.watchers;
    }
    for (int i = 0; i < options_.watchers; ++i) {
      watchers_.push_back(std::make_unique<Watcher>(this));
      watchers_.back()->Start(Stub(static_cast<size_t>(i)));
    }
  }

  void WatcherDone() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--watchers_running_ == 0) cv_.notify_all();
  }

  void WaitWatchersDone() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return watchers_running_ <= 0; });
  }

  // --- GetRegistrationCounts pollers ---------------------------------------

  void StartPollers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      pollers_running_ = options_.pollers;
    }
    for (int i = 0; i < options_.pollers; ++i) Poll(static_cast<size_t>(i));
  }

  // One poller's loop: the next call when the previous one is answered (so
  // it reads a later snapshot than the previous one did).
  void Poll(size_t poller, int64_t last_total = 0) {
    if (stop_polling_.load()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (--pollers_running_ == 0) cv_.notify_all();
      return;
    }
    struct Call {
      grpc::ClientContext context;
      v1::GetRegistrationCountsRequest request;
      v1::RegistrationCounts response;
      Clock::time_point start;
    };
    auto* call = new Call;
    Authorize(call->context, options_.api_key);
    call->context.set_deadline(std::chrono::system_clock::now() +
                               options_.call_deadline);
    call->request.set_event_id(options_.event_id);
    call->start = Clock::now();
    Stub(poller).async()->GetRegistrationCounts(
        &call->context, &call->request, &call->response,
        [this, call, poller, last_total](grpc::Status status) {
          const int64_t us = MicrosSince(call->start);
          const int64_t total =
              status.ok() ? call->response.total().total() : last_total;
          delete call;
          {
            std::lock_guard<std::mutex> lock(mu_);
            ++count_calls_;
            count_latency_.Record(us);
            ++count_codes_[CodeName(status.error_code())];
            if (total < last_total) ++count_regressions_;
          }
          // A failing server answers at once: do not spin on it.
          if (!status.ok())
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
          Poll(poller, std::max(total, last_total));
        });
  }

  void StopPollers() {
    stop_polling_ = true;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return pollers_running_ <= 0; });
  }

  // --- ExportRegistrations -------------------------------------------------

  class ExportCall : public grpc::ClientReadReactor<v1::ExportChunk> {
   public:
    ExportCall(v1::OrganizerService::Stub& stub,
               const OrganizerOptions& options) {
      Authorize(context_, options.api_key);
      context_.set_deadline(std::chrono::system_clock::now() +
                            options.export_deadline);
      request_.set_event_id(options.event_id);
      facts_.ran = true;
      start_ = Clock::now();
      stub.async()->ExportRegistrations(&context_, &request_, this);
      StartRead(&chunk_);
      StartCall();
    }

    void OnReadDone(bool ok) override {
      if (!ok) return;
      ++facts_.chunks;
      facts_.rows += chunk_.rows();
      facts_.bytes += static_cast<int64_t>(chunk_.csv().size());
      const size_t before = csv_.rows_first_fields.size();
      csv_.Feed(chunk_.csv());
      // The header row is in the first chunk and is not counted in `rows`.
      const auto in_chunk =
          static_cast<int64_t>(csv_.rows_first_fields.size() - before -
                               (facts_.chunks == 1 ? 1 : 0));
      if (in_chunk != chunk_.rows()) ++chunks_miscounted_;
      StartRead(&chunk_);
    }

    void OnDone(const grpc::Status& status) override {
      std::lock_guard<std::mutex> lock(mu_);
      facts_.seconds = SecondsSince(start_);
      facts_.code = CodeName(status.error_code());
      const auto& rows = csv_.rows_first_fields;
      facts_.header_ok = !rows.empty() && rows[0] == "registration_id";
      for (size_t i = 1; i < rows.size(); ++i) {
        if (!facts_.ids.insert(rows[i]).second) ++facts_.duplicate_ids;
      }
      facts_.csv_rows =
          rows.empty() ? 0 : static_cast<int64_t>(rows.size()) - 1;
      facts_.distinct_ids = static_cast<int64_t>(facts_.ids.size());
      if (facts_.seconds > 0)
        facts_.rows_per_s = static_cast<double>(facts_.rows) / facts_.seconds;
      done_ = true;
      cv_.notify_all();
    }

    // Waits for the end of the call; returns its figures.
    ExportFacts Wait() {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return done_; });
      return facts_;
    }
    int64_t chunks_miscounted() {
      std::lock_guard<std::mutex> lock(mu_);
      return chunks_miscounted_;
    }

   private:
    grpc::ClientContext context_;
    v1::ExportRegistrationsRequest request_;
    v1::ExportChunk chunk_;
    Clock::time_point start_;
    CsvRowCounter csv_;  // read callbacks only (one at a time)
    int64_t chunks_miscounted_ = 0;
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    ExportFacts facts_;
  };

  void MaybeStartDuringExport() {
    if (during_started_.exchange(true)) return;
    std::lock_guard<std::mutex> lock(export_mu_);
    during_ = std::make_unique<ExportCall>(Stub(0), options_);
  }

  ExportCall* during() {
    std::lock_guard<std::mutex> lock(export_mu_);
    return during_.get();
  }

  absl::Status Finish(const std::string& pg_url, Clock::time_point spike_end,
                      std::vector<Violation>& out, OrganizerFacts& facts);

 private:
  friend class OrganizerLoad;

  const OrganizerOptions options_;
  std::vector<std::unique_ptr<v1::OrganizerService::Stub>> stubs_;
  std::vector<std::unique_ptr<Watcher>> watchers_;

  std::mutex mu_;
  std::condition_variable cv_;
  int watchers_running_ = 0;
  int pollers_running_ = 0;
  std::atomic<bool> stop_polling_{false};
  int64_t count_calls_ = 0;
  Histogram count_latency_;
  std::map<std::string, int64_t> count_codes_;
  int64_t count_regressions_ = 0;

  std::atomic<bool> during_started_{false};
  std::mutex export_mu_;
  std::unique_ptr<ExportCall> during_;
  std::unique_ptr<ExportCall> after_;
};

absl::Status OrganizerLoad::Impl::Finish(const std::string& pg_url,
                                         Clock::time_point spike_end,
                                         std::vector<Violation>& out,
                                         OrganizerFacts& facts) {
  facts.enabled = true;
  facts.pollers = options_.pollers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    facts.count_calls = count_calls_;
    facts.count_latency = count_latency_;
    facts.count_codes = count_codes_;
    if (count_regressions_ > 0) {
      out.push_back({"counts_monotonic",
                     absl::StrCat(count_regressions_,
                                  " GetRegistrationCounts answers whose total "
                                  "was below the same poller's previous one")});
    }
  }
  if (ExportCall* d = during()) {
    facts.export_during = d->Wait();
    if (d->chunks_miscounted() > 0) {
      out.push_back(
          {"export_rows",
           absl::StrCat("export during the spike: ", d->chunks_miscounted(),
                        " chunks whose rows differ from their CSV")});
    }
  }

  // 1. The final counts, against a scan of the registrations. The spike is
  // over, so nothing should change them; a scan before and after the read
  // makes sure of it (else it tries again).
  v1::RegistrationCounts final_counts;
  try {
    pqxx::connection conn(pg_url);
    Tallies scan;
    bool stable = false;
    for (int attempt = 0; attempt < 5 && !stable; ++attempt) {
      const Tallies before = Scan(conn, options_.event_id);
      grpc::ClientContext context;
      Authorize(context, options_.api_key);
      context.set_deadline(std::chrono::system_clock::now() +
                           options_.call_deadline);
      v1::GetRegistrationCountsRequest request;
      request.set_event_id(options_.event_id);
      const grpc::Status status =
          Stub(0).GetRegistrationCounts(&context, request, &final_counts);
      if (!status.ok()) {
        return absl::UnavailableError(absl::StrCat(
            "final GetRegistrationCounts: ", CodeName(status.error_code()), " ",
            status.error_message()));
      }
      scan = Scan(conn, options_.event_id);
      stable = scan == before;
      if (!stable) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (!stable) {
      out.push_back({"organizer_counts_exact",
                     "the event's registrations kept changing after the "
                     "spike; counts not compared"});
    } else {
      facts.counts_checked = true;
      const Tallies counts = TalliesOf(final_counts, out);
      facts.counts_total = final_counts.total().total();
      facts.count_groups = static_cast<int64_t>(scan.size());
      auto it = scan.find({0, ""});
      if (it != scan.end()) {
        for (int s = 0; s < 5; ++s) facts.registrations += it->second[s];
      }
      int shown = 0;
      auto report = [&](const std::pair<int, std::string>& group,
                        const Tally& got, const Tally& want) {
        if (++shown > 10) return;
        out.push_back({"organizer_counts_exact",
                       absl::StrCat(kDimNames[group.first], " '", group.second,
                                    "': counts ", TallyText(got), "; scan ",
                                    TallyText(want))});
      };
      const Tally zero{};
      for (const auto& [group, want] : scan) {
        auto got = counts.find(group);
        const Tally& g = got == counts.end() ? zero : got->second;
        if (g != want) report(group, g, want);
      }
      for (const auto& [group, got] : counts) {
        if (scan.count(group) == 0) report(group, got, zero);
      }
      facts.counts_match = shown == 0;
    }

    // 2. Every stream's last message equals the final counts (the server
    // sends the last change at most one interval after it).
    facts.watchers = static_cast<int64_t>(watchers_.size());
    const Clock::time_point settle_until =
        Clock::now() + options_.settle_deadline;
    for (;;) {
      int64_t final_seen = 0;
      for (auto& w : watchers_) {
        if (w->LastEquals(final_counts)) ++final_seen;
      }
      facts.watchers_final = final_seen;
      if (final_seen == facts.watchers || Clock::now() >= settle_until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    facts.settle_seconds = SecondsSince(spike_end);
    std::vector<Watcher::State> states;
    for (auto& w : watchers_) states.push_back(w->state());  // before cancel
    for (auto& w : watchers_) w->Cancel();
    WaitWatchersDone();
    int64_t no_message = 0, regressions = 0;
    for (const Watcher::State& st : states) {
      if (st.messages > 0) {
        ++facts.watchers_with_message;
        facts.first_message.Record(st.first_us);
        facts.messages_min = facts.watchers_with_message == 1
                                 ? st.messages
                                 : std::min(facts.messages_min, st.messages);
        facts.messages_max = std::max(facts.messages_max, st.messages);
      } else {
        ++no_message;
      }
      facts.watch_messages += st.messages;
      regressions += st.regressions;
      if (st.done) ++facts.watch_end_codes[CodeName(st.code)];
    }
    if (no_message > 0) {
      out.push_back({"watch_first_message",
                     absl::StrCat(no_message, " of ", facts.watchers,
                                  " streams got no message")});
    }
    if (regressions > 0) {
      out.push_back({"counts_monotonic",
                     absl::StrCat(regressions,
                                  " stream messages whose total was below the "
                                  "stream's previous message")});
    }
    if (facts.watchers_final < facts.watchers) {
      out.push_back(
          {"watch_final_counts",
           absl::StrCat(facts.watchers - facts.watchers_final, " of ",
                        facts.watchers,
                        " streams' last message is not the final counts "
                        "after ",
                        options_.settle_deadline.count(), " ms")});
    }

    // 3. The final export: every registration of the event exactly once.
    {
      std::lock_guard<std::mutex> lock(export_mu_);
      after_ = std::make_unique<ExportCall>(Stub(0), options_);
    }
    facts.export_after = after_->Wait();
    std::set<std::string> ids;
    {
      pqxx::read_transaction tx(conn);
      for (const auto& row : tx.exec_params(
               "SELECT registration_id FROM registration.registrations "
               "WHERE event_id = $1",
               options_.event_id)) {
        ids.insert(row[0].as<std::string>());
      }
    }
    const ExportFacts& a = facts.export_after;
    const auto registrations = static_cast<int64_t>(ids.size());
    if (a.code != "OK" || !a.header_ok || a.rows != registrations ||
        a.csv_rows != registrations || a.duplicate_ids > 0 || a.ids != ids ||
        after_->chunks_miscounted() > 0) {
      int64_t missing = 0, extra = 0;
      for (const std::string& id : ids) missing += a.ids.count(id) == 0;
      for (const std::string& id : a.ids) extra += ids.count(id) == 0;
      out.push_back(
          {"export_rows",
           absl::StrCat("final export: ", a.code, ", header ",
                        a.header_ok ? "ok" : "MISSING", ", ", a.rows, " rows (",
                        a.csv_rows, " in the CSV) for ", registrations,
                        " registrations; ", missing, " missing, ", extra,
                        " not of the event, ", a.duplicate_ids, " twice, ",
                        after_->chunks_miscounted(),
                        " chunks whose rows differ from their CSV")});
    }
    const ExportFacts& d = facts.export_during;
    if (d.ran) {
      int64_t extra = 0;
      for (const std::string& id : d.ids) extra += ids.count(id) == 0;
      if (d.duplicate_ids > 0 || extra > 0 ||
          (d.code == "OK" && !d.header_ok)) {
        out.push_back(
            {"export_rows",
             absl::StrCat(
                 "export during the spike: ", d.duplicate_ids, " ids twice, ",
                 extra, " not registrations of the event",
                 d.code == "OK" && !d.header_ok ? ", no header" : "")});
      }
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("organizer checks: ", e.what()));
  }
  return absl::OkStatus();
}

OrganizerLoad::OrganizerLoad(
    std::vector<std::shared_ptr<grpc::Channel>> channels,
    OrganizerOptions options)
    : impl_(std::make_unique<Impl>(std::move(channels), std::move(options))) {}

OrganizerLoad::~OrganizerLoad() = default;

void OrganizerLoad::Start() {
  impl_->StartWatchers();
  impl_->StartPollers();
}

void OrganizerLoad::MaybeStartDuringExport() {
  impl_->MaybeStartDuringExport();
}

void OrganizerLoad::StopSpikeLoad() {
  impl_->StopPollers();
  if (auto* d = impl_->during()) d->Wait();
}

absl::Status OrganizerLoad::Finish(const std::string& pg_url,
                                   Clock::time_point spike_end,
                                   std::vector<Violation>& out,
                                   OrganizerFacts& facts) {
  return impl_->Finish(pg_url, spike_end, out, facts);
}

}  // namespace admit::loadtest
