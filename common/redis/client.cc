#include "common/redis/client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/redis/protocol.h"

namespace admit::redis {
namespace internal {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Smallest wait between two connection attempts; doubles per failure up to
// connect_timeout.
constexpr milliseconds kMinBackoff{10};
// At most one warning per connection per this interval (a Redis that is down
// or blocked would otherwise log at every reconnect attempt).
constexpr std::chrono::seconds kWarnInterval{1};
constexpr size_t kReadChunk = 64 * 1024;
constexpr int kMaxReadsPerWakeup = 16;
constexpr size_t kMaxIdleOutputCapacity = 1 << 20;

// True on every Client's I/O threads (CommandSync refuses to run there).
thread_local bool tls_on_io_thread = false;

struct Counters {
  std::atomic<uint64_t> commands{0};
  std::atomic<uint64_t> commands_sent{0};
  std::atomic<uint64_t> replies{0};
  std::atomic<uint64_t> error_replies{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> timeouts{0};
  std::atomic<uint64_t> noscript_fallbacks{0};
  std::atomic<uint64_t> connects{0};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<uint64_t> connect_failures{0};
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> max_batch{0};
  std::atomic<int64_t> pending{0};
};

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

std::string ToStd(absl::string_view s) {
  return std::string(s.data(), s.size());
}

std::string ErrnoText(int err) {
  char buf[128];
  // GNU strerror_r returns the message (possibly not in buf).
  return strerror_r(err, buf, sizeof(buf));
}

// Calls `done` exactly once with `result`, keeping the counters right.
void Complete(Counters* counters, Client::Callback& done,
              absl::StatusOr<Reply> result) {
  if (!result.ok()) {
    counters->failed.fetch_add(1, kRelaxed);
    if (absl::IsDeadlineExceeded(result.status())) {
      counters->timeouts.fetch_add(1, kRelaxed);
    }
  }
  Client::Callback callback = std::move(done);
  done = nullptr;
  try {
    if (callback) callback(std::move(result));
  } catch (const std::exception& e) {
    log::Error("redis callback threw; ignored", {{"error", e.what()}});
  } catch (...) {
    log::Error("redis callback threw; ignored");
  }
  counters->pending.fetch_sub(1, kRelaxed);
}

}  // namespace

// One TCP connection to Redis and the I/O thread that owns it. Everything
// below "I/O thread only" is touched by that thread alone; the queue is the
// only state shared with callers.
class Connection {
 public:
  Connection(int index, const ClientOptions& options, const Endpoint& endpoint,
             Counters* counters)
      : index_(index),
        options_(options),
        endpoint_(endpoint),
        address_(endpoint.Address()),
        counters_(counters),
        read_buffer_(kReadChunk) {}

  ~Connection() {
    Stop();
    if (thread_.joinable()) thread_.join();
    if (event_fd_ >= 0) ::close(event_fd_);
  }

  absl::Status Start() {
    event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (event_fd_ < 0) {
      return absl::InternalError(
          absl::StrCat("redis: eventfd: ", ErrnoText(errno)));
    }
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  // Asks the I/O thread to fail everything and exit. Idempotent.
  void Stop() {
    stopping_.store(true, std::memory_order_release);
    Wake();
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  bool connected() const { return state_.load(kRelaxed) == State::kConnected; }

  // Thread-safe. `reject` not OK: fail the command with it (on the I/O
  // thread) without sending it.
  void Enqueue(std::vector<std::string> argv, Client::Callback done,
               absl::Status reject) {
    bool wake = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (closed_) {
        lock.unlock();
        Complete(counters_, done,
                 absl::UnavailableError("redis client shutting down"));
        return;
      }
      queue_.push_back(Pending{std::move(argv), std::move(done),
                               Clock::now() + options_.command_timeout,
                               std::move(reject)});
      if (!wake_pending_) {
        wake_pending_ = true;
        wake = true;
      }
    }
    if (wake) Wake();
  }

 private:
  enum class State { kDown, kConnecting, kHandshake, kConnected };

  struct Pending {
    std::vector<std::string> argv;  // emptied once written to out_
    Client::Callback done;
    Clock::time_point deadline;
    absl::Status reject;
  };

  struct Address {
    sockaddr_storage addr;
    socklen_t len;
  };

  void Wake() {
    if (event_fd_ < 0) return;
    uint64_t one = 1;
    ssize_t ignored = ::write(event_fd_, &one, sizeof(one));
    (void)ignored;  // only fails when the counter is saturated: still readable
  }

  void Run() {
    tls_on_io_thread = true;
    StartConnect(Clock::now());
    while (!stopping_.load(std::memory_order_acquire)) {
      TakeQueued();
      const Clock::time_point now = Clock::now();
      RunTimers(now);
      if (fd_ >= 0 && state_ != State::kConnecting && out_pos_ < out_.size()) {
        WriteSome();
      }
      Poll(now);
    }
    Shutdown();
  }

  // Moves the shared queue into waiting_ and sends or fails what it can.
  void TakeQueued() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      incoming_.swap(queue_);
      wake_pending_ = false;
    }
    for (Pending& p : incoming_) {
      if (!p.reject.ok()) {
        Complete(counters_, p.done, std::move(p.reject));
      } else {
        waiting_.push_back(std::move(p));
      }
    }
    incoming_.clear();
    Dispatch();
  }

