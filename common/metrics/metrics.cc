#include "common/metrics/metrics.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "prometheus/exposer.h"
#include "prometheus/text_serializer.h"

namespace admit::metrics {

namespace {

bool ParsePort(const std::string& text, int* port) {
  if (text.empty() || text.size() > 5) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  int value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < 0 || value > 65535) {
    return false;
  }
  *port = value;
  return true;
}

// Opens and closes a TCP connection to host:port, ignoring every error.
void PokePort(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints,
                  &result) != 0) {
    return;
  }
  int fd = ::socket(result->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    (void)::connect(fd, result->ai_addr, result->ai_addrlen);
    ::close(fd);
  }
  freeaddrinfo(result);
}

}  // namespace

absl::Status ValidateListenAddress(const std::string& listen) {
  const auto invalid = [&listen]() {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", listen,
        "\" is not a listen address; expected IPv4:port or [IPv6]:port "
        "(e.g. 127.0.0.1:9464, 0.0.0.0:9464, [::]:9464), port 0-65535"));
  };
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return invalid();
  std::string host = listen.substr(0, colon);
  int port = 0;
  if (!ParsePort(listen.substr(colon + 1), &port)) return invalid();
  unsigned char buffer[sizeof(in6_addr)];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    std::string inner = host.substr(1, host.size() - 2);
    if (inet_pton(AF_INET6, inner.c_str(), buffer) != 1) return invalid();
    return absl::OkStatus();
  }
  if (inet_pton(AF_INET, host.c_str(), buffer) != 1) return invalid();
  return absl::OkStatus();
}

MetricsExposer::MetricsExposer()
    : registry_(std::make_shared<prometheus::Registry>()) {}

MetricsExposer::~MetricsExposer() { Stop(); }

absl::Status MetricsExposer::Start(const std::string& listen) {
  if (exposer_ != nullptr) {
    return absl::FailedPreconditionError("metrics endpoint already started");
  }
  absl::Status valid = ValidateListenAddress(listen);
  if (!valid.ok()) return valid;
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // Two worker threads: scrapes are rare and cheap. civetweb binds with
    // SO_REUSEADDR only, so a port another process listens on fails here.
    exposer = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", listen, "num_threads", "2"});
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve metrics on ", listen, " (address in use?): ", e.what()));
  }
  std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty() || ports.front() <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ",
                                               listen, ": no port was bound"));
  }
  exposer->RegisterCollectable(registry_);
  port_ = ports.front();
  // Where Stop() connects to wake civetweb: the listen host, or loopback for
  // a wildcard.
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  poke_host_ = host;
  exposer_ = std::move(exposer);
  return absl::OkStatus();
}

void MetricsExposer::Stop() {
  if (exposer_ == nullptr) return;
  // civetweb 1.15's listener thread sees the stop flag only when its poll()
  // returns, every 2 s; connecting to the port wakes it at once.
  std::atomic<bool> stopped{false};
  std::thread waker([this, &stopped] {
    while (!stopped.load()) {
      PokePort(poke_host_, port_);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  exposer_.reset();
  stopped.store(true);
  waker.join();
  port_ = 0;
}

std::string SerializeText(prometheus::Registry& registry) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  return out.str();
}

}  // namespace admit::metrics
