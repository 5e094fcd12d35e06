// Unit tests: everything that needs no Redis. URL parsing, replies and their
// conversions, the RESP encoder/decoder, settings, and the client's failure
// behaviour against in-process fake servers (a closed port, a server that
// never answers, one that hangs up, one that rejects AUTH).
#include "common/redis/client.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "common/redis/protocol.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_support.h"

namespace admit::redis {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

// ---------------------------------------------------------------- ParseUrl

TEST(ParseUrl, HostOnlyUsesDefaults) {
  auto e = ParseUrl("redis://cache.internal");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->host, "cache.internal");
  EXPECT_EQ(e->port, 6379);
  EXPECT_EQ(e->db, 0);
  EXPECT_EQ(e->password, "");
  EXPECT_EQ(e->username, "");
  EXPECT_EQ(e->Address(), "cache.internal:6379");
}

TEST(ParseUrl, ReadsPasswordPortAndDb) {
  auto e = ParseUrl("redis://:s3cret@127.0.0.1:6380/2");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 6380);
  EXPECT_EQ(e->db, 2);
  EXPECT_EQ(e->username, "");
  EXPECT_EQ(e->password, "s3cret");
}

TEST(ParseUrl, ReadsUsernameAndDecodesEscapes) {
  auto e = ParseUrl("redis://limiter:p%40ss%2Fw%3Ard@redis:7000/");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->username, "limiter");
  EXPECT_EQ(e->password, "p@ss/w:rd");
  EXPECT_EQ(e->host, "redis");
  EXPECT_EQ(e->port, 7000);
  EXPECT_EQ(e->db, 0);
}

TEST(ParseUrl, PasswordMayContainRawAt) {
  auto e = ParseUrl("redis://:a@b@host");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->password, "a@b");
  EXPECT_EQ(e->host, "host");
}

TEST(ParseUrl, ReadsBracketedIpv6) {
  auto e = ParseUrl("redis://[::1]:6390/1");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 6390);
  EXPECT_EQ(e->db, 1);
  EXPECT_EQ(e->Address(), "[::1]:6390");
}

TEST(ParseUrl, RejectsMalformedUrls) {
  for (const char* url :
       {"", "http://127.0.0.1", "rediss://127.0.0.1", "redis://",
        "redis://:6379", "redis://host:0", "redis://host:65536",
        "redis://host:port", "redis://host:", "redis://host/db",
        "redis://host/1/2", "redis://[::1", "redis://[::1]x",
        "redis://user@host", "redis://:bad%zzescape@host",
        "redis://:trunc%4@host"}) {
    auto e = ParseUrl(url);
    EXPECT_FALSE(e.ok()) << url;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << url;
  }
}

TEST(ParseUrl, ErrorDoesNotEchoThePassword) {
  auto e = ParseUrl("redis://:topsecret@host:99999");
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.status().message()), Not(HasSubstr("topsecret")));
}

// ------------------------------------------------------------------- Reply

TEST(Reply, DefaultIsNil) {
  Reply r;
  EXPECT_TRUE(r.is_nil());
  EXPECT_EQ(r, Reply::Nil());
  EXPECT_EQ(r.DebugString(), "(nil)");
}

TEST(Reply, AccessorsMatchType) {
  EXPECT_EQ(Reply::Integer(-7).integer(), -7);
  EXPECT_EQ(Reply::String("abc").str(), "abc");
  EXPECT_TRUE(Reply::Status("OK").is_status());
  EXPECT_EQ(Reply::Integer(3).str(), "");
  EXPECT_EQ(Reply::String("3").integer(), 0);
  Reply array = Reply::Array({Reply::Integer(1), Reply::Nil()});
  ASSERT_EQ(array.elements().size(), 2u);
  EXPECT_EQ(array.DebugString(), "[1) (integer) 1, 2) (nil)]");
  EXPECT_NE(Reply::String("OK"), Reply::Status("OK"));
}

TEST(Reply, ErrorCodeIsFirstWord) {
  EXPECT_EQ(Reply::Error("NOSCRIPT No matching script.").error_code(),
            "NOSCRIPT");
  EXPECT_EQ(Reply::Error("ERR").error_code(), "ERR");
  EXPECT_EQ(Reply::String("NOSCRIPT x").error_code(), "");
}

TEST(Reply, DebugStringCutsLongStrings) {
  std::string s = Reply::String(std::string(1000, 'x')).DebugString();
  EXPECT_LT(s.size(), 100u);
  EXPECT_THAT(s, HasSubstr("1000 bytes"));
}

