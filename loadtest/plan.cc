#include "loadtest/plan.h"

#include <random>

#include "absl/strings/str_cat.h"

namespace admit::loadtest {

const char* KindName(AttemptKind kind) {
  switch (kind) {
    case AttemptKind::kNew:
      return "new";
    case AttemptKind::kRetry:
      return "retry";
    case AttemptKind::kDuplicateEmail:
      return "duplicate_email";
    case AttemptKind::kInvalid:
      return "invalid";
  }
  return "?";
}

std::vector<Attempt> MakePlan(const PlanOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const std::string run = absl::StrCat(o.seed % 1000000007);
  std::vector<Attempt> plan;
  plan.reserve(static_cast<size_t>(o.attempts));
  std::vector<int64_t> news;  // indices of kNew attempts
  for (int64_t i = 0; i < o.attempts; ++i) {
    Attempt a;
    const double r = unit(rng);
    if (!news.empty() && r < o.retry_fraction) {
      a.kind = AttemptKind::kRetry;
    } else if (!news.empty() && r < o.retry_fraction + o.duplicate_fraction) {
      a.kind = AttemptKind::kDuplicateEmail;
    } else if (!news.empty() && r < o.retry_fraction + o.duplicate_fraction +
                                        o.invalid_fraction) {
      a.kind = AttemptKind::kInvalid;
    }
    if (a.kind == AttemptKind::kRetry ||
        a.kind == AttemptKind::kDuplicateEmail) {
      const auto window =
          std::min<int64_t>(o.race_window, static_cast<int64_t>(news.size()));
      std::uniform_int_distribution<int64_t> pick(
          static_cast<int64_t>(news.size()) - window,
          static_cast<int64_t>(news.size()) - 1);
      a.original = news[static_cast<size_t>(pick(rng))];
    }
    const std::string& type =
        o.ticket_type_ids[static_cast<size_t>(i) % o.ticket_type_ids.size()];
    switch (a.kind) {
      case AttemptKind::kRetry:
        a.request = plan[static_cast<size_t>(a.original)].request;
        break;
      case AttemptKind::kDuplicateEmail:
        a.request = plan[static_cast<size_t>(a.original)].request;
        a.request.set_request_id(absl::StrCat("lt", run, "-", i));
        break;
      case AttemptKind::kNew:
      case AttemptKind::kInvalid: {
        a.request.set_request_id(absl::StrCat("lt", run, "-", i));
        a.request.set_event_id(o.event_id);
        a.request.set_ticket_type_id(type);
        v1::Attendee* at = a.request.mutable_attendee();
        at->set_email(a.kind == AttemptKind::kNew
                          ? absl::StrCat("lt", run, "-", i, "@example.org")
                          : absl::StrCat("not-an-address-", i));
        at->set_full_name(absl::StrCat("Load Test ", i));
        if (o.vary_attendees) {
          static const char* const kCountries[] = {"CH", "DE", "FR", "IT"};
          const int64_t org = i % 6;
          if (org > 0)
            at->set_organization(
                absl::StrCat((i / 6) % 2 == 0 ? "Org " : "ORG ", org));
          at->set_country_code(kCountries[i % 4]);
        } else {
          at->set_country_code("CH");
        }
        if (a.kind == AttemptKind::kNew) news.push_back(i);
        break;
      }
    }
    plan.push_back(std::move(a));
  }
  return plan;
}

}  // namespace admit::loadtest
