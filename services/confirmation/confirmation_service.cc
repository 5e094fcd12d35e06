#include "services/confirmation/confirmation_service.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto/token.h"
#include "common/log/log.h"
#include "common/ratelimit/service_wiring.h"
#include "common/server/guard.h"
#include "common/status/status.h"
#include "pqxx/binarystring"
#include "pqxx/transaction"

namespace admit::confirmation {
namespace {

// What confirmation.tokens says about a presented token.
struct TokenState {
  std::string registration_id;
  bool used = false;
  bool expired = false;  // expires_at <= now(), by the database's clock
  bool current = false;  // newest of its registration, not below the floor
};

absl::Status TokenNotFoundError() {
  return WithErrorInfo(
      absl::NotFoundError("unknown confirmation token, or one replaced by a "
                          "newer email: use the link in the latest email"),
      "TOKEN_NOT_FOUND");
}

absl::Status ExpiredError() {
  return WithErrorInfo(
      absl::FailedPreconditionError(
          "the seat was held until the confirmation deadline, which has "
          "passed; register again"),
      "REGISTRATION_EXPIRED");
}

// registration_id as Register returns it: 1-64 of [0-9a-z-].
bool IsRegistrationId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-')) {
      return false;
    }
  }
  return true;
}

// UNKNOWN and ABORTED from the pool mean "retry" to a client; INTERNAL is
// logged (a bug), the rest passes as is.
grpc::Status ToRpcStatus(const absl::Status& status, std::string_view method) {
  if (status.code() == absl::StatusCode::kUnknown ||
      status.code() == absl::StatusCode::kAborted) {
    return ToGrpcStatus(absl::UnavailableError(
        absl::StrCat("temporary failure (", status.message(), "); retry")));
  }
  if (status.code() == absl::StatusCode::kInternal) {
    log::Error("internal error",
               {{"method", method}, {"error", std::string(status.message())}});
  }
  return ToGrpcStatus(status);
}

// Every RPC: validation on the gRPC thread, work handed off (guard.h).
template <typename Start>
grpc::ServerUnaryReactor* Handle(grpc::CallbackServerContext* context,
                                 std::string_view method, Start start) {
  return server::HandOffUnary(context, method, ToRpcStatus, std::move(start));
}

absl::StatusOr<std::optional<TokenState>> LookUpToken(
    pqxx::work& tx, const std::string& token_hash) {
  pqxx::result r = tx.exec_params(
      "SELECT t.registration_id, t.used_at IS NOT NULL, "
      "t.expires_at <= now(), "
      "t.outbox_id >= COALESCE(f.min_outbox_id, 0) AND NOT EXISTS ("
      "  SELECT 1 FROM confirmation.tokens n "
      "  WHERE n.registration_id = t.registration_id "
      "    AND n.outbox_id > t.outbox_id) "
      "FROM confirmation.tokens t "
      "LEFT JOIN confirmation.token_floors f USING (registration_id) "
      "WHERE t.token_hash = $1",
      pqxx::binarystring(token_hash.data(), token_hash.size()));
  if (r.empty()) return std::nullopt;
  TokenState state;
  state.registration_id = r[0][0].as<std::string>();
  state.used = r[0][1].as<bool>();
  state.expired = r[0][2].as<bool>();
  state.current = r[0][3].as<bool>();
  return state;
}

}  // namespace

ConfirmationServiceImpl::ConfirmationServiceImpl(
    pg::Pool* pool, LifecycleClient* lifecycle, TicketCoder tickets,
    ConfirmationServiceOptions options)
    : pool_(pool),
      lifecycle_(lifecycle),
      tickets_(std::move(tickets)),
      options_(options),
      limiter_(options.limiter) {}

grpc::ServerUnaryReactor* ConfirmationServiceImpl::ConfirmRegistration(
    grpc::CallbackServerContext* context,
    const v1::ConfirmRegistrationRequest* request, v1::Registration* response) {
  static constexpr std::string_view kMethod = "ConfirmRegistration";
  return Handle(
      context, kMethod,
      [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) -> absl::Status {
        const std::string& token = request->token();
        if (token.empty()) {
          return WithErrorInfo(InvalidArgumentError({{"token", "required"}}),
                               "INVALID_FIELDS");
        }
        if (!crypto::IsWellFormedToken(token)) {
          return WithErrorInfo(
              InvalidArgumentError(
                  {{"token",
                    "not a token from a confirmation email (copy the "
                    "whole link)"}}),
              "INVALID_FIELDS");
        }
        handed_off = true;
        ratelimit::AdmitThen(
            limiter_, {{"ip", ratelimit::ClientAddressOf(limiter_, *context)}},
            reactor, [this, reactor, request, response] {
              Confirm(reactor, request, response);
            });
        return absl::OkStatus();
      });
}

