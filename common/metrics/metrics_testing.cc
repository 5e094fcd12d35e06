#include "common/metrics/metrics_testing.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace admit::metrics::testing {

absl::StatusOr<std::string> HttpGet(int port, const std::string& path,
                                    std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("connect to 127.0.0.1:", port, ": ", std::strerror(err)));
  }
  std::string request = absl::StrCat("GET ", path,
                                     " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                     "Connection: close\r\n\r\n");
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n =
        ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return absl::UnavailableError("send failed");
    }
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buffer[8192];
  while (true) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return absl::UnavailableError(
          absl::StrCat("recv: ", std::strerror(errno)));
    }
    response.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    return absl::InternalError("no HTTP header in the response");
  }
  std::string status_line = response.substr(0, response.find("\r\n"));
  if (status_line.find(" 200 ") == std::string::npos) {
    return absl::InternalError(absl::StrCat("HTTP status: ", status_line));
  }
  std::string headers = response.substr(0, header_end);
  std::string body = response.substr(header_end + 4);
  // civetweb may answer with chunked encoding; undo it.
  for (char& c : headers) c = static_cast<char>(std::tolower(c));
  if (headers.find("transfer-encoding: chunked") != std::string::npos) {
    std::string decoded;
    size_t pos = 0;
    while (pos < body.size()) {
      size_t line_end = body.find("\r\n", pos);
      if (line_end == std::string::npos) break;
      size_t size =
          std::strtoul(body.substr(pos, line_end - pos).c_str(), nullptr, 16);
      if (size == 0) break;
      decoded.append(body, line_end + 2, size);
      pos = line_end + 2 + size + 2;
    }
    body = decoded;
  }
  return body;
}

absl::Status PromtoolCheckMetrics(const std::string& text) {
  const char* env = std::getenv("ADMIT_PROMTOOL");
  std::string promtool =
      env != nullptr && *env != '\0' ? env : "/usr/bin/promtool";
  if (::access(promtool.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(promtool,
                                            " is not installed "
                                            "(Debian package: prometheus)"));
  }
  char path[] = "/tmp/admit-metrics-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) return absl::InternalError("mkstemp failed");
  ::close(fd);
  {
    std::ofstream out(path, std::ios::binary);
    out << text;
  }
  std::string command =
      absl::StrCat("'", promtool, "' check metrics < '", path, "' 2>&1");
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ::unlink(path);
    return absl::InternalError("popen failed");
  }
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output.append(buffer, n);
  }
  int rc = ::pclose(pipe);
  ::unlink(path);
  if (rc != 0 || !output.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("promtool check metrics exited ",
                     WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, ": ", output));
  }
  return absl::OkStatus();
}

absl::StatusOr<double> SampleValue(
    const std::string& text, const std::string& name,
    const std::map<std::string, std::string>& labels) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string::npos || line.substr(0, name_end) != name) {
      continue;
    }
    std::string label_text;
    size_t value_start = name_end;
    if (line[name_end] == '{') {
      size_t close = line.find('}', name_end);
      if (close == std::string::npos) continue;
      label_text = line.substr(name_end + 1, close - name_end - 1);
      value_start = close + 1;
    }
    bool match = true;
    for (const auto& [key, value] : labels) {
      if (label_text.find(absl::StrCat(key, "=\"", value, "\"")) ==
          std::string::npos) {
        match = false;
        break;
      }
    }
    if (!match) continue;
    std::string value_text(
        absl::StripAsciiWhitespace(line.substr(value_start)));
    // A timestamp may follow the value.
    value_text = value_text.substr(0, value_text.find(' '));
    double value = 0;
    if (!absl::SimpleAtod(value_text, &value)) continue;
    return value;
  }
  return absl::NotFoundError(absl::StrCat("no sample ", name));
}

}  // namespace admit::metrics::testing
