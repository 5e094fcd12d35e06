// admit's Redis client: a few shared connections, each with one I/O thread,
// onto which concurrent commands from any number of threads are pipelined.
//
//   auto client = redis::Client::Create(options);        // does not block
//   (*client)->Command({"INCR", key}, [](absl::StatusOr<redis::Reply> r) {
//     // on the client's I/O thread: keep it short, hand real work off
//   });
//
// How a command travels: Command() appends it to the queue of one connection
// (round robin over the connected ones) and wakes that connection's I/O
// thread, which writes every queued command in one batch and matches the
// replies, in order, to their callbacks. The calling thread never blocks on
// the network, so gRPC callback threads may call Command().
//
// Failure model (what `done` receives):
//   a Reply                 Redis answered, including error replies (type
//                           kError: NOSCRIPT, WRONGTYPE, LOADING, ...);
//   DEADLINE_EXCEEDED       no reply within command_timeout of the Command()
//                           call. If the command had been sent, the
//                           connection is suspect: it is closed and reopened,
//                           and its other sent commands fail with UNAVAILABLE
//                           (or DEADLINE_EXCEEDED if theirs passed too).
//                           The command may or may not have run in Redis;
//   UNAVAILABLE             the connection was refused, reset or closed, the
//                           server is down (commands fail at once, no wait,
//                           while it is: the client retries the connection in
//                           the background with a backoff from 10 ms up to
//                           connect_timeout), too many commands are pending
//                           (max_pending), or the client is shutting down. A
//                           command that failed after it was sent may have run;
//   INVALID_ARGUMENT        an empty argv.
// Once Redis is reachable again, new commands succeed on the same Client.
#ifndef ADMIT_COMMON_REDIS_CLIENT_H_
#define ADMIT_COMMON_REDIS_CLIENT_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/config/config.h"
#include "common/redis/reply.h"

namespace admit::redis {

struct ClientOptions {
  // redis://[[username]:password@]host[:port][/db]; see ParseUrl().
  std::string url = "redis://127.0.0.1:6379";
  // Number of connections (and I/O threads). A couple suffice: pipelining,
  // not connection count, carries the load. [1, 64].
  int64_t connections = 2;
  // Bound on establishing one connection: TCP connect plus AUTH/SELECT.
  std::chrono::milliseconds connect_timeout{200};
  // Bound on one command, from the Command() call to its reply.
  std::chrono::milliseconds command_timeout{50};
  // Commands accepted but not yet completed, over all connections; past it
  // new commands fail with UNAVAILABLE instead of queueing without limit.
  size_t max_pending = 10000;
};

// Registers ADMIT_REDIS_URL, ADMIT_REDIS_CONNECTIONS,
// ADMIT_REDIS_CONNECT_TIMEOUT and ADMIT_REDIS_COMMAND_TIMEOUT with
// `settings`, writing into `options` (whose current values are the defaults).
// `options` must outlive settings.Load(). The URL is checked by
// Client::Create (errors name ADMIT_REDIS_URL).
void AddClientSettings(config::Settings& settings, ClientOptions* options);

// Where a redis:// URL points.
struct Endpoint {
  std::string host;  // a name or an IP address (IPv6 without brackets)
  int port = 6379;
  std::string username;  // "" -> AUTH with the password only
  std::string password;  // "" -> no AUTH
  int64_t db = 0;        // != 0 -> SELECT db after connecting

  // "host:port" (never the password), for logs and error messages.
  std::string Address() const;
};

// Parses redis://[[username]:password@]host[:port][/db]. host may be an
// [IPv6] literal; username and password may be %-encoded. Returns
// INVALID_ARGUMENT (saying what is wrong, without echoing the password) for
// another scheme, an empty host, a port outside 1..65535, a non-numeric db,
// or anything after the db.
absl::StatusOr<Endpoint> ParseUrl(std::string_view url);

// A Lua script and its SHA1, for Client::EvalSha. Immutable after
// construction; thread-safe.
class Script {
 public:
  explicit Script(std::string source);
  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }  // lower-case hex

 private:
  std::string source_;
  std::string sha1_;
};

