// A fixed-size pool of Postgres connections (libpqxx 6.4), each owned by one
// worker thread, fed from one bounded FIFO queue of jobs.
//
// Why: libpq calls block, and gRPC callback handlers must never block. A
// handler hands its database work to the pool with Submit() and finishes the
// RPC from `done`, which runs on a pool thread.
//
//   pool->Submit(
//       pg::Transact([req](pqxx::work& tx) -> absl::StatusOr<Row> {...}),
//       [reactor](absl::StatusOr<Row> row) { reactor->Finish(...); });
//
// Exceptions stop here: anything a job throws is turned into an absl::Status
// by ExceptionToStatus() (see its table below); `done` never sees an
// exception and a job never takes a worker thread down.
//
// Connections: each worker owns one connection and re-opens it when it is
// found dead (Postgres restarted, the backend was terminated). Before every
// job the worker checks its idle connection without a round trip; a job whose
// connection is found dead before it starts runs on a freshly opened one
// instead (that reconnect is tried once). A job that loses its connection
// while running fails with UNAVAILABLE and is never re-run by the pool: it may
// not be idempotent. A job whose connect fails gets UNAVAILABLE. After two
// failed connects in a row a worker backs off (100 ms doubling to 1 s) and
// fails the jobs it takes meanwhile with UNAVAILABLE at once, so while
// Postgres is down callers get errors, not hangs.
//
// Don't LISTEN on a pooled connection (any unsolicited message on an idle
// connection makes the pool replace it), and don't change session settings
// (use SET LOCAL inside a transaction): the next job would inherit them.
//
// Thread safety: Submit(), Run() and stats() may be called from any number of
// threads at once. The destructor must not race with calls from threads the
// pool does not own, and must not run on a pool thread; jobs and `done`
// callbacks (pool threads) may keep calling Submit() and stats() while it runs.
#ifndef ADMIT_COMMON_PG_POOL_H_
#define ADMIT_COMMON_PG_POOL_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/config/config.h"
#include "pqxx/connection"
#include "pqxx/except"
#include "pqxx/result"
#include "pqxx/transaction"

