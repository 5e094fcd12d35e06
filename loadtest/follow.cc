#include "loadtest/follow.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "admit/v1/confirmation.grpc.pb.h"
#include "loadtest/driver.h"
#include "loadtest/maildir.h"
#include "loadtest/summary.h"
#include "pqxx/pqxx"

namespace admit::loadtest {
namespace {

constexpr int kPending = 1;
constexpr int kConfirmed = 2;
constexpr int kWaitlisted = 3;

void Add(std::vector<Violation>& out, std::string check, std::string detail) {
  out.push_back({std::move(check), std::move(detail)});
}

// A registration the run was told about, and the messages that name it.
struct Reg {
  int status = 0;  // as answered: PENDING or WAITLISTED
  std::string email;
  size_t first_answer = 0;  // index of its first OK answer
  // kind -> messages (indexes into Follower::messages_)
  std::map<std::string, std::vector<size_t>> messages;
};

struct Message {
  MailMessage mail;
  int64_t outbox_id = -1;
  std::string kind;  // from the outbox row; "" if none
  std::string registration_id;
};

class Follower {
 public:
  explicit Follower(const FollowOptions& o) : scanner_(o.maildir, o.event_id) {}

  void AddRegistration(const std::string& id, Reg reg) {
    regs_.emplace(id, std::move(reg));
  }
  std::map<std::string, Reg>& regs() { return regs_; }
  const std::vector<Message>& messages() const { return messages_; }

  // Reads new messages and resolves their outbox rows.
  void Poll(pqxx::connection& conn) {
    std::vector<MailMessage> fresh = scanner_.Poll();
    if (fresh.empty()) return;
    std::vector<std::string> ids;
    const size_t first = messages_.size();
    for (MailMessage& m : fresh) {
      Message msg;
      msg.mail = std::move(m);
      if (auto id = OutboxIdOf(msg.mail.message_id)) {
        msg.outbox_id = *id;
        ids.push_back(absl::StrCat(*id));
      }
      messages_.push_back(std::move(msg));
    }
    std::map<int64_t, std::pair<std::string, std::string>> rows;
    if (!ids.empty()) {
      pqxx::read_transaction tx(conn);
      for (const auto& r : tx.exec_params(
               "SELECT outbox_id, kind, registration_id FROM "
               "registration.outbox WHERE outbox_id = ANY($1::bigint[])",
               absl::StrCat("{", absl::StrJoin(ids, ","), "}"))) {
        rows[r[0].as<int64_t>()] = {r[1].as<std::string>(),
                                    r[2].as<std::string>()};
      }
    }
    for (size_t i = first; i < messages_.size(); ++i) {
      Message& m = messages_[i];
      auto row = rows.find(m.outbox_id);
      if (row == rows.end()) continue;  // reported in Check
      m.kind = row->second.first;
      m.registration_id = row->second.second;
      auto reg = regs_.find(m.registration_id);
      if (reg != regs_.end()) reg->second.messages[m.kind].push_back(i);
    }
  }

  // Polls until `done` or the deadline; returns whether done.
  bool WaitUntil(pqxx::connection& conn, std::chrono::milliseconds deadline,
                 const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (true) {
      Poll(conn);
      if (done()) return true;
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

 private:
  MaildirScanner scanner_;
  std::map<std::string, Reg> regs_;
  std::vector<Message> messages_;
};

const char* ExpectedKind(int status) {
  return status == kPending ? "confirmation" : "waitlist";
}

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
      .count();
}

std::chrono::milliseconds ScaledDeadline(std::chrono::milliseconds given,
                                         int64_t messages) {
  if (given.count() > 0) return given;
  return std::chrono::milliseconds(30000 + 50 * messages);
}

}  // namespace

std::vector<size_t> ConfirmShare(size_t n, double fraction) {
  std::vector<size_t> out;
  fraction = std::clamp(fraction, 0.0, 1.0);
  for (size_t k = 0; k < n; ++k) {
    const auto before = static_cast<int64_t>(std::floor(k * fraction));
    const auto after = static_cast<int64_t>(std::floor((k + 1) * fraction));
    if (after > before) out.push_back(k);
  }
  return out;
}

absl::Status FollowThroughConfirmation(
    const FollowOptions& options, const std::vector<Attempt>& plan,
    const std::vector<Outcome>& outcomes,
    const std::vector<std::shared_ptr<grpc::Channel>>& confirmation,
    std::chrono::steady_clock::time_point since_run_end,
    std::vector<Violation>& out, FollowFacts& facts,
    std::vector<std::string>& confirmed_ids) {
  facts.enabled = true;
  facts.confirm_fraction = options.confirm_fraction;
  Follower follower(options);
  bool all_answered = true;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const Outcome& o = outcomes[i];
    if (!o.answered) all_answered = false;
    if (o.code != grpc::StatusCode::OK) continue;
    if (o.status != kPending && o.status != kWaitlisted) continue;
    if (follower.regs().count(o.registration_id) > 0) continue;
    follower.AddRegistration(
        o.registration_id,
        Reg{.status = o.status,
            .email = absl::AsciiStrToLower(plan[i].request.attendee().email()),
            .first_answer = i});
    ++(o.status == kPending ? facts.pending : facts.waitlisted);
  }
  auto& regs = follower.regs();
  const int64_t expected = facts.pending + facts.waitlisted;

