// The catch-all at every RPC boundary: nothing a handler throws crashes the
// server or leaves a call unfinished.
//
// Exceptions are not part of admit's error model (STYLE.md: they stop at the
// storage boundary and become absl::Status). These helpers are the last
// resort for the ones that slip through: the exception is logged at error
// level with the method name, its type and the first line of what() (at most
// 200 characters: Postgres puts key values such as emails in later DETAIL
// lines), never the request; the client gets INTERNAL "internal error".
//
//   grpc::ServerUnaryReactor* Reserve(grpc::CallbackServerContext* ctx,
//                                     const ReserveRequest* req,
//                                     ReserveResponse* resp) override {
//     // All work inline: Finish is called once, with INTERNAL on a throw.
//     return admit::server::GuardedUnary(ctx, "Reserve", [&] {
//       return ToGrpcStatus(quota_.Reserve(FromProto(*req), resp));
//     });
//   }
//
//   // Work moved to the service's own pool (blocking I/O never runs on
//   // gRPC threads): guard where the work runs.
//   auto* reactor = ctx->DefaultReactor();
//   pool_.Post([=] {
//     admit::server::Guard(reactor, "Register",
//                          [&] { return DoRegister(...); });
//   });
//   return reactor;
//
// Contract for the callable: returns grpc::Status and never calls Finish
// itself (Guard does, exactly once).
#ifndef ADMIT_COMMON_SERVER_GUARD_H_
#define ADMIT_COMMON_SERVER_GUARD_H_

#include <exception>
#include <string_view>
#include <utility>

#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/status.h"

namespace admit::server {

// Logs `exception` as described above and returns INTERNAL "internal error".
// Never throws.
grpc::Status StatusFromUnhandledException(
    std::string_view method, const std::exception_ptr& exception) noexcept;

// Runs `handler()`; returns its grpc::Status, or INTERNAL if it throws.
template <class F>
grpc::Status CallGuarded(std::string_view method, F&& handler) noexcept {
  try {
    return std::forward<F>(handler)();
  } catch (...) {
    return StatusFromUnhandledException(method, std::current_exception());
  }
}

// Finishes `reactor` exactly once with CallGuarded(method, handler). Callable
// from any thread.
template <class F>
void Guard(grpc::ServerUnaryReactor* reactor, std::string_view method,
           F&& handler) noexcept {
  reactor->Finish(CallGuarded(method, std::forward<F>(handler)));
}

// For unary handlers that do their work inline: returns the context's default
// reactor, already finished by Guard.
template <class F>
grpc::ServerUnaryReactor* GuardedUnary(grpc::CallbackServerContext* context,
                                       std::string_view method,
                                       F&& handler) noexcept {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Guard(reactor, method, std::forward<F>(handler));
  return reactor;
}

// For unary handlers that validate on the gRPC thread and then hand the call
// to work elsewhere (a database pool, a batcher, a client callback), which
// finishes it. Runs `start(reactor, handed_off)`: `start` sets handed_off
// right before giving the call away and returns OK; when it returns an error
// or throws before handing off, the call is finished here with
// `to_status(error, method)` (INTERNAL for a throw). `start` returns
// absl::Status; `to_status` maps it to the wire (each service has its own
// rules, e.g. UNKNOWN -> UNAVAILABLE).
template <class Start, class ToStatus>
grpc::ServerUnaryReactor* HandOffUnary(grpc::CallbackServerContext* context,
                                       std::string_view method,
                                       ToStatus&& to_status, Start&& start) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  bool handed_off = false;
  grpc::Status early = CallGuarded(method, [&]() -> grpc::Status {
    auto status = start(reactor, handed_off);
    return handed_off ? grpc::Status::OK : to_status(status, method);
  });
  if (!handed_off) reactor->Finish(early);
  return reactor;
}

}  // namespace admit::server

#endif  // ADMIT_COMMON_SERVER_GUARD_H_
