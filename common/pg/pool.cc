#include "common/pg/pool.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log/log.h"

#if defined(__SANITIZE_ADDRESS__)
// libpqxx 6.4 leaks the PGresult of a query whose connection broke under it:
// connection_base::make_result() asks the dead connection for its encoding,
// which throws, before the result has an owner. One ~2 KB leak per query
// interrupted by a lost connection; not ours to fix, and it must not fail
// sanitizer builds (LeakSanitizer reads this hook at exit). PGresults are
// only ever made inside libpq for libpqxx, so nothing of ours is hidden.
// Only one definition per binary: fold others into this one.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:PQmakeEmptyPGresult\n";
}
#endif

namespace admit::pg {
namespace {

// The settings of every pooled session. JIT is off: admit's statements are
// short, and a plan whose estimate crosses jit_above_cost compiles for
// longer than it runs (seen in development: a listing query with a window
// function spent 35 ms in JIT to run in 4 ms, so the export fell from
// 130,000 to 25,680 rows/s).
void ApplySessionSettings(pqxx::connection& conn, const PoolOptions& options) {
  if (options.statement_timeout.count() > 0) {
    conn.set_variable("statement_timeout",
                      std::to_string(options.statement_timeout.count()));
  }
  conn.set_variable("jit", "off");
}

constexpr std::chrono::milliseconds kMinReconnectBackoff{100};
constexpr std::chrono::milliseconds kMaxReconnectBackoff{1000};
constexpr int64_t kMaxPoolSize = 1000;

thread_local bool t_on_pool_thread = false;

// Postgres' primary message: the first line, without the "ERROR:  " prefix.
// Later lines (DETAIL, HINT, libpq's explanations) may quote row values.
std::string PrimaryMessage(const char* what) {
  std::string_view text(what);
  for (std::string_view prefix : {"ERROR:", "FATAL:", "PANIC:"}) {
    if (text.starts_with(prefix)) {
      text.remove_prefix(prefix.size());
      break;
    }
  }
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  text = text.substr(0, text.find('\n'));
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return std::string(text);
}

absl::Status FromSqlState(const std::string& state, const char* what) {
  const std::string message = absl::StrCat(
      "pg ", state.empty() ? "error" : state, ": ", PrimaryMessage(what));
  if (state == "57014") return absl::DeadlineExceededError(message);
  if (state == "23505") return absl::AlreadyExistsError(message);
  if (state == "40001" || state == "40P01" || state == "40000" ||
      state == "55P03") {
    return absl::AbortedError(message);
  }
  if (state == "40003") return absl::UnknownError(message);
  if (absl::StartsWith(state, "08") || absl::StartsWith(state, "53") ||
      state == "57P01" || state == "57P02" || state == "57P03") {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

// True when an idle connection still looks usable, judged without a round
// trip: libpq thinks it is open and its socket has nothing to read. An idle
// session receives nothing unprompted except, in practice, the server's
// "terminating connection" error before it closes, so any pending byte or an
// EOF means the connection is about to fail or already has.
bool IdleConnectionAlive(pqxx::connection& conn) {
  if (!conn.is_open()) return false;
  const int fd = conn.sock();
  if (fd < 0) return false;
  char byte;
  ssize_t n;
  do {
    n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return false;
  return errno == EAGAIN || errno == EWOULDBLOCK;
}

std::chrono::microseconds ToMicros(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d);
}

}  // namespace

absl::Status ExceptionToStatus(const std::exception_ptr& error) {
  if (!error) return absl::OkStatus();
  try {
    std::rethrow_exception(error);
  } catch (const pqxx::unique_violation& e) {
    return absl::AlreadyExistsError(
        absl::StrCat("pg ", e.sqlstate(), ": ", PrimaryMessage(e.what())));
  } catch (const pqxx::serialization_failure& e) {
    return absl::AbortedError(
        absl::StrCat("pg 40001: ", PrimaryMessage(e.what())));
  } catch (const pqxx::deadlock_detected& e) {
    return absl::AbortedError(
        absl::StrCat("pg 40P01: ", PrimaryMessage(e.what())));
  } catch (const pqxx::statement_completion_unknown& e) {
    return absl::UnknownError(
        absl::StrCat("pg 40003: ", PrimaryMessage(e.what())));
  } catch (const pqxx::transaction_rollback& e) {
    return absl::AbortedError(
        absl::StrCat("pg transaction rolled back: ", PrimaryMessage(e.what())));
  } catch (const pqxx::in_doubt_error& e) {
    return absl::UnknownError(
        absl::StrCat("pg commit outcome unknown: ", PrimaryMessage(e.what())));
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(
        absl::StrCat("pg connection failed: ", PrimaryMessage(e.what())));
  } catch (const pqxx::sql_error& e) {
    return FromSqlState(e.sqlstate(), e.what());
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("pg: ", PrimaryMessage(e.what())));
  } catch (...) {
    return absl::InternalError("pg: unknown exception");
  }
}

std::string WithConnectTimeout(const std::string& url,
                               std::chrono::milliseconds connect_timeout) {
  if (absl::StrContains(url, "connect_timeout=")) return url;
  const int64_t seconds =
      std::max<int64_t>(1, (connect_timeout.count() + 999) / 1000);
  std::string param = absl::StrCat("connect_timeout=", seconds);
  if (absl::StartsWith(url, "postgresql://") ||
      absl::StartsWith(url, "postgres://")) {
    return absl::StrCat(url, absl::StrContains(url, "?") ? "&" : "?", param);
  }
  if (url.empty()) return param;
  return absl::StrCat(url, " ", param);
}

std::string RedactUrl(const std::string& url) {
  std::string out = url;
  const size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    const size_t start = scheme + 3;
    size_t end = out.find_first_of("/?", start);
    if (end == std::string::npos) end = out.size();
    const size_t at = out.rfind('@', end);
    if (at != std::string::npos && at >= start) {
      const size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) {
        out.replace(colon + 1, at - colon - 1, "***");
      }
    }
  }
  static const std::regex kPassword(
      R"((password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]+))");
  return std::regex_replace(out, kPassword, "$1***");
}

