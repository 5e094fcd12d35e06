// Sending one message at a time to an SMTP relay with libcurl.
//
// One SmtpSender keeps one curl easy handle, so consecutive messages reuse
// its connection (libcurl's connection cache; a connection the server
// closed meanwhile is replaced transparently). libcurl does the SMTP
// dialogue, STARTTLS/implicit TLS, AUTH and the dot-stuffing of the body.
//
// Outcomes:
//   kSent       the relay answered 250 to the end of DATA.
//   kTransient  worth retrying: no connection, TLS or login failure, a
//               timeout, a dropped connection, or a 4xx reply.
//               `connection_failed` is set when no SMTP session could be had
//               at all (the next message of the batch would fail the same way).
//   kPermanent  a 5xx reply (recipient or message refused): retrying will not
//               help.
//
// Thread safety: one SmtpSender per thread (the drainer owns one).
#ifndef ADMIT_SERVICES_CONFIRMATION_SMTP_SENDER_H_
#define ADMIT_SERVICES_CONFIRMATION_SMTP_SENDER_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace admit::confirmation {

enum class SendOutcome { kSent, kTransient, kPermanent };

struct SendResult {
  SendOutcome outcome = SendOutcome::kTransient;
  bool connection_failed = false;
  // For deliveries.last_error and logs: curl's error and the SMTP code, never
  // an address.
  std::string detail;
};

// What the drainer needs from a mail transport (fakes in tests).
class MailSender {
 public:
  virtual ~MailSender() = default;
  // Sends `data` (a complete RFC 5322 message, CRLF) to `recipient`.
  virtual SendResult Send(std::string_view recipient,
                          std::string_view data) = 0;
};

struct SmtpOptions {
  // smtp://host:port or smtps://host:port (ADMIT_SMTP_URL).
  std::string url = "smtp://127.0.0.1:25";
  // none | starttls (use it when offered) | required (refuse plaintext).
  std::string tls = "none";
  std::string user;  // AUTH only when set
  std::string password;
  std::string envelope_from;  // MAIL FROM address
  std::chrono::milliseconds connect_timeout{10000};
  // Whole transfer of one message, connecting included.
  std::chrono::milliseconds message_timeout{30000};
};

class SmtpSender final : public MailSender {
 public:
  // INVALID_ARGUMENT for a URL that is not smtp:// or smtps://, or an
  // unknown `tls`. Does not connect (the first Send does).
  static absl::StatusOr<std::unique_ptr<SmtpSender>> Create(
      SmtpOptions options);
  ~SmtpSender() override;
  SmtpSender(const SmtpSender&) = delete;
  SmtpSender& operator=(const SmtpSender&) = delete;

  SendResult Send(std::string_view recipient, std::string_view data) override;

 private:
  SmtpSender(SmtpOptions options, void* curl);

  const SmtpOptions options_;
  void* curl_;  // CURL*
};

}  // namespace admit::confirmation

#endif  // ADMIT_SERVICES_CONFIRMATION_SMTP_SENDER_H_
