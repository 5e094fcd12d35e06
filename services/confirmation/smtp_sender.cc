#include "services/confirmation/smtp_sender.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace admit::confirmation {
namespace {

struct Upload {
  std::string_view data;
  size_t position = 0;
};

size_t ReadUpload(char* buffer, size_t size, size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  const size_t n =
      std::min(size * count, upload->data.size() - upload->position);
  std::memcpy(buffer, upload->data.data() + upload->position, n);
  upload->position += n;
  return n;
}

// No SMTP session at all: the next message would fail the same way.
bool IsConnectionFailure(CURLcode code, long response) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_USE_SSL_FAILED:
    case CURLE_LOGIN_DENIED:
    case CURLE_PEER_FAILED_VERIFICATION:
      return true;
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_WEIRD_SERVER_REPLY:
      return response == 0;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<SmtpSender>> SmtpSender::Create(
    SmtpOptions options) {
  if (!absl::StartsWith(options.url, "smtp://") &&
      !absl::StartsWith(options.url, "smtps://")) {
    return absl::InvalidArgumentError(
        "SMTP URL must start with smtp:// or smtps://");
  }
  if (options.tls != "none" && options.tls != "starttls" &&
      options.tls != "required") {
    return absl::InvalidArgumentError(
        "SMTP TLS must be none, starttls or required");
  }
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  return std::unique_ptr<SmtpSender>(new SmtpSender(std::move(options), curl));
}

SmtpSender::SmtpSender(SmtpOptions options, void* curl)
    : options_(std::move(options)), curl_(curl) {}

SmtpSender::~SmtpSender() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

SendResult SmtpSender::Send(std::string_view recipient, std::string_view data) {
  CURL* curl = static_cast<CURL*>(curl_);
  // Every option is set again for each message on the kept handle: the
  // handle (and so its open connection) lives as long as this sender.
  Upload upload{data, 0};
  const std::string rcpt = "<" + std::string(recipient) + ">";
  const std::string from = absl::StrCat("<", options_.envelope_from, ">");
  curl_slist* rcpts = curl_slist_append(nullptr, rcpt.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpts);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
  curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE,
                   static_cast<curl_off_t>(data.size()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(options_.message_timeout.count()));
  long use_ssl = CURLUSESSL_NONE;
  if (options_.tls == "starttls") use_ssl = CURLUSESSL_TRY;
  if (options_.tls == "required") use_ssl = CURLUSESSL_ALL;
  curl_easy_setopt(curl, CURLOPT_USE_SSL, use_ssl);
  if (!options_.user.empty()) {
    curl_easy_setopt(curl, CURLOPT_USERNAME, options_.user.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, options_.password.c_str());
  }

  const CURLcode code = curl_easy_perform(curl);
  long response = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response);
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, nullptr);
  curl_slist_free_all(rcpts);

  SendResult result;
  if (code == CURLE_OK) {
    result.outcome = SendOutcome::kSent;
    return result;
  }
  result.detail =
      absl::StrCat(curl_easy_strerror(code), " (smtp ", response, ")");
  if (response >= 500 && response < 600 && code != CURLE_LOGIN_DENIED) {
    result.outcome = SendOutcome::kPermanent;
    return result;
  }
  result.outcome = SendOutcome::kTransient;
  result.connection_failed = IsConnectionFailure(code, response);
  return result;
}

}  // namespace admit::confirmation