namespace admit::pg {

struct PoolOptions {
  // libpq connection string: a postgresql:// URL or "key=value ..." pairs.
  // A connect_timeout parameter is added unless the string has one.
  std::string url = "postgresql://postgres@127.0.0.1:5432/admit";
  // Number of connections, and of worker threads (one per connection).
  int64_t size = 8;
  // Bound on opening one connection (libpq connect_timeout, whole seconds,
  // rounded up; libpq treats 1 s as 2 s).
  std::chrono::milliseconds connect_timeout{5000};
  // SET statement_timeout on every connection; a statement running longer
  // fails with DEADLINE_EXCEEDED. 0 disables it (not recommended). Every
  // connection also gets SET jit = off (see pool.cc).
  std::chrono::milliseconds statement_timeout{5000};
  // A job that waited this long in the queue without getting a connection
  // fails with UNAVAILABLE ("database busy") instead of running.
  std::chrono::milliseconds queue_timeout{2000};
  // Jobs waiting beyond this many are rejected with UNAVAILABLE at once.
  int64_t max_queue = 10000;
};

// Registers ADMIT_PG_URL, ADMIT_PG_POOL_SIZE, ADMIT_PG_CONNECT_TIMEOUT,
// ADMIT_PG_STATEMENT_TIMEOUT, ADMIT_PG_QUEUE_TIMEOUT and ADMIT_PG_MAX_QUEUE,
// with the defaults of PoolOptions, writing into `*options` when
// `settings.Load()` runs. `options` must outlive that call.
void AddPoolSettings(config::Settings& settings, PoolOptions* options);

// Counters for metrics and tests. A snapshot: fields are read together under
// the pool's lock. Totals count since Create().
struct PoolStats {
  bool accepting = true;             // false once the destructor has begun
  int64_t size = 0;                  // worker threads / connections configured
  int64_t open_connections = 0;      // connections currently believed healthy
  int64_t busy = 0;                  // workers running a job right now
  int64_t queued = 0;                // jobs waiting for a worker
  int64_t submitted_total = 0;       // jobs accepted into the queue
  int64_t completed_total = 0;       // jobs whose `done` has been called
  int64_t rejected_total = 0;        // refused: queue full or shutting down
  int64_t queue_timeouts_total = 0;  // expired after queue_timeout
  int64_t connects_total = 0;        // successful connection opens
  int64_t connect_failures_total = 0;
  int64_t broken_connections_total = 0;  // connections found or left dead
  // Sum and max of the time jobs spent queued before a worker took them.
  std::chrono::microseconds queue_wait_total{0};
  std::chrono::microseconds queue_wait_max{0};
};

// Maps the exception in `error` to a Status. The pool applies it to anything a
// job throws; jobs that catch exceptions themselves can use it too.
//
//   pqxx::unique_violation                      ALREADY_EXISTS
//   serialization_failure, deadlock_detected,
//   other transaction_rollback, 55P03 lock
//   not available                               ABORTED (retry the transaction)
//   broken_connection (incl. too_many_
//   connections), sqlstate 08xxx, 57P01..57P03
//   (server shutting down / starting)           UNAVAILABLE
//   in_doubt_error, statement_completion_unknown UNKNOWN (may have committed)
//   sqlstate 57014 (statement timeout, cancel)  DEADLINE_EXCEEDED
//   any other sql_error                         INTERNAL, "pg <sqlstate>: ..."
//   any other exception                         INTERNAL
//
// Messages keep Postgres' primary message only (its first line): the DETAIL
// line of a unique violation quotes the key's values, which may be an email.
// A null `error` gives OK.
absl::Status ExceptionToStatus(const std::exception_ptr& error);

// The connection string the pool and the migration runner open: `url` with
// connect_timeout=<seconds, rounded up> added unless it already has one.
std::string WithConnectTimeout(const std::string& url,
                               std::chrono::milliseconds connect_timeout);

// `url` with any password replaced by "***", for messages and logs.
std::string RedactUrl(const std::string& url);

namespace internal {

template <typename R>
inline constexpr bool kIsStatusResult = std::is_same_v<R, absl::Status>;
template <typename T>
inline constexpr bool kIsStatusResult<absl::StatusOr<T>> = true;

// Sleeps before retry number `attempt` (1-based) of a transaction: a random
// duration in [0, min(max, base * 2^(attempt-1))].
void SleepBeforeRetry(int attempt, std::chrono::milliseconds base,
                      std::chrono::milliseconds max);

absl::Status RetriesExhausted(int attempts, const std::string& last_error);

}  // namespace internal

// How Transact() retries.
struct RetryPolicy {
  // Total attempts, including the first. >= 1.
  int max_attempts = 5;
  std::chrono::milliseconds base_backoff{2};
  std::chrono::milliseconds max_backoff{50};
};

// Turns `work(pqxx::transaction<Isolation>&)` (pqxx::work& for the default
// READ COMMITTED) into a job for Submit() or Run(): it opens the transaction,
// runs `work` and commits when `work` returns OK; when `work` returns an error
// the transaction is rolled back and the error returned as is.
// On pqxx::serialization_failure or deadlock_detected (from `work` or from the
// commit) the whole transaction is retried after a short jittered sleep, up to
// policy.max_attempts in total; then ABORTED. Any other exception propagates
// (the pool maps it). Because of retries `work` may run several times: it must
// have no effects outside the transaction.
// `work` returns absl::Status or absl::StatusOr<T>.
template <pqxx::isolation_level Isolation = pqxx::read_committed, typename Work>
auto Transact(Work work, RetryPolicy policy = {}) {
  using Tx = pqxx::transaction<Isolation>;
  using R = std::invoke_result_t<Work&, Tx&>;
  static_assert(internal::kIsStatusResult<R>,
                "Transact work must return absl::Status or absl::StatusOr<T>");
  return [work = std::move(work), policy](pqxx::connection& conn) mutable -> R {
    for (int attempt = 1;; ++attempt) {
      std::string last_error;
      try {
        Tx tx(conn);
        R result = work(tx);
        if (!result.ok()) return result;
        tx.commit();
        return result;
      } catch (const pqxx::serialization_failure& e) {
        last_error = e.what();
      } catch (const pqxx::deadlock_detected& e) {
        last_error = e.what();
      }
      if (attempt >= policy.max_attempts) {
        return internal::RetriesExhausted(attempt, last_error);
      }
      internal::SleepBeforeRetry(attempt, policy.base_backoff,
                                 policy.max_backoff);
    }
  };
}

class Pool {
 public:
  // Validates `options` (INVALID_ARGUMENT naming the bad field), opens one
  // connection to check that the database is reachable, then starts the
  // workers (which open their connections in the background).
  // Returns UNAVAILABLE when that first connection fails, with libpq's reason
  // and the URL without its password. Blocks up to connect_timeout: call it
  // from main(), not from a gRPC thread.
  static absl::StatusOr<std::unique_ptr<Pool>> Create(PoolOptions options);