TEST(ErrorReplyToStatus, MapsErrorCodes) {
  EXPECT_TRUE(ErrorReplyToStatus(Reply::Integer(1)).ok());
  EXPECT_TRUE(absl::IsUnavailable(
      ErrorReplyToStatus(Reply::Error("LOADING Redis is loading"))));
  EXPECT_TRUE(absl::IsUnavailable(ErrorReplyToStatus(Reply::Error("BUSY x"))));
  EXPECT_TRUE(absl::IsResourceExhausted(
      ErrorReplyToStatus(Reply::Error("OOM command not allowed"))));
  EXPECT_TRUE(absl::IsPermissionDenied(
      ErrorReplyToStatus(Reply::Error("NOAUTH Authentication required."))));
  absl::Status s = ErrorReplyToStatus(Reply::Error("WRONGTYPE Operation"));
  EXPECT_TRUE(absl::IsInternal(s));
  EXPECT_EQ(s.message(), "redis: WRONGTYPE Operation");
}

TEST(AsInteger, ConvertsOrExplains) {
  EXPECT_EQ(*AsInteger(Reply::Integer(42)), 42);
  EXPECT_TRUE(absl::IsDeadlineExceeded(
      AsInteger(absl::DeadlineExceededError("slow")).status()));
  EXPECT_TRUE(absl::IsInternal(AsInteger(Reply::Error("ERR x")).status()));
  auto wrong = AsInteger(Reply::String("42"));
  EXPECT_TRUE(absl::IsInternal(wrong.status()));
  EXPECT_THAT(std::string(wrong.status().message()),
              HasSubstr("expected integer"));
}

TEST(AsString, NilIsNullopt) {
  EXPECT_EQ(*AsString(Reply::String("v")), std::optional<std::string>("v"));
  EXPECT_EQ(*AsString(Reply::Status("OK")), std::optional<std::string>("OK"));
  EXPECT_EQ(*AsString(Reply::Nil()), std::nullopt);
  EXPECT_FALSE(AsString(Reply::Integer(1)).ok());
  EXPECT_TRUE(
      absl::IsUnavailable(AsString(absl::UnavailableError("x")).status()));
}

TEST(AsArray, ReturnsElements) {
  auto a = AsArray(Reply::Array({Reply::Integer(1), Reply::String("b")}));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->size(), 2u);
  EXPECT_TRUE(AsArray(Reply::Nil())->empty());
  EXPECT_FALSE(AsArray(Reply::Integer(1)).ok());
}

// ---------------------------------------------------------------- protocol

TEST(AppendCommand, MatchesHiredisEncoding) {
  std::vector<std::vector<std::string>> commands = {
      {"PING"},
      {"SET", "key", "value"},
      {"SET", std::string("bin\0ary\r\n", 9), ""},
      {"EVALSHA", std::string(40, 'a'), "1", "k", std::string(300, 'z')}};
  std::string all;
  for (const auto& argv : commands) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    char* expected = nullptr;
    int len = redisFormatCommandArgv(&expected, static_cast<int>(argv.size()),
                                     ptrs.data(), lens.data());
    ASSERT_GT(len, 0);
    std::string got;
    internal::AppendCommand(argv, &got);
    EXPECT_EQ(got, std::string(expected, static_cast<size_t>(len)));
    all += got;
    redisFreeCommand(expected);
  }
  // Appending keeps what was there (one buffer per batch).
  std::string batch;
  for (const auto& argv : commands) internal::AppendCommand(argv, &batch);
  EXPECT_EQ(batch, all);
}

TEST(ReplyParser, DecodesEveryTypeAcrossPartialFeeds) {
  const std::string stream =
      "+OK\r\n"
      ":-12\r\n"
      "$5\r\nhe\r\no\r\n"
      "$-1\r\n"
      "-NOSCRIPT No matching script\r\n"
      "*3\r\n:1\r\n*1\r\n$1\r\nx\r\n$-1\r\n"
      "*-1\r\n";
  internal::ReplyParser parser;
  std::vector<Reply> replies;
  // One byte at a time: replies split anywhere must still decode.
  for (char c : stream) {
    ASSERT_TRUE(parser.Feed(&c, 1).ok());
    while (true) {
      auto next = parser.Next();
      ASSERT_TRUE(next.ok()) << next.status();
      if (!next->has_value()) break;
      replies.push_back(**next);
    }
  }
  std::vector<Reply> expected = {
      Reply::Status("OK"),
      Reply::Integer(-12),
      Reply::String("he\r\no"),
      Reply::Nil(),
      Reply::Error("NOSCRIPT No matching script"),
      Reply::Array({Reply::Integer(1), Reply::Array({Reply::String("x")}),
                    Reply::Nil()}),
      Reply::Nil(),
  };
  EXPECT_EQ(replies, expected);
}