void ConfirmationServiceImpl::Confirm(
    grpc::ServerUnaryReactor* reactor,
    const v1::ConfirmRegistrationRequest* request, v1::Registration* response) {
  static constexpr std::string_view kMethod = "ConfirmRegistration";
  auto finish = [reactor](const absl::Status& status) {
    reactor->Finish(ToRpcStatus(status, kMethod));
  };
  std::string hash = crypto::TokenHash(request->token());
  pool_->Submit(
      pg::Transact([hash](pqxx::work& tx) { return LookUpToken(tx, hash); }),
      [this, finish, hash, response,
       reactor](absl::StatusOr<std::optional<TokenState>> found) {
        if (!found.ok()) return finish(found.status());
        if (!found->has_value()) return finish(TokenNotFoundError());
        const TokenState& state = **found;
        if (!state.used && !state.current) return finish(TokenNotFoundError());
        if (!state.used && state.expired) return finish(ExpiredError());
        v1::LifecycleConfirmRequest confirm;
        confirm.set_registration_id(state.registration_id);
        confirm.set_ticket_code(tickets_.CodeFor(state.registration_id));
        lifecycle_->ConfirmRegistration(
            std::move(confirm),
            [this, finish, hash, response,
             reactor](absl::StatusOr<v1::Registration> confirmed) {
              if (!confirmed.ok()) {
                // The token was valid, so a missing registration means it
                // was erased: the same answer as an unknown token.
                if (confirmed.status().code() == absl::StatusCode::kNotFound) {
                  return finish(TokenNotFoundError());
                }
                return finish(confirmed.status());
              }
              *response = *std::move(confirmed);
              // Marking the token used is bookkeeping (it lets an expired
              // but used token still show the ticket); the confirmation
              // itself is already committed, so a failure here is logged
              // and the attendee still gets OK.
              pool_->Submit(
                  pg::Transact([hash](pqxx::work& tx) -> absl::Status {
                    tx.exec_params(
                        "UPDATE confirmation.tokens SET used_at = now() "
                        "WHERE token_hash = $1 AND used_at IS NULL",
                        pqxx::binarystring(hash.data(), hash.size()));
                    return absl::OkStatus();
                  }),
                  [reactor](absl::Status marked) {
                    if (!marked.ok()) {
                      log::Warn("cannot mark a confirmation token used",
                                {{"error", marked.ToString()}});
                    }
                    reactor->Finish(grpc::Status::OK);
                  });
            });
      });
}

grpc::ServerUnaryReactor* ConfirmationServiceImpl::ResendConfirmation(
    grpc::CallbackServerContext* context,
    const v1::ResendConfirmationRequest* request,
    v1::ResendConfirmationResponse* response) {
  static constexpr std::string_view kMethod = "ResendConfirmation";
  return Handle(
      context, kMethod,
      [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) -> absl::Status {
        std::vector<FieldViolation> violations;
        if (request->registration_id().empty()) {
          violations.push_back({"registration_id", "required"});
        } else if (!IsRegistrationId(request->registration_id())) {
          violations.push_back({"registration_id",
                                "not a registration id returned by Register"});
        }
        if (request->manage_token().empty()) {
          violations.push_back({"manage_token", "required"});
        } else if (!crypto::IsWellFormedToken(request->manage_token())) {
          violations.push_back(
              {"manage_token", "not a manage token returned by Register"});
        }
        if (!violations.empty()) {
          return WithErrorInfo(InvalidArgumentError(std::move(violations)),
                               "INVALID_FIELDS");
        }
        handed_off = true;
        std::vector<ratelimit::Subject> subjects;
        if (limiter_ != nullptr) {
          subjects = {{"ip", ratelimit::ClientAddressOf(limiter_, *context)},
                      {"resend", request->registration_id()}};
        }
        ratelimit::AdmitThen(limiter_, std::move(subjects), reactor,
                             [this, reactor, request, response] {
                               Resend(reactor, request, response);
                             });
        return absl::OkStatus();
      });
}

void ConfirmationServiceImpl::Resend(
    grpc::ServerUnaryReactor* reactor,
    const v1::ResendConfirmationRequest* request,
    v1::ResendConfirmationResponse* response) {
  static constexpr std::string_view kMethod = "ResendConfirmation";
  auto finish = [reactor](const absl::Status& status) {
    reactor->Finish(ToRpcStatus(status, kMethod));
  };
  v1::QueueConfirmationEmailRequest queue;
  queue.set_registration_id(request->registration_id());
  queue.set_manage_token(request->manage_token());
  queue.set_max_per_hour(options_.resends_per_hour);
  lifecycle_->QueueConfirmationEmail(
      std::move(queue),
      [this, finish,
       response](absl::StatusOr<v1::QueueConfirmationEmailResponse> queued) {
        if (!queued.ok()) return finish(queued.status());
        const std::string registration_id = queued->registration().id();
        const int64_t outbox_id = queued->outbox_id();
        *response->mutable_registration() = queued->registration();
        *response->mutable_queued_at() = queued->queued_at();
        pool_->Submit(pg::Transact([registration_id,
                                    outbox_id](pqxx::work& tx) -> absl::Status {
                        tx.exec_params(
                            "INSERT INTO confirmation.token_floors AS f "
                            "(registration_id, min_outbox_id) VALUES ($1, $2) "
                            "ON CONFLICT (registration_id) DO UPDATE SET "
                            "min_outbox_id = GREATEST(f.min_outbox_id, "
                            "EXCLUDED.min_outbox_id)",
                            registration_id, outbox_id);
                        return absl::OkStatus();
                      }),
                      [finish](absl::Status floored) {
                        if (!floored.ok()) {
                          // The new email is queued but older links still work:
                          // ask for a retry (which may send one more email).
                          return finish(absl::UnavailableError(
                              "the new email is queued, but "
                              "earlier links could not "
                              "be revoked yet; retry"));
                        }
                        finish(absl::OkStatus());
                      });
      });
}

}  // namespace admit::confirmation
