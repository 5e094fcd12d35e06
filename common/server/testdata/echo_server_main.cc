// admit-echo-server: the Echo test service on the standard bootstrap, so tests
// can exercise a real process (SIGTERM drain, exit code, --help). Also the
// smallest example of a service main().
#include "absl/status/status.h"
#include "common/config/config.h"
#include "common/log/log.h"
#include "common/server/options.h"
#include "common/server/server.h"
#include "common/server/testdata/echo_service.h"

int main(int argc, char** argv) {
  admit::server::BlockTerminationSignals();  // before any thread exists

  admit::config::Settings settings(
      "admit-echo-server", "Echo test service on admit's server bootstrap.");
  admit::server::ServerOptions options;
  admit::server::AddServerSettings(settings, &options, "127.0.0.1:50099",
                                   "127.0.0.1:9499");
  std::string log_level;
  settings.AddEnum("ADMIT_LOG_LEVEL", "info",
                   {"debug", "info", "warn", "error"},
                   "Minimum level of log lines written to stderr.", &log_level);
  admit::config::LoadOrExit(settings, argc, argv);
  admit::log::Level level = admit::log::Level::kInfo;
  (void)admit::log::ParseLevel(log_level, &level);
  admit::log::Init("echo", level);

  admit::server::testdata::EchoService echo;
  admit::server::Server server(options);
  server.AddService(&echo);
  absl::Status started = server.Start();
  if (!started.ok()) {
    admit::log::Error("cannot start", {{"error", started.ToString()}});
    return 1;
  }
  return server.RunUntilSignalled();
}