void AddPoolSettings(config::Settings& settings, PoolOptions* options) {
  settings.AddString("ADMIT_PG_URL", options->url,
                     "Postgres connection string (libpq URL or key=value); "
                     "its password is redacted in logs.",
                     &options->url);
  settings.AddInt("ADMIT_PG_POOL_SIZE", options->size,
                  "Postgres connections (each with its own worker thread).",
                  &options->size, 1, kMaxPoolSize);
  settings.AddDuration("ADMIT_PG_CONNECT_TIMEOUT", options->connect_timeout,
                       "Bound on opening one Postgres connection (whole "
                       "seconds, rounded up).",
                       &options->connect_timeout);
  settings.AddDuration("ADMIT_PG_STATEMENT_TIMEOUT", options->statement_timeout,
                       "Postgres statement_timeout on every pooled "
                       "connection; 0 disables it.",
                       &options->statement_timeout);
  settings.AddDuration("ADMIT_PG_QUEUE_TIMEOUT", options->queue_timeout,
                       "Longest a query may wait for a free connection before "
                       "failing with UNAVAILABLE.",
                       &options->queue_timeout);
  settings.AddInt("ADMIT_PG_MAX_QUEUE", options->max_queue,
                  "Queries that may wait for a connection; more are "
                  "rejected with UNAVAILABLE at once.",
                  &options->max_queue, 1, 100'000'000);
}

namespace internal {

void SleepBeforeRetry(int attempt, std::chrono::milliseconds base,
                      std::chrono::milliseconds max) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int shift = std::clamp(attempt - 1, 0, 20);
  const int64_t cap_us =
      std::min<int64_t>(std::chrono::microseconds(max).count(),
                        std::chrono::microseconds(base).count() << shift);
  if (cap_us <= 0) return;
  std::uniform_int_distribution<int64_t> jitter(cap_us / 2, cap_us);
  std::this_thread::sleep_for(std::chrono::microseconds(jitter(rng)));
}