  // Sends every waiting command if connected, fails them all if down, and
  // leaves them waiting while a connection is being set up.
  void Dispatch() {
    if (waiting_.empty()) return;
    if (state_ == State::kDown) {
      FailAll(waiting_, last_error_);
      return;
    }
    if (state_ != State::kConnected) return;
    const uint64_t n = waiting_.size();
    for (Pending& p : waiting_) {
      AppendCommand(p.argv, &out_);
      std::vector<std::string>().swap(p.argv);
      inflight_.push_back(std::move(p));
    }
    waiting_.clear();
    counters_->batches.fetch_add(1, kRelaxed);
    counters_->commands_sent.fetch_add(n, kRelaxed);
    uint64_t max = counters_->max_batch.load(kRelaxed);
    while (n > max &&
           !counters_->max_batch.compare_exchange_weak(max, n, kRelaxed)) {
    }
  }

  void FailAll(std::deque<Pending>& pendings, const absl::Status& status) {
    // Callbacks may enqueue new commands (into queue_, never into these).
    std::deque<Pending> failing;
    failing.swap(pendings);
    for (Pending& p : failing) Complete(counters_, p.done, status);
  }

  void RunTimers(Clock::time_point now) {
    // Unsent commands (only while connecting) just time out.
    while (!waiting_.empty() && waiting_.front().deadline <= now) {
      Pending p = std::move(waiting_.front());
      waiting_.pop_front();
      Complete(counters_, p.done,
               absl::DeadlineExceededError(absl::StrCat(
                   "redis: no connection to ", address_, " within ",
                   options_.command_timeout.count(), " ms")));
    }
    // A sent command without its reply in time: the connection is suspect.
    if (!inflight_.empty() && inflight_.front().deadline <= now) {
      Warn("redis command timed out; reconnecting",
           absl::StrCat("no reply within ", options_.command_timeout.count(),
                        " ms"));
      CloseSocket();
      std::deque<Pending> failing;
      failing.swap(inflight_);
      for (Pending& p : failing) {
        if (p.deadline <= now) {
          Complete(counters_, p.done,
                   absl::DeadlineExceededError(absl::StrCat(
                       "redis: no reply from ", address_, " within ",
                       options_.command_timeout.count(), " ms")));
        } else {
          Complete(counters_, p.done,
                   absl::UnavailableError(
                       absl::StrCat("redis: connection to ", address_,
                                    " reset after another command timed out")));
        }
      }
      StartConnect(now);
      return;
    }
    if ((state_ == State::kConnecting || state_ == State::kHandshake) &&
        now >= connect_deadline_) {
      ConnectFailed(absl::UnavailableError(
          absl::StrCat("redis: connecting to ", address_, " timed out after ",
                       options_.connect_timeout.count(), " ms")));
      return;
    }
    if (state_ == State::kDown && now >= next_connect_) StartConnect(now);
  }