TEST(ReplyParser, ProtocolErrorIsReported) {
  internal::ReplyParser parser;
  ASSERT_TRUE(parser.Feed("?what\r\n", 7).ok());
  auto next = parser.Next();
  EXPECT_FALSE(next.ok());
  EXPECT_THAT(std::string(next.status().message()),
              HasSubstr("protocol error"));
}

TEST(Script, Sha1IsRedisScriptDigest) {
  // The digest Redis' SCRIPT LOAD returns for this source.
  EXPECT_EQ(Script("return 1").sha1(),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  EXPECT_EQ(internal::Sha1Hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

// ---------------------------------------------------------------- settings

TEST(AddClientSettings, ReadsEnvironment) {
  ClientOptions options;
  config::Settings settings("admit-test", "test");
  AddClientSettings(settings, &options);
  std::map<std::string, std::string> env = {
      {"ADMIT_REDIS_URL", "redis://10.0.0.5:6380/3"},
      {"ADMIT_REDIS_CONNECTIONS", "4"},
      {"ADMIT_REDIS_CONNECT_TIMEOUT", "1s"},
      {"ADMIT_REDIS_COMMAND_TIMEOUT", "30ms"}};
  ASSERT_TRUE(
      settings
          .Load([&](const std::string& name) -> std::optional<std::string> {
            auto it = env.find(name);
            if (it == env.end()) return std::nullopt;
            return it->second;
          })
          .ok());
  EXPECT_EQ(options.url, "redis://10.0.0.5:6380/3");
  EXPECT_EQ(options.connections, 4);
  EXPECT_EQ(options.connect_timeout, milliseconds(1000));
  EXPECT_EQ(options.command_timeout, milliseconds(30));
}

TEST(AddClientSettings, DefaultsAreTheOptionDefaults) {
  ClientOptions options;
  config::Settings settings("admit-test", "test");
  AddClientSettings(settings, &options);
  ASSERT_TRUE(settings
                  .Load([](const std::string&) -> std::optional<std::string> {
                    return std::nullopt;
                  })
                  .ok());
  ClientOptions defaults;
  EXPECT_EQ(options.url, defaults.url);
  EXPECT_EQ(options.connections, defaults.connections);
  EXPECT_EQ(options.connect_timeout, defaults.connect_timeout);
  EXPECT_EQ(options.command_timeout, defaults.command_timeout);
  EXPECT_THAT(settings.Help(), HasSubstr("ADMIT_REDIS_COMMAND_TIMEOUT"));
}

TEST(AddClientSettings, RejectsZeroConnections) {
  ClientOptions options;
  config::Settings settings("admit-test", "test");
  AddClientSettings(settings, &options);
  absl::Status s =
      settings.Load([](const std::string& name) -> std::optional<std::string> {
        if (name == "ADMIT_REDIS_CONNECTIONS") return "0";
        return std::nullopt;
      });
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("ADMIT_REDIS_CONNECTIONS"));
}

TEST(ClientCreate, RejectsBadOptionsNamingTheVariable) {
  ClientOptions bad_url;
  bad_url.url = "http://x";
  auto c = Client::Create(bad_url);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("ADMIT_REDIS_URL"));

  ClientOptions bad_timeout;
  bad_timeout.command_timeout = milliseconds(0);
  c = Client::Create(bad_timeout);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("ADMIT_REDIS_COMMAND_TIMEOUT"));

  ClientOptions bad_connections;
  bad_connections.connections = 0;
  EXPECT_FALSE(Client::Create(bad_connections).ok());
}

// ------------------------------------------------------------ fake servers

// A TCP server on 127.0.0.1 that misbehaves in one chosen way.
class FakeServer {
 public:
  enum class Mode {
    kSilent,    // reads everything, never answers (a blocked Redis)
    kHangUp,    // closes every connection once it has read something
    kReplyOnce  // answers the first read of each connection with `reply`
  };