// Counters since the Client was created, summed over its connections. Read
// with relaxed atomics: each field is exact, the set is not a snapshot.
struct ClientStats {
  uint64_t commands = 0;            // Command() calls (EvalSha's included)
  uint64_t commands_sent = 0;       // written to a connection
  uint64_t replies = 0;             // replies received (error replies too)
  uint64_t error_replies = 0;       // replies of type kError
  uint64_t failed = 0;              // `done` called with a non-OK status
  uint64_t timeouts = 0;            // ... of which DEADLINE_EXCEEDED
  uint64_t noscript_fallbacks = 0;  // EvalSha retried with EVAL
  uint64_t connects = 0;            // connections established (first ones too)
  uint64_t reconnects = 0;          // ... of which re-establishing a lost one
  uint64_t connect_failures = 0;    // connection attempts that failed
  uint64_t batches = 0;             // batches of commands written
  uint64_t max_batch = 0;           // largest batch (commands)
  int64_t pending = 0;              // accepted and not yet completed, now

  // commands_sent / batches; 0 before the first batch.
  double average_batch() const {
    return batches == 0 ? 0.0
                        : static_cast<double>(commands_sent) /
                              static_cast<double>(batches);
  }
};

namespace internal {
class Connection;
struct Counters;
}  // namespace internal

class Client {
 public:
  // Receives the outcome of one command, exactly once, on one of the
  // client's I/O threads (see "Failure model" above). It must not block, must
  // not call CommandSync() and must not destroy the Client; it may call
  // Command()/EvalSha(). Exceptions it throws are logged and dropped.
  using Callback = std::function<void(absl::StatusOr<Reply>)>;

  // Validates `options` (INVALID_ARGUMENT naming the ADMIT_REDIS_* variable
  // at fault) and starts the I/O threads, which connect in the background:
  // Create does not wait for Redis, and commands issued before the first
  // connection is up wait for it (within their command_timeout).
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  // Fails every command not yet completed with UNAVAILABLE ("redis client
  // shutting down"), closes the connections and joins the I/O threads. Must
  // not run on an I/O thread (i.e. inside a callback) nor concurrently with
  // calls on this Client from other threads.
  ~Client();

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends argv[0] with arguments argv[1..] (binary-safe) and calls `done`
  // with the outcome. Never blocks and never calls `done` on the calling
  // thread (except while the Client is being destroyed, when a callback
  // issuing a new command gets UNAVAILABLE inline). Thread-safe. Commands
  // issued by one thread run in Redis in the order they were issued only if
  // each waits for the previous one's reply: concurrent commands may be
  // spread over several connections.
  void Command(std::vector<std::string> argv, Callback done);

  // Blocking Command(): returns what `done` would have received. For tests,
  // tools and background jobs with their own threads; never call it on a
  // gRPC callback thread (it blocks for up to command_timeout). Called on an
  // I/O thread (from a callback) it returns FAILED_PRECONDITION instead of
  // deadlocking.
  absl::StatusOr<Reply> CommandSync(std::vector<std::string> argv);

  // Runs `script` with EVALSHA sha numkeys keys... args..., and if Redis
  // answers NOSCRIPT (its script cache was flushed or it restarted) runs it
  // again with EVAL source ..., which also reloads the cache. `done` gets the
  // script's reply (an error reply if the script raised one) or a status, as
  // for Command(); the fallback has its own command_timeout, so `done` is
  // called within twice that. `script` must stay alive until `done` has
  // been called. Same threading as Command().
  void EvalSha(const Script& script, std::vector<std::string> keys,
               std::vector<std::string> args, Callback done);
  absl::StatusOr<Reply> EvalShaSync(const Script& script,
                                    std::vector<std::string> keys,
                                    std::vector<std::string> args);

  ClientStats stats() const;
  const ClientOptions& options() const { return options_; }
  const Endpoint& endpoint() const { return endpoint_; }

 private:
  Client(ClientOptions options, Endpoint endpoint);

  ClientOptions options_;
  Endpoint endpoint_;
  std::unique_ptr<internal::Counters> counters_;
  std::vector<std::unique_ptr<internal::Connection>> connections_;
  std::atomic<size_t> next_connection_{0};
};

}  // namespace admit::redis

#endif  // ADMIT_COMMON_REDIS_CLIENT_H_