  // Waits for the socket, a wake-up or the next timer.
  void Poll(Clock::time_point now) {
    std::optional<Clock::time_point> wake_at;
    auto consider = [&wake_at](Clock::time_point t) {
      if (!wake_at || t < *wake_at) wake_at = t;
    };
    if (!waiting_.empty()) consider(waiting_.front().deadline);
    if (!inflight_.empty()) consider(inflight_.front().deadline);
    if (state_ == State::kConnecting || state_ == State::kHandshake) {
      consider(connect_deadline_);
    }
    if (state_ == State::kDown) consider(next_connect_);

    pollfd fds[2];
    fds[0] = {event_fd_, POLLIN, 0};
    nfds_t nfds = 1;
    if (fd_ >= 0) {
      short events = POLLIN;
      if (state_ == State::kConnecting) {
        events = POLLOUT;
      } else if (out_pos_ < out_.size()) {
        events |= POLLOUT;
      }
      fds[1] = {fd_, events, 0};
      nfds = 2;
    }
    timespec ts{};
    timespec* timeout = nullptr;
    if (wake_at) {
      auto wait = std::max(Clock::duration::zero(), *wake_at - now);
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait);
      ts.tv_sec = static_cast<time_t>(ns.count() / 1000000000);
      ts.tv_nsec = static_cast<long>(ns.count() % 1000000000);
      timeout = &ts;
    }
    int ready = ::ppoll(fds, nfds, timeout, nullptr);
    if (ready <= 0) return;  // timeout, or EINTR: the loop re-checks
    if (fds[0].revents != 0) {
      uint64_t value;
      ssize_t ignored = ::read(event_fd_, &value, sizeof(value));
      (void)ignored;
    }
    if (nfds < 2 || fds[1].revents == 0) return;
    const short revents = fds[1].revents;
    if (state_ == State::kConnecting) {
      FinishConnect();
      return;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) ReadSome();
    if (fd_ >= 0 && (revents & POLLOUT)) WriteSome();
  }