  try {
    pqxx::connection conn(options.pg_url);

    // 1. Every registration's email.
    auto delivered = [&] {
      int64_t n = 0;
      for (const auto& [id, reg] : regs) {
        auto it = reg.messages.find(ExpectedKind(reg.status));
        if (it != reg.messages.end() && !it->second.empty()) ++n;
      }
      facts.delivered = n;
      return n == expected;
    };
    facts.all_delivered = follower.WaitUntil(
        conn, ScaledDeadline(options.mail_deadline, expected), delivered);
    facts.delivery_seconds = SecondsSince(since_run_end);
    if (facts.delivery_seconds > 0)
      facts.delivered_per_s =
          static_cast<double>(facts.delivered) / facts.delivery_seconds;

    // 2. Confirm a share of the PENDING ones with their message's token.
    std::vector<std::pair<size_t, std::string>> pending;  // (answer, id)
    for (const auto& [id, reg] : regs) {
      if (reg.status == kPending) pending.emplace_back(reg.first_answer, id);
    }
    std::sort(pending.begin(), pending.end());
    struct ToConfirm {
      std::string registration_id;
      std::string token;
    };
    std::vector<ToConfirm> to_confirm;
    for (size_t k : ConfirmShare(pending.size(), options.confirm_fraction)) {
      const std::string& id = pending[k].second;
      const Reg& reg = regs.at(id);
      auto it = reg.messages.find("confirmation");
      if (it == reg.messages.end() || it->second.empty())
        continue;  // missing: reported below
      const std::string token =
          TokenIn(follower.messages()[it->second.front()].mail.text);
      if (token.empty()) {
        Add(out, "confirmation_message_has_token",
            absl::StrCat("registration ", id, ": no #token= link in ",
                         follower.messages()[it->second.front()].mail.file));
        continue;
      }
      to_confirm.push_back({id, token});
    }
    struct Answer {
      grpc::Status status;
      v1::Registration registration;
    };
    std::vector<Answer> answers(to_confirm.size());
    auto stubs = std::make_shared<
        std::vector<std::unique_ptr<v1::ConfirmationService::Stub>>>();
    for (const auto& c : confirmation)
      stubs->push_back(v1::ConfirmationService::NewStub(c));
    const IssueFn issue = [&](int64_t i, std::function<void()> done) {
      struct Call {
        grpc::ClientContext context;
        v1::ConfirmRegistrationRequest request;
      };
      auto* call = new Call;
      call->context.set_deadline(std::chrono::system_clock::now() +
                                 options.call_deadline);
      call->request.set_token(to_confirm[static_cast<size_t>(i)].token);
      Answer& answer = answers[static_cast<size_t>(i)];
      auto& stub = *(*stubs)[static_cast<size_t>(i) % stubs->size()];
      stub.async()->ConfirmRegistration(
          &call->context, &call->request, &answer.registration,
          [call, &answer, done = std::move(done)](grpc::Status status) {
            answer.status = std::move(status);
            delete call;
            done();
          });
    };
    const RunClock clock;
    const std::vector<Timing> timings =
        RunClosedLoop(static_cast<int64_t>(to_confirm.size()),
                      std::max(1, options.clients), issue, clock);
    facts.confirm_seconds = static_cast<double>(clock.NowUs()) / 1e6;
    facts.confirm_calls = static_cast<int64_t>(to_confirm.size());
    for (size_t i = 0; i < to_confirm.size(); ++i) {
      const Answer& a = answers[i];
      facts.confirm_latency.Record(timings[i].latency_us());
      ++facts.confirm_codes[CodeName(a.status.error_code())];
      const std::string& id = to_confirm[i].registration_id;
      if (!a.status.ok()) {
        Add(out, "token_confirms_its_registration",
            absl::StrCat("registration ", id, ": ConfirmRegistration ",
                         CodeName(a.status.error_code()), " ",
                         a.status.error_message()));
      } else if (a.registration.id() != id ||
                 a.registration.status() != kConfirmed ||
                 a.registration.ticket_code().empty()) {
        Add(out, "token_confirms_its_registration",
            absl::StrCat(
                "registration ", id, "'s token answered ", a.registration.id(),
                " status ", a.registration.status(), " ticket code ",
                a.registration.ticket_code().empty() ? "empty" : "set"));
      } else {
        ++facts.confirmed;
        confirmed_ids.push_back(id);
      }
    }

    // 3. Postgres agrees: exactly those are CONFIRMED.
    {
      pqxx::read_transaction tx(conn);
      facts.confirmed_stored =
          tx.exec_params(
                "SELECT count(*) FROM registration.registrations "
                "WHERE event_id = $1 AND status = 2",
                options.event_id)[0][0]
              .as<int64_t>();
    }
    if (facts.confirmed_stored != facts.confirmed) {
      Add(out, "confirmed_count_stored",
          absl::StrCat(facts.confirmed, " confirmed, ", facts.confirmed_stored,
                       " CONFIRMED rows stored"));
    }

    // 4. Optionally each confirmed one's ticket.
    if (options.wait_tickets) {
      facts.tickets_checked = true;
      const auto start = std::chrono::steady_clock::now();
      follower.WaitUntil(
          conn,
          ScaledDeadline(options.mail_deadline,
                         static_cast<int64_t>(confirmed_ids.size())),
          [&] {
            int64_t n = 0;
            for (const std::string& id : confirmed_ids) {
              auto it = regs.at(id).messages.find("ticket");
              if (it != regs.at(id).messages.end() && !it->second.empty()) ++n;
            }
            facts.tickets_delivered = n;
            return n == static_cast<int64_t>(confirmed_ids.size());
          });
      facts.ticket_seconds = SecondsSince(start);
    } else {
      follower.Poll(conn);  // late duplicates, for the checks below
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("following the confirmation emails: ", e.what()));
  }

