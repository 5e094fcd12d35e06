#include "services/registration/registration_metrics.h"

#include "common/status/status.h"

namespace admit::registration {
namespace {

const char* RejectClass(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return GetErrorReason(status) == "REQUEST_ID_REUSED" ? "request_id_reused"
                                                           : "invalid";
    case absl::StatusCode::kNotFound:
      return "not_found";
    case absl::StatusCode::kFailedPrecondition:
      return "closed";
    case absl::StatusCode::kAlreadyExists:
      return "already_exists";
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return "unavailable";
    case absl::StatusCode::kAborted:
      return "aborted";
    default:
      return "other";
  }
}

}  // namespace

RegistrationMetrics::RegistrationMetrics(prometheus::Registry& registry)
    : registrations_(prometheus::BuildCounter()
                         .Name("admit_registrations_total")
                         .Help("Registrations by event and outcome "
                               "(pending_confirmation, waitlisted, replayed, "
                               "cancelled).")
                         .Register(registry)),
      rejected_(prometheus::BuildCounter()
                    .Name("admit_registration_rejected_total")
                    .Help("Register calls answered with an error, by class.")
                    .Register(registry)),
      reserve_(&prometheus::BuildHistogram()
                    .Name("admit_registration_reserve_seconds")
                    .Help("Latency of the quota Reserve of one Register, "
                          "retries included.")
                    .Register(registry)
                    .Add({},
                         prometheus::Histogram::BucketBoundaries{
                             0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                             0.5, 1, 2.5, 5})),
      batch_(&prometheus::BuildHistogram()
                  .Name("admit_registration_batch_size")
                  .Help("Registrations inserted per group-commit "
                        "transaction.")
                  .Register(registry)
                  .Add({}, prometheus::Histogram::BucketBoundaries{
                               1, 2, 4, 8, 16, 32, 64, 128, 256})) {}

void RegistrationMetrics::CountRegistration(const std::string& event_id,
                                            const std::string& status) {
  std::lock_guard<std::mutex> lock(mu_);
  prometheus::Counter*& counter = series_[{event_id, status}];
  if (counter == nullptr) {
    counter = &registrations_.Add({{"event", event_id}, {"status", status}});
  }
  counter->Increment();
}

void RegistrationMetrics::CountRejected(const absl::Status& status) {
  const std::string cls = RejectClass(status);
  std::lock_guard<std::mutex> lock(mu_);
  prometheus::Counter*& counter = rejected_series_[cls];
  if (counter == nullptr) counter = &rejected_.Add({{"reason", cls}});
  counter->Increment();
}

}  // namespace admit::registration
