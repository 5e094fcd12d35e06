// admit-gateway: the public and organizer APIs over HTTP/JSON for browsers,
// and the demo pages. Wiring only: configuration, channels, routes, server,
// signals. See README.md.
#include <csignal>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/config/config.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/server/channel.h"
#include "common/server/server.h"
#include "services/confirmation/qr_png.h"
#include "services/gateway/admit_api.h"
#include "services/gateway/gateway.h"
#include "services/gateway/route_table.h"

#ifndef ADMIT_GATEWAY_WEB_DIR
#error "ADMIT_GATEWAY_WEB_DIR must be defined by the build"
#endif

int main(int argc, char** argv) {
  using namespace admit;  // NOLINT(build/namespaces): main only
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  server::BlockTerminationSignals();

  config::Settings settings(
      "admit-gateway",
      "admit's HTTP/JSON gateway: the public and organizer gRPC APIs for "
      "browsers (google.api.http routes), CORS, and the demo pages.");
  std::string log_level = "info";
  settings.AddEnum(
      "ADMIT_LOG_LEVEL", "info", {"debug", "info", "warn", "error"},
      "Minimum level of the JSON log lines on stderr.", &log_level);
  gateway::GatewayOptions options;
  options.web_dir = ADMIT_GATEWAY_WEB_DIR;
  options.qr_png = [](absl::string_view text) {
    return confirmation::QrPng(std::string_view(text.data(), text.size()));
  };
  std::string origins;
  gateway::AddGatewaySettings(settings, &options, &origins);
  std::string metrics_listen = "127.0.0.1:9467";
  settings.AddString("ADMIT_METRICS_LISTEN", metrics_listen,
                     "Where /metrics is served: IPv4:port or [IPv6]:port; "
                     "empty = nowhere.",
                     &metrics_listen);
  std::string registration_addr = "127.0.0.1:50051";
  settings.AddString("ADMIT_REGISTRATION_ADDR", registration_addr,
                     "The registration service (RegistrationService and "
                     "OrganizerService): host:port, or dns:///host:port to "
                     "balance over every address.",
                     &registration_addr);
  std::string confirmation_addr = "127.0.0.1:50053";
  settings.AddString("ADMIT_CONFIRMATION_ADDR", confirmation_addr,
                     "The confirmation service (ConfirmationService): "
                     "host:port, or dns:///host:port to balance over every "
                     "address.",
                     &confirmation_addr);
  config::LoadOrExit(settings, argc, argv);

  log::Level level = log::Level::kInfo;
  (void)log::ParseLevel(log_level, &level);
  log::Init("gateway", level);
  if (absl::Status s = gateway::SetAllowedOrigins(origins, &options); !s.ok()) {
    log::Error("bad setting", {{"error", s.ToString()}});
    return 2;
  }

  auto routes = gateway::RouteTable::FromServices(gateway::AdmitServices());
  if (!routes.ok()) {
    log::Error("cannot build the routes",
               {{"error", routes.status().ToString()}});
    return 1;
  }
  server::ChannelOptions channel_options;
  std::map<std::string, std::shared_ptr<grpc::Channel>> backends;
  for (const auto& [service, addr] : std::map<std::string, std::string>{
           {"admit.v1.RegistrationService", registration_addr},
           {"admit.v1.OrganizerService", registration_addr},
           {"admit.v1.ConfirmationService", confirmation_addr}}) {
    auto channel = server::MakeChannel(addr, channel_options);
    if (!channel.ok()) {
      log::Error(
          "cannot make a channel",
          {{"service", service}, {"error", channel.status().ToString()}});
      return 2;
    }
    backends[service] = *channel;
  }

  metrics::MetricsExposer exposer;
  if (!metrics_listen.empty()) {
    if (absl::Status s = exposer.Start(metrics_listen); !s.ok()) {
      log::Error("cannot serve metrics", {{"error", s.ToString()}});
      return 1;
    }
  }
  gateway::Gateway gw(options, routes->get(), std::move(backends),
                      &exposer.registry());
  if (absl::Status s = gw.Start(); !s.ok()) {
    log::Error("cannot start", {{"error", s.ToString()}});
    return 1;
  }
  log::Info("serving",
            {{"http_port", gw.port()},
             {"listen", options.listen},
             {"routes", static_cast<int64_t>((*routes)->routes().size())},
             {"metrics_port", exposer.port()}});

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  log::Info("draining", {{"signal", sig}});
  gw.Shutdown();
  exposer.Stop();
  log::Info("stopped", {});
  return 0;
}