  void ReadSome() {
    for (int i = 0; i < kMaxReadsPerWakeup && fd_ >= 0; ++i) {
      ssize_t n = ::recv(fd_, read_buffer_.data(), read_buffer_.size(), 0);
      if (n > 0) {
        absl::Status fed =
            parser_->Feed(read_buffer_.data(), static_cast<size_t>(n));
        if (!fed.ok()) {
          ConnectionLost(absl::UnavailableError(ToStd(fed.message())));
          return;
        }
        if (!DeliverReplies()) return;
        if (static_cast<size_t>(n) < read_buffer_.size()) return;
        continue;
      }
      if (n == 0) {
        ConnectionLost(absl::UnavailableError(absl::StrCat(
            "redis: connection to ", address_, " closed by server")));
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      ConnectionLost(absl::UnavailableError(absl::StrCat(
          "redis: reading from ", address_, ": ", ErrnoText(errno))));
      return;
    }
  }

  // Hands every complete reply to its command. False if the connection was
  // closed meanwhile.
  bool DeliverReplies() {
    while (fd_ >= 0) {
      absl::StatusOr<std::optional<Reply>> next = parser_->Next();
      if (!next.ok()) {
        ConnectionLost(absl::UnavailableError(ToStd(next.status().message())));
        return false;
      }
      if (!next->has_value()) return true;
      Reply reply = std::move(**next);
      if (state_ == State::kHandshake) {
        HandshakeReply(reply);
        continue;
      }
      if (inflight_.empty()) {
        ConnectionLost(absl::UnavailableError(
            absl::StrCat("redis: unexpected reply from ", address_, ": ",
                         reply.DebugString())));
        return false;
      }
      counters_->replies.fetch_add(1, kRelaxed);
      if (reply.is_error()) counters_->error_replies.fetch_add(1, kRelaxed);
      Pending p = std::move(inflight_.front());
      inflight_.pop_front();
      Complete(counters_, p.done, std::move(reply));
    }
    return false;
  }

  void WriteSome() {
    while (out_pos_ < out_.size()) {
      ssize_t n = ::send(fd_, out_.data() + out_pos_, out_.size() - out_pos_,
                         MSG_NOSIGNAL);
      if (n > 0) {
        out_pos_ += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      ConnectionLost(absl::UnavailableError(absl::StrCat(
          "redis: writing to ", address_, ": ", ErrnoText(errno))));
      return;
    }
    out_.clear();
    out_pos_ = 0;
    if (out_.capacity() > kMaxIdleOutputCapacity) std::string().swap(out_);
  }

  void StartConnect(Clock::time_point now) {
    state_ = State::kConnecting;
    connect_deadline_ = now + options_.connect_timeout;
    addresses_.clear();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* result = nullptr;
    const std::string port = std::to_string(endpoint_.port);
    int rc =
        ::getaddrinfo(endpoint_.host.c_str(), port.c_str(), &hints, &result);
    if (rc != 0) {
      ConnectFailed(absl::UnavailableError(absl::StrCat(
          "redis: resolving ", endpoint_.host, ": ", ::gai_strerror(rc))));
      return;
    }
    for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
      Address a{};
      std::memcpy(&a.addr, ai->ai_addr, ai->ai_addrlen);
      a.len = ai->ai_addrlen;
      addresses_.push_back(a);
    }
    ::freeaddrinfo(result);
    next_address_ = 0;
    last_errno_ = 0;
    TryNextAddress();
  }

  void TryNextAddress() {
    while (next_address_ < addresses_.size()) {
      const Address& a = addresses_[next_address_++];
      int fd = ::socket(a.addr.ss_family,
                        SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        last_errno_ = errno;
        continue;
      }
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len) ==
          0) {
        fd_ = fd;
        TcpConnected();
        return;
      }
      if (errno == EINPROGRESS) {
        fd_ = fd;  // Poll() waits for POLLOUT, then FinishConnect()
        return;
      }
      last_errno_ = errno;
      ::close(fd);
    }
    ConnectFailed(absl::UnavailableError(absl::StrCat(
        "redis: cannot connect to ", address_, ": ",
        last_errno_ != 0 ? ErrnoText(last_errno_) : "no address")));
  }

  void FinishConnect() {
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0) {
      TcpConnected();
      return;
    }
    last_errno_ = err;
    CloseSocket();
    TryNextAddress();
  }

  void TcpConnected() {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::setsockopt(fd_, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    parser_ = std::make_unique<ReplyParser>();
    out_.clear();
    out_pos_ = 0;
    handshake_remaining_ = 0;
    if (!endpoint_.password.empty()) {
      if (endpoint_.username.empty()) {
        AppendCommand({"AUTH", endpoint_.password}, &out_);
      } else {
        AppendCommand({"AUTH", endpoint_.username, endpoint_.password}, &out_);
      }
      ++handshake_remaining_;
    }
    if (endpoint_.db != 0) {
      AppendCommand({"SELECT", std::to_string(endpoint_.db)}, &out_);
      ++handshake_remaining_;
    }
    if (handshake_remaining_ > 0) {
      state_ = State::kHandshake;  // user commands wait until it succeeds
      WriteSome();
      return;
    }
    Ready();
  }

  void HandshakeReply(const Reply& reply) {
    if (reply.is_error()) {
      ConnectFailed(absl::UnavailableError(absl::StrCat(
          "redis: AUTH/SELECT on ", address_, " failed: ", reply.str())));
      return;
    }
    if (--handshake_remaining_ == 0) Ready();
  }

  void Ready() {
    state_ = State::kConnected;
    backoff_ = milliseconds(0);
    counters_->connects.fetch_add(1, kRelaxed);
    if (ever_connected_) counters_->reconnects.fetch_add(1, kRelaxed);
    if (!ever_connected_ || outage_logged_) {
      log::Info(
          ever_connected_ ? "redis connection restored" : "redis connected",
          {{"redis", address_}, {"connection", index_}});
    }
    ever_connected_ = true;
    outage_logged_ = false;
    Dispatch();
  }

  // The connection broke (reset, EOF, write error, protocol error).
  void ConnectionLost(const absl::Status& status) {
    if (state_ != State::kConnected) {
      ConnectFailed(status);
      return;
    }
    Warn("redis connection lost; reconnecting", ToStd(status.message()));
    CloseSocket();
    FailAll(inflight_, status);
    StartConnect(Clock::now());  // at once: a healthy server accepts again
  }

  // A connection attempt failed: down until the backoff passes; commands
  // fail at once meanwhile.
  void ConnectFailed(const absl::Status& status) {
    CloseSocket();
    state_ = State::kDown;
    last_error_ = status;
    counters_->connect_failures.fetch_add(1, kRelaxed);
    backoff_ =
        std::min(options_.connect_timeout, std::max(kMinBackoff, backoff_ * 2));
    next_connect_ = Clock::now() + backoff_;
    Warn("redis unavailable", ToStd(status.message()));
    outage_logged_ = true;
    FailAll(inflight_, status);
    FailAll(waiting_, status);
  }

  void CloseSocket() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    parser_.reset();
    out_.clear();
    out_pos_ = 0;
    handshake_remaining_ = 0;
  }

  void Warn(std::string_view message, const std::string& error) {
    const Clock::time_point now = Clock::now();
    if (last_warn_ && now - *last_warn_ < kWarnInterval) {
      ++suppressed_warnings_;
      return;
    }
    log::Warn(message, {{"redis", address_},
                        {"connection", index_},
                        {"error", error},
                        {"suppressed", suppressed_warnings_}});
    last_warn_ = now;
    suppressed_warnings_ = 0;
  }

  void Shutdown() {
    const absl::Status status =
        absl::UnavailableError("redis client shutting down");
    CloseSocket();
    state_ = State::kDown;
    FailAll(inflight_, status);
    FailAll(waiting_, status);
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (queue_.empty()) {
          closed_ = true;  // later Enqueue()s complete inline
          break;
        }
        incoming_.swap(queue_);
      }
      FailAll(incoming_, status);
    }
  }

  const int index_;
  const ClientOptions& options_;
  const Endpoint& endpoint_;
  const std::string address_;
  Counters* const counters_;

  std::thread thread_;
  int event_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<State> state_{State::kConnecting};

  std::mutex mu_;
  std::deque<Pending> queue_;  // guarded by mu_
  bool wake_pending_ = false;  // guarded by mu_: an eventfd write is due
  bool closed_ = false;        // guarded by mu_: the I/O thread has exited

  // I/O thread only.
  int fd_ = -1;
  std::unique_ptr<ReplyParser> parser_;
  std::deque<Pending> incoming_;
  std::deque<Pending> waiting_;   // accepted, not yet written
  std::deque<Pending> inflight_;  // written, awaiting replies, in order
  std::string out_;
  size_t out_pos_ = 0;
  std::vector<char> read_buffer_;
  int handshake_remaining_ = 0;
  std::vector<Address> addresses_;
  size_t next_address_ = 0;
  int last_errno_ = 0;
  Clock::time_point connect_deadline_;
  Clock::time_point next_connect_;
  milliseconds backoff_{0};
  absl::Status last_error_ = absl::UnavailableError("redis: not connected");
  bool ever_connected_ = false;
  bool outage_logged_ = false;
  std::optional<Clock::time_point> last_warn_;
  int64_t suppressed_warnings_ = 0;
};

}  // namespace internal