  explicit FakeServer(Mode mode, std::string reply = "")
      : mode_(mode), reply_(std::move(reply)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
            0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) !=
            0) {
      ADD_FAILURE() << "fake server: cannot listen";
    }
    port_ = ntohs(addr.sin_port);
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
    thread_ = std::thread([this] { Run(); });
  }

  ~FakeServer() {
    uint64_t one = 1;
    ssize_t ignored = ::write(stop_fd_, &one, sizeof(one));
    (void)ignored;
    thread_.join();
    for (int fd : clients_) ::close(fd);
    ::close(listen_fd_);
    ::close(stop_fd_);
  }

  std::string Url() const {
    return "redis://127.0.0.1:" + std::to_string(port_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  std::string received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

 private:
  void Run() {
    while (true) {
      std::vector<pollfd> fds = {{stop_fd_, POLLIN, 0},
                                 {listen_fd_, POLLIN, 0}};
      for (int fd : clients_) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents != 0) return;
      if (fds[1].revents & POLLIN) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          clients_.push_back(fd);
          ++accepted_;
        }
      }
      for (size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        char buf[4096];
        ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
        bool close_it = n <= 0 || mode_ == Mode::kHangUp;
        if (n > 0) {
          std::lock_guard<std::mutex> lock(mu_);
          received_.append(buf, static_cast<size_t>(n));
        }
        if (n > 0 && mode_ == Mode::kReplyOnce && !replied_[fds[i].fd]) {
          replied_[fds[i].fd] = true;
          ssize_t ignored = ::write(fds[i].fd, reply_.data(), reply_.size());
          (void)ignored;
        }
        if (close_it) {
          ::close(fds[i].fd);
          replied_.erase(fds[i].fd);
          clients_.erase(
              std::find(clients_.begin(), clients_.end(), fds[i].fd));
        }
      }
    }
  }

  Mode mode_;
  std::string reply_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::vector<int> clients_;     // server thread only
  std::map<int, bool> replied_;  // server thread only
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::string received_;
};

ClientOptions OptionsFor(const std::string& url) {
  ClientOptions options;
  options.url = url;
  options.connections = 1;
  return options;
}

// Runs one async command and waits (bounded) for its outcome on the test
// thread; also checks that `done` ran on another thread.
absl::StatusOr<Reply> RunCommand(Client& client, std::vector<std::string> argv,
                                 milliseconds bound = milliseconds(5000)) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<Reply>>>();
  auto future = promise->get_future();
  const auto caller = std::this_thread::get_id();
  client.Command(std::move(argv), [promise, caller](absl::StatusOr<Reply> r) {
    EXPECT_NE(std::this_thread::get_id(), caller) << "done ran on the caller";
    promise->set_value(std::move(r));
  });
  if (future.wait_for(bound) != std::future_status::ready) {
    ADD_FAILURE() << "command did not complete within " << bound.count()
                  << " ms";
    return absl::InternalError("hung");
  }
  return future.get();
}

TEST(ClientFailures, ClosedPortFailsWithUnavailable) {
  const int port = testing::FreePort();  // nothing listens there
  auto client =
      Client::Create(OptionsFor("redis://127.0.0.1:" + std::to_string(port)));
  ASSERT_TRUE(client.ok()) << client.status();
  for (int i = 0; i < 3; ++i) {
    auto r = RunCommand(**client, {"PING"});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  }
  EXPECT_GE((*client)->stats().connect_failures, 1u);
  EXPECT_EQ((*client)->stats().failed, 3u);
}