absl::Status RetriesExhausted(int attempts, const std::string& last_error) {
  return absl::AbortedError(
      absl::StrCat("pg transaction aborted after ", attempts,
                   " attempts: ", PrimaryMessage(last_error.c_str())));
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<Pool>> Pool::Create(PoolOptions options) {
  if (options.url.empty()) {
    return absl::InvalidArgumentError("PoolOptions.url is empty");
  }
  if (options.size < 1 || options.size > kMaxPoolSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("PoolOptions.size must be in [1, ", kMaxPoolSize,
                     "], got ", options.size));
  }
  if (options.connect_timeout.count() <= 0) {
    return absl::InvalidArgumentError(
        "PoolOptions.connect_timeout must be > 0");
  }
  if (options.statement_timeout.count() < 0) {
    return absl::InvalidArgumentError(
        "PoolOptions.statement_timeout must be >= 0");
  }
  if (options.queue_timeout.count() <= 0) {
    return absl::InvalidArgumentError("PoolOptions.queue_timeout must be > 0");
  }
  if (options.max_queue < 1) {
    return absl::InvalidArgumentError("PoolOptions.max_queue must be >= 1");
  }
  std::string conninfo =
      WithConnectTimeout(options.url, options.connect_timeout);
  std::unique_ptr<pqxx::connection> first;
  try {
    first = std::make_unique<pqxx::connection>(conninfo);
    ApplySessionSettings(*first, options);
  } catch (...) {
    absl::Status status = ExceptionToStatus(std::current_exception());
    return absl::UnavailableError(absl::StrCat("cannot connect to postgres at ",
                                               RedactUrl(options.url), ": ",
                                               status.message()));
  }
  return std::unique_ptr<Pool>(
      new Pool(std::move(options), std::move(conninfo), std::move(first)));
}

Pool::Pool(PoolOptions options, std::string conninfo,
           std::unique_ptr<pqxx::connection> first)
    : options_(std::move(options)), conninfo_(std::move(conninfo)) {
  stats_.size = options_.size;
  stats_.connects_total = 1;
  stats_.open_connections = 1;
  for (int64_t i = 0; i < options_.size; ++i) {
    slots_.push_back(std::make_unique<Slot>());
  }
  slots_[0]->conn = std::move(first);
  for (auto& slot : slots_) {
    threads_.emplace_back([this, s = slot.get()] { WorkerLoop(s); });
  }
  threads_.emplace_back([this] { ReaperLoop(); });
}

Pool::~Pool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    stats_.accepting = false;
  }
  work_cv_.notify_all();
  reaper_cv_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

bool Pool::OnPoolThread() { return t_on_pool_thread; }

PoolStats Pool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  PoolStats stats = stats_;
  stats.queued = static_cast<int64_t>(queue_.size());
  return stats;
}

void Pool::Enqueue(absl::AnyInvocable<void(pqxx::connection&)> run,
                   absl::AnyInvocable<void(absl::Status)> complete) {
  Job job{std::move(run), std::move(complete), Clock::now()};
  absl::Status rejected;
  bool was_empty = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      rejected = absl::UnavailableError("pg pool is shutting down");
    } else if (static_cast<int64_t>(queue_.size()) >= options_.max_queue) {
      rejected = absl::UnavailableError(absl::StrCat(
          "database busy: ", queue_.size(), " queries already waiting"));
    } else {
      was_empty = queue_.empty();
      queue_.push_back(std::move(job));
      ++stats_.submitted_total;
    }
    if (!rejected.ok()) ++stats_.rejected_total;
  }
  if (!rejected.ok()) {
    Complete(job, std::move(rejected));
    return;
  }
  work_cv_.notify_one();
  if (was_empty) reaper_cv_.notify_one();
}

void Pool::Complete(Job& job, absl::Status status) {
  try {
    job.complete(std::move(status));
  } catch (const std::exception& e) {
    log::Error("pg pool: a done callback threw", {{"error", e.what()}});
  } catch (...) {
    log::Error("pg pool: a done callback threw a non-std exception");
  }
  // Destroy the callbacks (and what they captured) before counting the job
  // as completed, so a test that waits for the count sees them released.
  job.run = nullptr;
  job.complete = nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.completed_total;
}

void Pool::WorkerLoop(Slot* slot) {
  t_on_pool_thread = true;
  if (slot->conn == nullptr) (void)Connect(*slot);
  while (true) {
    Job job;
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;
      job = std::move(queue_.front());
      queue_.pop_front();
      stopping = stopping_;
      if (!stopping) {
        const auto waited = ToMicros(Clock::now() - job.enqueued);
        stats_.queue_wait_total += waited;
        stats_.queue_wait_max = std::max(stats_.queue_wait_max, waited);
        ++stats_.busy;
      }
    }
    if (stopping) {
      Complete(job, absl::UnavailableError(
                        "pg pool shut down before the query could run"));
      continue;
    }
    absl::Status ready = EnsureConnection(*slot);
    if (ready.ok()) {
      Execute(*slot, job);
    } else {
      Complete(job, std::move(ready));
    }
    std::lock_guard<std::mutex> lock(mu_);
    --stats_.busy;
  }
  if (slot->conn != nullptr) {
    slot->conn.reset();
    std::lock_guard<std::mutex> lock(mu_);
    --stats_.open_connections;
  }
}

