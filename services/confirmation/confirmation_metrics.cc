#include "services/confirmation/confirmation_metrics.h"

namespace admit::confirmation {
namespace {

constexpr const char* kKinds[5] = {"confirmation", "promotion", "waitlist",
                                   "ticket", "unknown"};
constexpr const char* kResults[3] = {"sent", "retry", "parked"};

}  // namespace

ConfirmationMetrics::ConfirmationMetrics(prometheus::Registry& registry) {
  auto& sent = prometheus::BuildCounter()
                   .Name("admit_emails_sent_total")
                   .Help(
                       "Outbox rows by outcome of a delivery attempt: "
                       "sent, retry (scheduled again), parked (given up).")
                   .Register(registry);
  for (int k = 0; k < 5; ++k) {
    for (int r = 0; r < 3; ++r) {
      sent_[k][r] = &sent.Add({{"kind", kKinds[k]}, {"result", kResults[r]}});
    }
  }
  send_seconds_ =
      &prometheus::BuildHistogram()
           .Name("admit_email_send_seconds")
           .Help("Duration of one SMTP transfer, connecting included.")
           .Register(registry)
           .Add({}, prometheus::Histogram::BucketBoundaries{
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                        1, 2.5, 5, 10, 30});
  pending_ = &prometheus::BuildGauge()
                  .Name("admit_outbox_pending")
                  .Help("Outbox rows not processed yet (sent or parked).")
                  .Register(registry)
                  .Add({});
  oldest_age_ = &prometheus::BuildGauge()
                     .Name("admit_outbox_oldest_age_seconds")
                     .Help(
                         "Age of the oldest unprocessed outbox row; 0 "
                         "when there is none.")
                     .Register(registry)
                     .Add({});
  parked_ = &prometheus::BuildGauge()
                 .Name("admit_outbox_parked")
                 .Help("Outbox rows given up (deliveries in state parked).")
                 .Register(registry)
                 .Add({});
}

void ConfirmationMetrics::Count(std::string_view kind, DeliveryResult result) {
  int k = 4;
  for (int i = 0; i < 4; ++i) {
    if (kind == kKinds[i]) k = i;
  }
  sent_[k][static_cast<int>(result)]->Increment();
}

void ConfirmationMetrics::SetBacklog(int64_t pending, double oldest_age_seconds,
                                     int64_t parked) {
  pending_->Set(static_cast<double>(pending));
  oldest_age_->Set(oldest_age_seconds);
  parked_->Set(static_cast<double>(parked));
}

}  // namespace admit::confirmation
