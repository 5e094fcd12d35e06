#include "services/quota/errors.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status/status.h"
#include "google/rpc/error_details.pb.h"
#include "services/quota/validation.h"

namespace admit::quota {
namespace {

// The payload key common/status uses for details: the Any type URL.
constexpr char kPreconditionFailureUrl[] =
    "type.googleapis.com/google.rpc.PreconditionFailure";

}  // namespace

absl::Status EventNotFoundError(const std::string& event_id) {
  return WithErrorInfo(
      absl::NotFoundError(absl::StrCat("event ", event_id, " has no quotas")),
      "EVENT_NOT_FOUND");
}

absl::Status HoldNotFoundError(const std::string& hold_id) {
  return WithErrorInfo(absl::NotFoundError(absl::StrCat("no hold ", hold_id)),
                       "HOLD_NOT_FOUND");
}

absl::Status HoldExpiredError(const std::string& hold_id) {
  return WithErrorInfo(
      absl::FailedPreconditionError(
          absl::StrCat("hold ", hold_id, " expired before it was committed")),
      "HOLD_EXPIRED");
}

absl::Status HoldReleasedError(const std::string& hold_id) {
  return WithErrorInfo(absl::FailedPreconditionError(
                           absl::StrCat("hold ", hold_id, " was released")),
                       "HOLD_RELEASED");
}

absl::Status HoldIdReusedError(const std::string& hold_id) {
  return WithErrorInfo(
      InvalidArgumentError(
          {{"hold_id",
            absl::StrCat("hold ", hold_id,
                         " was already used for a different event, ticket "
                         "type or organization; use a new id")}}),
      "REQUEST_ID_REUSED");
}

absl::Status EventQuotaRequiredError() {
  return InvalidFields(
      {{"set",
        "the event has no quotas yet: the first SetQuotas must set its "
        "QUOTA_KIND_EVENT quota"}});
}

absl::Status CapacityBelowUsageError(
    const std::vector<CapacityViolation>& violations) {
  google::rpc::PreconditionFailure failure;
  std::vector<std::string> subjects;
  for (const CapacityViolation& v : violations) {
    auto* pv = failure.add_violations();
    pv->set_type("CAPACITY");
    pv->set_subject(v.key.Text());
    pv->set_description(absl::StrCat("capacity ", v.capacity,
                                     " is below the seats in use: ", v.held,
                                     " held + ", v.sold, " sold"));
    subjects.push_back(v.key.Text());
  }
  absl::Status status = absl::FailedPreconditionError(absl::StrCat(
      "new capacity below held + sold for: ", absl::StrJoin(subjects, ", ")));
  status.SetPayload(kPreconditionFailureUrl,
                    absl::Cord(failure.SerializeAsString()));
  return WithErrorInfo(std::move(status), "CAPACITY_BELOW_USAGE");
}

std::vector<std::pair<std::string, std::string>> GetPreconditionViolations(
    const absl::Status& status) {
  std::vector<std::pair<std::string, std::string>> out;
  auto payload = status.GetPayload(kPreconditionFailureUrl);
  if (!payload.has_value()) return out;
  google::rpc::PreconditionFailure failure;
  if (!failure.ParseFromString(std::string(*payload))) return out;
  for (const auto& v : failure.violations()) {
    out.emplace_back(v.subject(), v.description());
  }
  return out;
}

}  // namespace admit::quota