void Pool::ReaperLoop() {
  t_on_pool_thread = true;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (queue_.empty()) {
      reaper_cv_.wait(lock);
      continue;
    }
    const Clock::time_point now = Clock::now();
    if (now < queue_.front().enqueued + options_.queue_timeout) {
      reaper_cv_.wait_until(lock,
                            queue_.front().enqueued + options_.queue_timeout);
      continue;
    }
    std::vector<Job> expired;
    while (!queue_.empty() &&
           queue_.front().enqueued + options_.queue_timeout <= now) {
      expired.push_back(std::move(queue_.front()));
      queue_.pop_front();
      ++stats_.queue_timeouts_total;
    }
    lock.unlock();
    for (Job& job : expired) {
      Complete(job, absl::UnavailableError(absl::StrCat(
                        "database busy: no connection free within ",
                        options_.queue_timeout.count(), "ms")));
    }
    lock.lock();
  }
}

absl::Status Pool::EnsureConnection(Slot& slot) {
  if (slot.conn != nullptr) {
    if (IdleConnectionAlive(*slot.conn)) return absl::OkStatus();
    DropConnection(slot, "found dead before a query");
  }
  if (slot.consecutive_failures > 0 &&
      Clock::now() < slot.next_connect_attempt) {
    return absl::UnavailableError(
        absl::StrCat("postgres unavailable: ", slot.last_error));
  }
  return Connect(slot);
}

absl::Status Pool::Connect(Slot& slot) {
  try {
    auto conn = std::make_unique<pqxx::connection>(conninfo_);
    ApplySessionSettings(*conn, options_);
    slot.conn = std::move(conn);
  } catch (...) {
    slot.conn.reset();
    const absl::Status error = ExceptionToStatus(std::current_exception());
    slot.last_error = std::string(error.message());
    ++slot.consecutive_failures;
    // One failure may be a blip: the next job tries again at once. From the
    // second in a row the worker fails jobs fast while it backs off.
    std::chrono::milliseconds backoff{0};
    if (slot.consecutive_failures >= 2) {
      backoff = std::min(
          kMaxReconnectBackoff,
          kMinReconnectBackoff *
              (int64_t{1} << std::min(slot.consecutive_failures - 2, 10)));
    }
    slot.next_connect_attempt = Clock::now() + backoff;
    if (slot.consecutive_failures == 1) {
      log::Warn("pg pool: cannot connect to postgres",
                {{"url", RedactUrl(options_.url)}, {"error", slot.last_error}});
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.connect_failures_total;
    }
    return absl::UnavailableError(
        absl::StrCat("postgres unavailable: ", slot.last_error));
  }
  if (slot.consecutive_failures > 0) {
    log::Info("pg pool: reconnected to postgres",
              {{"failed_attempts", slot.consecutive_failures}});
  }
  slot.consecutive_failures = 0;
  slot.last_error.clear();
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.connects_total;
  ++stats_.open_connections;
  return absl::OkStatus();
}

void Pool::DropConnection(Slot& slot, const char* why) {
  log::Warn("pg pool: dropping a broken connection", {{"reason", why}});
  slot.conn.reset();
  std::lock_guard<std::mutex> lock(mu_);
  --stats_.open_connections;
  ++stats_.broken_connections_total;
}

void Pool::Execute(Slot& slot, Job& job) {
  absl::Status status;
  try {
    job.run(*slot.conn);
  } catch (...) {
    status = ExceptionToStatus(std::current_exception());
  }
  if (!IdleConnectionAlive(*slot.conn)) {
    DropConnection(slot, "lost during a query");
    if (status.code() == absl::StatusCode::kInternal) {
      status = absl::UnavailableError(
          absl::StrCat("pg connection lost: ", status.message()));
    }
  }
  Complete(job, std::move(status));
}

}  // namespace admit::pg
