// The bootstrap every admit service's main() uses: a gRPC callback-API server
// with grpc.health.v1, server reflection, per-RPC Prometheus metrics on a
// separate /metrics port, TLS/mTLS from configuration, SO_REUSEPORT off, and
// graceful shutdown on SIGTERM/SIGINT.
//
//   int main(int argc, char** argv) {
//     // First, before anything starts a thread:
//     admit::server::BlockTerminationSignals();
//     admit::config::Settings settings("admit-quota", "Capacity holds.");
//     admit::server::ServerOptions options;
//     admit::server::AddServerSettings(settings, &options, "127.0.0.1:50052",
//                                      "127.0.0.1:9465");
//     admit::config::LoadOrExit(settings, argc, argv);
//     QuotaServiceImpl service(...);  // a grpc::CallbackService
//     admit::server::Server server(options);
//     server.AddService(&service);
//     server.AddStopHook("sweeper", [&] { sweeper.Stop(); });
//     if (absl::Status s = server.Start(); !s.ok()) {
//       admit::log::Error("cannot start", {{"error", s.ToString()}});
//       return 1;
//     }
//     return server.RunUntilSignalled();  // 0 after the drain
//   }
//
// Shutdown sequence (Shutdown() / RunUntilSignalled()):
//   1. health: every service and "" -> NOT_SERVING (and stays so);
//   2. drain hooks run (end long-lived streams so they don't hold the drain);
//   3. keep accepting calls for shutdown_delay (Kubernetes removes the pod
//      from the endpoints meanwhile; 0 by default);
//   4. stop accepting; in-flight calls get until drain_timeout to finish, then
//      are cancelled (handlers must then Finish promptly: see guard.h);
//   5. stop hooks run, last added first (stop workers after the server
//      drained, then the pools they use);
//   6. the /metrics endpoint stops (it is up during the whole drain).
// gRPC's built-in health service keeps grpc.health.v1 Watch streams open
// through the drain, so a client watching health holds it until
// drain_timeout. Kubernetes gRPC probes and grpc_health_probe use Check, and
// MakeChannel (channel.h) does not turn on client-side health checking.
// Server streams of our own should end in a drain hook for the same reason.
#ifndef ADMIT_COMMON_SERVER_SERVER_H_
#define ADMIT_COMMON_SERVER_SERVER_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/metrics/grpc_server_metrics.h"
#include "common/metrics/metrics.h"
#include "common/server/options.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/support/channel_arguments.h"
#include "prometheus/registry.h"

namespace admit::server {

// Blocks SIGINT and SIGTERM in the calling thread. Call it first thing in
// main(), before anything starts a thread (gRPC, connection pools, the
// metrics exposer): threads inherit the mask, so the signals then stay
// pending for RunUntilSignalled()'s sigwait instead of killing the process
// from whichever thread the kernel picks (which would skip the drain).
// Idempotent.
void BlockTerminationSignals();

// Thread safety: AddService/AddDrainHook/AddStopHook and Start must be called
// from one thread before Start; everything else is thread-safe. Shutdown()
// may be called from any thread, several times (later calls block until the
// first finishes, then return).
class Server {
 public:
  explicit Server(ServerOptions options);
  // Shuts down (with the usual drain) if still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers a service (normally a grpc::CallbackService; synchronous ones
  // work too). Not owned: it must outlive this Server. Before Start().
  void AddService(grpc::Service* service);

  // Hooks, each with a name for the logs. Drain hooks run in the order added,
  // right after health turns NOT_SERVING; stop hooks run after the gRPC server
  // has stopped, last added first. A hook must not throw or call Shutdown().
  // Hooks run even if Start() failed or was never called (stop hooks only).
  void AddDrainHook(std::string name, std::function<void()> hook);
  void AddStopHook(std::string name, std::function<void()> hook);

  // The registry served at /metrics, for domain metrics. Valid for this
  // object's lifetime, before and after Start().
  prometheus::Registry& metrics_registry() { return exposer_.registry(); }

  // Validates the options, reads the TLS files, starts /metrics, then builds
  // and starts the gRPC server. Returns
  //   INVALID_ARGUMENT    bad options (see Validate) or an unreadable or
  //                       malformed TLS file (the message names the variable);
  //   UNAVAILABLE         a port cannot be bound: "cannot listen on
  //                       127.0.0.1:P (address in use?)" for gRPC, "...
  //                       ADMIT_METRICS_LISTEN ..." for /metrics;
  //   FAILED_PRECONDITION Start() already called.
  // On error nothing is left running. On success health reports SERVING for
  // "" and every registered service name.
  absl::Status Start();

  // The bound gRPC port (the real one when listening on port 0); 0 before
  // Start() and for unix: addresses.
  int grpc_port() const { return grpc_port_; }
  // The bound /metrics port; 0 when disabled or not started.
  int metrics_port() const { return exposer_.port(); }
  // "127.0.0.1:<grpc_port()>" for clients in tests and logs.
  std::string grpc_target() const;

  // Overrides one service's health status ("" = the whole server), e.g.
  // NOT_SERVING while a dependency is down. No effect once shutting down.
  void SetServing(const std::string& service, bool serving);

  // The shutdown sequence above; blocks until it is done. Safe to call when
  // not started (then only stop hooks run).
  void Shutdown();

  // For main(): waits (sigwait) for SIGINT or SIGTERM, logs it, Shutdown()s
  // and returns 0, the process exit code. The signals must have been blocked
  // with BlockTerminationSignals() before any thread started; if they were not
  // blocked when Start() ran this logs a warning (a signal may then kill the
  // process without draining). Returns only after a signal: code that wants
  // the process to stop sends one (kill(getpid(), SIGTERM)).
  int RunUntilSignalled();

  // The underlying server, for tests and uncommon needs (InProcessChannel).
  // nullptr until Start() succeeds; shut down (not null) after Shutdown().
  grpc::Server* grpc_server() { return server_.get(); }

 private:
  absl::Status StartGrpc(
      const std::shared_ptr<grpc::ServerCredentials>& credentials);
  void RunStopHooks();

  const ServerOptions options_;
  metrics::MetricsExposer exposer_;
  metrics::GrpcServerMetrics grpc_metrics_;  // outlives server_
  std::vector<grpc::Service*> services_;
  std::vector<std::pair<std::string, std::function<void()>>> drain_hooks_;
  std::vector<std::pair<std::string, std::function<void()>>> stop_hooks_;
  std::vector<std::string> service_names_;  // filled by BuildAndStart
  bool start_called_ = false;
  bool signals_blocked_at_start_ = false;
  int grpc_port_ = 0;

  std::mutex health_mu_;  // guards health changes vs. shutdown
  bool shutting_down_ = false;

  std::once_flag shutdown_once_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace admit::server

#endif  // ADMIT_COMMON_SERVER_SERVER_H_