namespace {

absl::Status BadUrl(std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid redis URL (expected "
                   "redis://[[username]:password@]host[:port][/db]): ",
                   std::string(why)));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = HexValue(s[i + 1]);
    int lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

bool ParseDecimal(std::string_view s, int64_t max, int64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  int64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value > max) return false;
  *out = value;
  return true;
}

}  // namespace

std::string Endpoint::Address() const {
  if (host.find(':') != std::string::npos) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<Endpoint> ParseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return BadUrl("it must start with redis://");
  }
  std::string_view rest = url.substr(kScheme.size());
  Endpoint endpoint;

  // Userinfo ends at the last '@' (host, port and db never contain one).
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      return BadUrl("credentials must be [username]:password");
    }
    std::optional<std::string> user = PercentDecode(userinfo.substr(0, colon));
    std::optional<std::string> password =
        PercentDecode(userinfo.substr(colon + 1));
    if (!user || !password) return BadUrl("bad %-escape in the credentials");
    endpoint.username = std::move(*user);
    endpoint.password = std::move(*password);
  }

  std::string_view hostport = rest;
  std::string_view path;
  bool has_path = false;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    path = rest.substr(slash + 1);
    has_path = true;
  }

  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (!hostport.empty() && hostport.front() == '[') {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) return BadUrl("unclosed '[' in host");
    host = hostport.substr(1, close - 1);
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return BadUrl("unexpected text after ']'");
      port = after.substr(1);
      has_port = true;
    }
  } else {
    size_t colon = hostport.find(':');
    host = hostport.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = hostport.substr(colon + 1);
      has_port = true;
    }
  }
  if (host.empty()) return BadUrl("empty host");
  endpoint.host = std::string(host);
  if (has_port) {
    int64_t value = 0;
    if (!ParseDecimal(port, 65535, &value) || value == 0) {
      return BadUrl(absl::StrCat("port must be in 1..65535, got '",
                                 std::string(port), "'"));
    }
    endpoint.port = static_cast<int>(value);
  }
  if (has_path && !path.empty()) {
    if (!ParseDecimal(path, INT32_MAX, &endpoint.db)) {
      return BadUrl(
          absl::StrCat("db must be a number, got '", std::string(path), "'"));
    }
  }
  return endpoint;
}