TEST(ClientFailures, SilentServerGivesDeadlineExceededAndReconnects) {
  FakeServer server(FakeServer::Mode::kSilent);
  ClientOptions options = OptionsFor(server.Url());
  options.command_timeout = milliseconds(50);
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  auto r = RunCommand(**client, {"GET", "k"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded)
      << r.status();
  // The suspect connection is replaced: the next command goes out on a new
  // one (and times out too, this server never answers).
  r = RunCommand(**client, {"GET", "k"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded)
      << r.status();
  EXPECT_TRUE(testing::WaitFor([&] { return server.accepted() >= 2; },
                               milliseconds(5000)));
  ClientStats stats = (*client)->stats();
  EXPECT_EQ(stats.timeouts, 2u);
  EXPECT_GE(stats.reconnects, 1u);
  EXPECT_THAT(server.received(), HasSubstr("$3\r\nGET\r\n$1\r\nk\r\n"));
}

TEST(ClientFailures, TimeoutFailsOtherSentCommandsOfTheConnection) {
  FakeServer server(FakeServer::Mode::kSilent);
  ClientOptions options = OptionsFor(server.Url());
  options.command_timeout = milliseconds(500);
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  // Wait until connected so both commands are sent, not held.
  ASSERT_TRUE(testing::WaitFor([&] { return (*client)->stats().connects >= 1; },
                               milliseconds(5000)));
  std::promise<absl::StatusOr<Reply>> first, second;
  (*client)->Command({"GET", "a"}, [&](absl::StatusOr<Reply> r) {
    first.set_value(std::move(r));
  });
  ASSERT_TRUE(
      testing::WaitFor([&] { return (*client)->stats().commands_sent >= 1; },
                       milliseconds(5000)));
  // The second deadline is 200 ms after the first: when the first expires,
  // the second has not (unless the I/O thread is 200 ms late).
  std::this_thread::sleep_for(milliseconds(200));
  (*client)->Command({"GET", "b"}, [&](absl::StatusOr<Reply> r) {
    second.set_value(std::move(r));
  });
  auto a = first.get_future().get();
  auto b = second.get_future().get();
  EXPECT_EQ(a.status().code(), absl::StatusCode::kDeadlineExceeded)
      << a.status();
  EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable) << b.status();
}

TEST(ClientFailures, HangUpGivesUnavailable) {
  FakeServer server(FakeServer::Mode::kHangUp);
  ClientOptions options = OptionsFor(server.Url());
  options.command_timeout =
      milliseconds(5000);  // the error must not be a timeout
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  auto r = RunCommand(**client, {"PING"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

TEST(ClientFailures, RejectedAuthGivesUnavailableAndSendsNothingElse) {
  FakeServer server(FakeServer::Mode::kReplyOnce,
                    "-WRONGPASS invalid username-password pair\r\n");
  ClientOptions options;
  options.url =
      "redis://app:pw@127.0.0.1:" + std::to_string(server.port()) + "/2";
  options.connections = 1;
  options.command_timeout = milliseconds(5000);
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  auto r = RunCommand(**client, {"SET", "k", "v"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("WRONGPASS"));
  const std::string received = server.received();
  EXPECT_THAT(received, HasSubstr("AUTH\r\n$3\r\napp\r\n$2\r\npw\r\n"));
  EXPECT_THAT(received, HasSubstr("SELECT"));
  EXPECT_THAT(received, Not(HasSubstr("$3\r\nSET\r\n")));
}

TEST(ClientFailures, EmptyCommandIsInvalidArgument) {
  FakeServer server(FakeServer::Mode::kSilent);
  auto client = Client::Create(OptionsFor(server.Url()));
  ASSERT_TRUE(client.ok());
  auto r = RunCommand(**client, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ClientFailures, MaxPendingRejectsExcessCommands) {
  FakeServer server(FakeServer::Mode::kSilent);
  ClientOptions options = OptionsFor(server.Url());
  options.command_timeout = milliseconds(60000);
  options.max_pending = 2;
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok());
  std::atomic<int> unavailable{0};
  for (int i = 0; i < 2; ++i) {
    (*client)->Command({"GET", "k"}, [&](absl::StatusOr<Reply> r) {
      if (absl::IsUnavailable(r.status())) ++unavailable;
    });
  }
  auto r = RunCommand(**client, {"GET", "k"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("max_pending"));
  EXPECT_EQ(unavailable.load(), 0);  // the first two are still waiting
  client->reset();                   // ... until shutdown fails them
  EXPECT_EQ(unavailable.load(), 2);
}

TEST(ClientFailures, DestructorFailsPendingCommandsWithUnavailable) {
  FakeServer server(FakeServer::Mode::kSilent);
  ClientOptions options = OptionsFor(server.Url());
  options.connections = 2;
  options.command_timeout = milliseconds(60000);
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok());
  std::mutex mu;
  std::vector<absl::Status> results;
  for (int i = 0; i < 10; ++i) {
    (*client)->Command({"GET", "k"}, [&](absl::StatusOr<Reply> r) {
      std::lock_guard<std::mutex> lock(mu);
      results.push_back(r.status());
    });
  }
  client->reset();
  ASSERT_EQ(results.size(), 10u);
  for (const absl::Status& s : results) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(std::string(s.message()), HasSubstr("shutting down"));
  }
}

TEST(ClientFailures, CommandSyncInsideCallbackIsRefused) {
  const int port = testing::FreePort();
  auto client =
      Client::Create(OptionsFor("redis://127.0.0.1:" + std::to_string(port)));
  ASSERT_TRUE(client.ok());
  Client* c = client->get();
  std::promise<absl::Status> inner;
  c->Command({"PING"}, [&](absl::StatusOr<Reply>) {
    inner.set_value(c->CommandSync({"PING"}).status());
  });
  absl::Status s = inner.get_future().get();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

}  // namespace
}  // namespace admit::redis