  // 5. The messages, as they are now.
  const std::vector<Message>& messages = follower.messages();
  facts.messages = static_cast<int64_t>(messages.size());
  std::map<std::string, int64_t> files_per_id;
  for (const Message& m : messages) ++files_per_id[m.mail.message_id];
  for (const auto& [id, n] : files_per_id) {
    if (n > 1) {
      Add(out, "message_id_once",
          absl::StrCat("Message-ID <", id, "> in ", n, " files"));
    }
  }
  std::set<std::string> confirmed_set(confirmed_ids.begin(),
                                      confirmed_ids.end());
  for (const auto& [id, reg] : regs) {
    for (const char* kind : {"confirmation", "waitlist", "ticket"}) {
      auto it = reg.messages.find(kind);
      const size_t n = it == reg.messages.end() ? 0 : it->second.size();
      const bool wanted =
          kind == std::string(ExpectedKind(reg.status)) ||
          (kind == std::string("ticket") && confirmed_set.count(id) > 0);
      if (n > 1) {
        Add(out, absl::StrCat(kind, "_message_once"),
            absl::StrCat("registration ", id, ": ", n, " ", kind, " messages"));
      }
      if (!wanted && n > 0) {
        Add(out, "message_kind_matches_status",
            absl::StrCat("registration ", id, " (told status ", reg.status,
                         ") got ", n, " ", kind, " message(s)"));
      }
      if (wanted && n == 0 &&
          (kind != std::string("ticket") || options.wait_tickets)) {
        Add(out, absl::StrCat(kind, "_message_delivered"),
            absl::StrCat("registration ", id, ": no ", kind,
                         " message in the Maildir"));
      }
    }
  }
  for (const Message& m : messages) {
    if (m.kind.empty()) {
      Add(out, "message_has_outbox_row",
          absl::StrCat("Message-ID <", m.mail.message_id, ">: no outbox row (",
                       m.mail.file, ")"));
      continue;
    }
    auto reg = regs.find(m.registration_id);
    if (reg == regs.end()) {
      // A registration the run was not told about: only possible for calls
      // that went unanswered (stored, answer lost).
      if (all_answered) {
        Add(out, "message_for_acknowledged_registration",
            absl::StrCat("Message-ID <", m.mail.message_id, "> (", m.kind,
                         ") for registration ", m.registration_id,
                         " that no answer named"));
      }
    } else if (m.mail.to != reg->second.email) {
      Add(out, "message_to_its_registration",
          absl::StrCat("Message-ID <", m.mail.message_id, "> (", m.kind,
                       ") of registration ", m.registration_id,
                       " not addressed to its attendee"));
    }
  }
  return absl::OkStatus();
}

}  // namespace admit::loadtest
