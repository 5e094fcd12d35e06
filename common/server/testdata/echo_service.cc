#include "common/server/testdata/echo_service.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "common/server/guard.h"
#include "grpcpp/alarm.h"

namespace admit::server::testdata {

using admit::testing::SayRequest;
using admit::testing::SayResponse;

// Finishes once: on release/timer (OK) or cancellation (CANCELLED), whichever
// comes first. Deleted when both gRPC (OnDone) and, for timed calls, the
// alarm callback are done with it.
class EchoService::SlowReactor final : public grpc::ServerUnaryReactor {
 public:
  SlowReactor(EchoService* service, const SayRequest* request,
              SayResponse* response)
      : service_(service), hold_(request->hold()) {
    response->set_text(request->text());
    service_->slow_in_progress_.fetch_add(1);
    if (hold_) {
      std::lock_guard<std::mutex> lock(service_->mu_);
      service_->held_.push_back(this);
    } else {
      refs_.store(2);
      alarm_.Set(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(request->delay_ms()),
                 [this](bool fired) {
                   if (fired) FinishOnce(grpc::Status::OK);
                   Unref();
                 });
    }
  }

  void Release() { FinishOnce(grpc::Status::OK); }

  void OnCancel() override {
    if (hold_) {
      bool mine = false;
      {
        std::lock_guard<std::mutex> lock(service_->mu_);
        auto& held = service_->held_;
        auto it = std::find(held.begin(), held.end(), this);
        if (it != held.end()) {
          held.erase(it);
          mine = true;
        }
      }
      if (!mine) return;  // ReleaseHeld() took it and finishes it
    } else {
      alarm_.Cancel();
    }
    FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }

  void OnDone() override {
    service_->slow_in_progress_.fetch_sub(1);
    Unref();
  }

 private:
  void FinishOnce(const grpc::Status& status) {
    if (!finished_.exchange(true)) Finish(status);
  }
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  EchoService* const service_;
  const bool hold_;
  std::atomic<int> refs_{1};
  std::atomic<bool> finished_{false};
  grpc::Alarm alarm_;
};

grpc::ServerUnaryReactor* EchoService::Say(grpc::CallbackServerContext* context,
                                           const SayRequest* request,
                                           SayResponse* response) {
  return GuardedUnary(context, "Say", [&]() -> grpc::Status {
    if (request->throw_exception()) {
      // The second line stands for data a driver puts in its message.
      throw std::runtime_error(
          "simulated failure\nDETAIL: Key (email)=(someone@example.com)");
    }
    int attempt = 1;
    if (!request->key().empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      attempt = ++attempts_[request->key()];
    }
    response->set_attempt(attempt);
    if (attempt <= request->fail_attempts()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "try again");
    }
    response->set_text(request->text());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* EchoService::SlowSay(
    grpc::CallbackServerContext* /*context*/, const SayRequest* request,
    SayResponse* response) {
  return new SlowReactor(this, request, response);
}

int EchoService::ReleaseHeld() {
  std::vector<SlowReactor*> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    held.swap(held_);
  }
  for (SlowReactor* reactor : held) reactor->Release();
  return static_cast<int>(held.size());
}

int EchoService::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(held_.size());
}

}  // namespace admit::server::testdata