  // Stops accepting jobs, lets running jobs finish, fails every job still
  // queued with UNAVAILABLE (their `done` runs on a pool thread), closes the
  // connections and joins the threads. Jobs' `done` callbacks may Submit()
  // while this runs: such jobs are rejected (see Submit).
  ~Pool();

  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Queues `work(pqxx::connection&)` and returns at once. `work` returns
  // absl::Status or absl::StatusOr<T>; `done` is called exactly once with:
  //   - what `work` returned, or
  //   - the mapped exception `work` threw (ExceptionToStatus), or
  //   - UNAVAILABLE when no connection could be opened, the job waited longer
  //     than queue_timeout ("database busy"), or the pool shut down first.
  // `work` and `done` run on the same pool thread, one after the other; the
  // connection is the job's alone until `work` returns (don't keep it). A
  // job must not leave a transaction open.
  // When the job cannot even be queued (max_queue jobs waiting: "database
  // busy"; or the pool is shutting down) `done` is called with UNAVAILABLE on
  // the calling thread before Submit returns, so don't hold a lock that
  // `done` takes while calling Submit.
  // Exceptions thrown by `done` are caught and logged.
  template <typename Work, typename Done>
  void Submit(Work work, Done done) {
    using R = std::invoke_result_t<Work&, pqxx::connection&>;
    static_assert(internal::kIsStatusResult<R>,
                  "work must return absl::Status or absl::StatusOr<T>");
    auto result = std::make_shared<std::optional<R>>();
    Enqueue(
        [work = std::move(work), result](pqxx::connection& conn) mutable {
          result->emplace(work(conn));
        },
        [done = std::move(done), result](absl::Status status) mutable {
          if (result->has_value()) {
            done(std::move(**result));
          } else {
            done(R(std::move(status)));
          }
        });
  }

  // Submit() and wait: returns what `done` would have received. For
  // start-up work, background jobs, migrations-time checks and tests. It
  // blocks the calling thread for as long as the job queues and runs, so
  // never call it on a gRPC thread. Called on a pool thread (from a job or a
  // `done`) it would deadlock, so it returns FAILED_PRECONDITION instead.
  template <typename Work>
  auto Run(Work work) {
    using R = std::invoke_result_t<Work&, pqxx::connection&>;
    static_assert(internal::kIsStatusResult<R>,
                  "work must return absl::Status or absl::StatusOr<T>");
    if (OnPoolThread()) {
      return R(absl::FailedPreconditionError(
          "pg::Pool::Run called on a pool thread (it would deadlock)"));
    }
    auto promise = std::make_shared<std::promise<R>>();
    std::future<R> future = promise->get_future();
    Submit(std::move(work),
           [promise](R result) { promise->set_value(std::move(result)); });
    return future.get();
  }

  PoolStats stats() const;
  const PoolOptions& options() const { return options_; }

 private:
  using Clock = std::chrono::steady_clock;

  struct Job {
    absl::AnyInvocable<void(pqxx::connection&)> run;
    absl::AnyInvocable<void(absl::Status)> complete;
    Clock::time_point enqueued;
  };

  // One worker's connection and its reconnect state; touched only by that
  // worker (the counters in stats_ are under mu_).
  struct Slot {
    std::unique_ptr<pqxx::connection> conn;
    int consecutive_failures = 0;
    Clock::time_point next_connect_attempt{};
    std::string last_error;
  };

  Pool(PoolOptions options, std::string conninfo,
       std::unique_ptr<pqxx::connection> first);

  void Enqueue(absl::AnyInvocable<void(pqxx::connection&)> run,
               absl::AnyInvocable<void(absl::Status)> complete);
  void WorkerLoop(Slot* slot);
  void ReaperLoop();
  absl::Status EnsureConnection(Slot& slot);
  absl::Status Connect(Slot& slot);
  void Execute(Slot& slot, Job& job);
  void Complete(Job& job, absl::Status status);
  void DropConnection(Slot& slot, const char* why);
  static bool OnPoolThread();

  const PoolOptions options_;
  const std::string conninfo_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;    // jobs queued or stopping
  std::condition_variable reaper_cv_;  // queue front changed or stopping
  std::deque<Job> queue_;
  bool stopping_ = false;
  PoolStats stats_;

  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> threads_;
};

}  // namespace admit::pg

#endif  // ADMIT_COMMON_PG_POOL_H_