void AddClientSettings(config::Settings& settings, ClientOptions* options) {
  settings.AddString(
      "ADMIT_REDIS_URL", options->url,
      "Redis server: redis://[[username]:password@]host[:port][/db].",
      &options->url);
  settings.AddInt("ADMIT_REDIS_CONNECTIONS", options->connections,
                  "Connections to Redis (one I/O thread each); concurrent "
                  "commands are pipelined on them.",
                  &options->connections, 1, 64);
  settings.AddDuration("ADMIT_REDIS_CONNECT_TIMEOUT", options->connect_timeout,
                       "Bound on opening one Redis connection (and the "
                       "longest wait between reconnect attempts).",
                       &options->connect_timeout);
  settings.AddDuration("ADMIT_REDIS_COMMAND_TIMEOUT", options->command_timeout,
                       "Bound on one Redis command, from issue to reply; "
                       "past it the command fails with DEADLINE_EXCEEDED.",
                       &options->command_timeout);
}

Script::Script(std::string source)
    : source_(std::move(source)), sha1_(internal::Sha1Hex(source_)) {}

Client::Client(ClientOptions options, Endpoint endpoint)
    : options_(std::move(options)),
      endpoint_(std::move(endpoint)),
      counters_(std::make_unique<internal::Counters>()) {}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.connections < 1 || options.connections > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("ADMIT_REDIS_CONNECTIONS must be in [1, 64], got ",
                     options.connections));
  }
  if (options.connect_timeout <= std::chrono::milliseconds(0)) {
    return absl::InvalidArgumentError(
        "ADMIT_REDIS_CONNECT_TIMEOUT must be greater than 0");
  }
  if (options.command_timeout <= std::chrono::milliseconds(0)) {
    return absl::InvalidArgumentError(
        "ADMIT_REDIS_COMMAND_TIMEOUT must be greater than 0");
  }
  if (options.max_pending == 0) {
    return absl::InvalidArgumentError(
        "redis max_pending must be greater than 0");
  }
  absl::StatusOr<Endpoint> endpoint = ParseUrl(options.url);
  if (!endpoint.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ADMIT_REDIS_URL: ", endpoint.status().message()));
  }
  std::unique_ptr<Client> client(
      new Client(std::move(options), *std::move(endpoint)));
  for (int64_t i = 0; i < client->options_.connections; ++i) {
    client->connections_.push_back(std::make_unique<internal::Connection>(
        static_cast<int>(i), client->options_, client->endpoint_,
        client->counters_.get()));
    absl::Status started = client->connections_.back()->Start();
    if (!started.ok()) return started;
  }
  return client;
}

Client::~Client() {
  for (auto& connection : connections_) connection->Stop();
  for (auto& connection : connections_) connection->Join();
  connections_.clear();
}

