// SmtpSender's outcome classes against a scripted SMTP server on a local
// socket (no harness servers needed): 250 sent, 4xx transient, 5xx
// permanent, nobody listening a transient connection failure.
#include "services/confirmation/smtp_sender.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace admit::confirmation {
namespace {

// Accepts connections one after the other and answers RCPT TO with
// `rcpt_reply`; everything else is accepted.
class ScriptedSmtpServer {
 public:
  explicit ScriptedSmtpServer(std::string rcpt_reply)
      : rcpt_reply_(std::move(rcpt_reply)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 4), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedSmtpServer() {
    stopping_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string url() const {
    return "smtp://127.0.0.1:" + std::to_string(port_);
  }

 private:
  static void Write(int c, const std::string& s) {
    (void)!write(c, s.data(), s.size());
  }
  void Serve() {
    while (!stopping_) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      Write(c, "220 scripted\r\n");
      std::string buffer;
      bool in_data = false;
      char chunk[4096];
      ssize_t n;
      while ((n = read(c, chunk, sizeof chunk)) > 0) {
        buffer.append(chunk, static_cast<size_t>(n));
        size_t eol;
        while ((eol = buffer.find("\r\n")) != std::string::npos) {
          const std::string line = buffer.substr(0, eol);
          buffer.erase(0, eol + 2);
          if (in_data) {
            if (line == ".") {
              in_data = false;
              Write(c, "250 queued\r\n");
            }
          } else if (line.rfind("EHLO", 0) == 0) {
            Write(c, "250 scripted\r\n");
          } else if (line.rfind("RCPT", 0) == 0) {
            Write(c, rcpt_reply_ + "\r\n");
          } else if (line == "DATA") {
            in_data = true;
            Write(c, "354 go\r\n");
          } else if (line == "QUIT") {
            Write(c, "221 bye\r\n");
          } else {
            Write(c, "250 ok\r\n");
          }
        }
      }
      close(c);
    }
  }

  const std::string rcpt_reply_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

SendResult SendVia(const std::string& url) {
  SmtpOptions options;
  options.url = url;
  options.envelope_from = "no-reply@admit.example";
  options.connect_timeout = std::chrono::seconds(2);
  options.message_timeout = std::chrono::seconds(5);
  auto sender = SmtpSender::Create(options);
  EXPECT_TRUE(sender.ok());
  return (*sender)->Send("ada@example.org", "Subject: x\r\n\r\nbody\r\n");
}

TEST(SmtpSender, AcceptedIsSent) {
  ScriptedSmtpServer server("250 ok");
  const SendResult r = SendVia(server.url());
  EXPECT_EQ(r.outcome, SendOutcome::kSent) << r.detail;
}

TEST(SmtpSender, RecipientRefusedWith5xxIsPermanent) {
  ScriptedSmtpServer server("550 no such user");
  const SendResult r = SendVia(server.url());
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent) << r.detail;
  EXPECT_FALSE(r.connection_failed);
  EXPECT_NE(r.detail.find("550"), std::string::npos) << r.detail;
}

TEST(SmtpSender, GreylistedWith4xxIsTransient) {
  ScriptedSmtpServer server("451 try again later");
  const SendResult r = SendVia(server.url());
  EXPECT_EQ(r.outcome, SendOutcome::kTransient) << r.detail;
  EXPECT_FALSE(r.connection_failed);
}

TEST(SmtpSender, NobodyListeningIsATransientConnectionFailure) {
  std::string url;
  {
    ScriptedSmtpServer server("250 ok");
    url = server.url();
  }  // closed: the port refuses connections now
  const SendResult r = SendVia(url);
  EXPECT_EQ(r.outcome, SendOutcome::kTransient) << r.detail;
  EXPECT_TRUE(r.connection_failed) << r.detail;
}

TEST(SmtpSender, RejectsOtherSchemesAndTlsModes) {
  SmtpOptions options;
  options.url = "http://127.0.0.1:25";
  EXPECT_FALSE(SmtpSender::Create(options).ok());
  options.url = "smtp://127.0.0.1:25";
  options.tls = "maybe";
  EXPECT_FALSE(SmtpSender::Create(options).ok());
}

}  // namespace
}  // namespace admit::confirmation