void Client::Command(std::vector<std::string> argv, Callback done) {
  counters_->commands.fetch_add(1, internal::kRelaxed);
  const int64_t pending =
      counters_->pending.fetch_add(1, internal::kRelaxed) + 1;
  absl::Status reject;
  if (argv.empty()) {
    reject = absl::InvalidArgumentError("redis: empty command");
  } else if (static_cast<uint64_t>(pending) > options_.max_pending) {
    reject = absl::UnavailableError(
        absl::StrCat("redis: too many commands pending (max_pending ",
                     options_.max_pending, ")"));
  }
  const size_t n = connections_.size();
  const size_t start = next_connection_.fetch_add(1, internal::kRelaxed);
  internal::Connection* chosen = connections_[start % n].get();
  for (size_t i = 0; i < n; ++i) {
    internal::Connection* candidate = connections_[(start + i) % n].get();
    if (candidate->connected()) {
      chosen = candidate;
      break;
    }
  }
  chosen->Enqueue(std::move(argv), std::move(done), std::move(reject));
}

absl::StatusOr<Reply> Client::CommandSync(std::vector<std::string> argv) {
  if (internal::tls_on_io_thread) {
    return absl::FailedPreconditionError(
        "redis: CommandSync called on a redis I/O thread (inside a callback)");
  }
  auto promise = std::make_shared<std::promise<absl::StatusOr<Reply>>>();
  std::future<absl::StatusOr<Reply>> future = promise->get_future();
  Command(std::move(argv), [promise](absl::StatusOr<Reply> result) {
    promise->set_value(std::move(result));
  });
  return future.get();
}

void Client::EvalSha(const Script& script, std::vector<std::string> keys,
                     std::vector<std::string> args, Callback done) {
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back("EVALSHA");
  argv.push_back(script.sha1());
  argv.push_back(std::to_string(keys.size()));
  for (std::string& key : keys) argv.push_back(std::move(key));
  for (std::string& arg : args) argv.push_back(std::move(arg));
  std::vector<std::string> fallback = argv;
  Command(std::move(argv),
          [this, &script, fallback = std::move(fallback),
           done = std::move(done)](absl::StatusOr<Reply> result) mutable {
            if (result.ok() && result->is_error() &&
                result->error_code() == "NOSCRIPT") {
              counters_->noscript_fallbacks.fetch_add(1, internal::kRelaxed);
              fallback[0] = "EVAL";
              fallback[1] = script.source();
              Command(std::move(fallback), std::move(done));
              return;
            }
            done(std::move(result));
          });
}

absl::StatusOr<Reply> Client::EvalShaSync(const Script& script,
                                          std::vector<std::string> keys,
                                          std::vector<std::string> args) {
  if (internal::tls_on_io_thread) {
    return absl::FailedPreconditionError(
        "redis: EvalShaSync called on a redis I/O thread (inside a callback)");
  }
  auto promise = std::make_shared<std::promise<absl::StatusOr<Reply>>>();
  std::future<absl::StatusOr<Reply>> future = promise->get_future();
  EvalSha(script, std::move(keys), std::move(args),
          [promise](absl::StatusOr<Reply> result) {
            promise->set_value(std::move(result));
          });
  return future.get();
}

ClientStats Client::stats() const {
  const internal::Counters& c = *counters_;
  ClientStats s;
  s.commands = c.commands.load(internal::kRelaxed);
  s.commands_sent = c.commands_sent.load(internal::kRelaxed);
  s.replies = c.replies.load(internal::kRelaxed);
  s.error_replies = c.error_replies.load(internal::kRelaxed);
  s.failed = c.failed.load(internal::kRelaxed);
  s.timeouts = c.timeouts.load(internal::kRelaxed);
  s.noscript_fallbacks = c.noscript_fallbacks.load(internal::kRelaxed);
  s.connects = c.connects.load(internal::kRelaxed);
  s.reconnects = c.reconnects.load(internal::kRelaxed);
  s.connect_failures = c.connect_failures.load(internal::kRelaxed);
  s.batches = c.batches.load(internal::kRelaxed);
  s.max_batch = c.max_batch.load(internal::kRelaxed);
  s.pending = c.pending.load(internal::kRelaxed);
  return s;
}

}  // namespace admit::redis
