#include "services/registration/api_keys.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/ratelimit/limiter.h"

namespace admit::registration {
namespace {

constexpr char kBootstrapVariable[] = "ADMIT_BOOTSTRAP_ADMIN_KEY";

bool IsSpace(char c) {
  return absl::ascii_isspace(static_cast<unsigned char>(c));
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// The key in "Bearer <key>" (scheme case-insensitive, RFC 7235), or nullopt.
std::optional<std::string_view> BearerToken(std::string_view header) {
  header = Trim(header);
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size() || !IsSpace(header[kScheme.size()])) {
    return std::nullopt;
  }
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(header[i])) !=
        kScheme[i]) {
      return std::nullopt;
    }
  }
  std::string_view token = Trim(header.substr(kScheme.size()));
  if (token.empty()) return std::nullopt;
  return token;
}

Caller CallerOf(const ApiKeyRecord& key) {
  return Caller{key.id, key.scope, key.read_only, key.event_ids};
}

}  // namespace

absl::StatusOr<std::optional<ApiKeyRecord>> ParseBootstrapKey(
    std::string& value) {
  std::optional<KeyParts> parts;
  const std::string_view trimmed = Trim(value);
  const bool empty = trimmed.empty();
  if (!empty) parts = ParseApiKey(trimmed);
  std::fill(value.begin(), value.end(), '\0');
  value.clear();
  if (empty) return std::optional<ApiKeyRecord>();
  if (!parts) {
    return absl::InvalidArgumentError(absl::StrCat(
        kBootstrapVariable,
        ": not a well-formed API key (admit_<id>_<secret>: id 1-32 of "
        "[a-z0-9], secret 22 base64url characters; `admit-registration keys "
        "bootstrap` prints one)"));
  }
  ApiKeyRecord record;
  record.id = parts->id;
  record.secret_hash = HashSecret(parts->secret);
  std::fill(parts->secret.begin(), parts->secret.end(), '\0');
  record.scope = KeyScope::kAdmin;
  record.name = "bootstrap admin key (ADMIT_BOOTSTRAP_ADMIN_KEY)";
  return std::optional<ApiKeyRecord>(std::move(record));
}

ApiKeyAuthenticator::ApiKeyAuthenticator(Loader loader,
                                         std::optional<ApiKeyRecord> bootstrap,
                                         ApiKeyCacheOptions options,
                                         Clock clock)
    : loader_(std::move(loader)),
      bootstrap_(std::move(bootstrap)),
      options_(options),
      clock_(std::move(clock)) {}

ApiKeyAuthenticator::~ApiKeyAuthenticator() { Stop(); }

absl::Status ApiKeyAuthenticator::Refresh() {
  absl::StatusOr<std::vector<ApiKeyRecord>> loaded = loader_();
  if (!loaded.ok()) return loaded.status();
  auto keys = std::make_shared<KeyMap>();
  for (ApiKeyRecord& key : *loaded) {
    if (key.revoked_at.has_value()) continue;
    std::string id = key.id;
    keys->emplace(std::move(id), std::move(key));
  }
  std::lock_guard<std::mutex> lock(mu_);
  keys_ = std::move(keys);
  loaded_at_ = clock_();
  return absl::OkStatus();
}

void ApiKeyAuthenticator::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (refresher_.joinable() || stop_) return;
  refresher_ = std::thread([this] { RefreshLoop(); });
}

void ApiKeyAuthenticator::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

void ApiKeyAuthenticator::RefreshLoop() {
  bool failing = false;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stop_cv_.wait_for(lock, options_.refresh_interval,
                            [this] { return stop_; })) {
        return;
      }
    }
    absl::Status status = Refresh();
    if (!status.ok() && !failing) {
      log::Warn("cannot reload API keys; using the last loaded set",
                {{"error", status.ToString()}});
    } else if (status.ok() && failing) {
      log::Info("API keys reloaded again");
    }
    failing = !status.ok();
  }
}

absl::StatusOr<Caller> ApiKeyAuthenticator::Authenticate(
    std::optional<std::string_view> authorization) const {
  if (!authorization.has_value()) {
    return ApiKeyInvalidError("no API key");
  }
  std::optional<std::string_view> token = BearerToken(*authorization);
  if (!token)
    return ApiKeyInvalidError("the authorization is not a bearer key");
  std::optional<KeyParts> parts = ParseApiKey(*token);
  if (!parts) return ApiKeyInvalidError("malformed API key");

  if (bootstrap_.has_value() && parts->id == bootstrap_->id) {
    if (!SecretMatches(*bootstrap_, parts->secret)) {
      log::Debug("API key rejected", {{"key_id", parts->id}});
      return ApiKeyInvalidError("unknown or revoked API key");
    }
    return CallerOf(*bootstrap_);
  }

  std::shared_ptr<const KeyMap> keys;
  absl::Time loaded_at;
  {
    std::lock_guard<std::mutex> lock(mu_);
    keys = keys_;
    loaded_at = loaded_at_;
  }
  if (keys == nullptr ||
      clock_() - loaded_at > absl::FromChrono(options_.max_staleness)) {
    return absl::UnavailableError(
        "API keys cannot be checked: the key store is unreachable; retry");
  }
  auto it = keys->find(parts->id);
  if (it == keys->end() || !SecretMatches(it->second, parts->secret)) {
    log::Debug("API key rejected", {{"key_id", parts->id}});
    return ApiKeyInvalidError("unknown or revoked API key");
  }
  return CallerOf(it->second);
}

absl::StatusOr<Caller> ApiKeyAuthenticator::Authenticate(
    const grpc::ServerContextBase& context) const {
  const auto& metadata = context.client_metadata();
  auto [begin, end] = metadata.equal_range("authorization");
  if (begin == end) return Authenticate(std::nullopt);
  if (std::next(begin) != end) {
    return ApiKeyInvalidError("more than one authorization entry");
  }
  absl::StatusOr<Caller> caller = Authenticate(
      std::string_view(begin->second.data(), begin->second.size()));
  if (!caller.ok() || limiter_ == nullptr) return caller;
  if (absl::Status admitted = Admit(caller->key_id); !admitted.ok()) {
    return admitted;
  }
  return caller;
}

absl::Status ApiKeyAuthenticator::Admit(const std::string& key_id) const {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(verdicts_mu_);
    auto it = refusals_.find(key_id);
    if (it != refusals_.end()) {
      if (now < it->second.until) {
        if (it->second.unavailable) {
          return absl::UnavailableError(
              "rate limiting is unavailable and policy api_key fails closed; "
              "retry");
        }
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(
            it->second.until - now);
        limiter_->CountRefusal("api_key");
        return ratelimit::RateLimited("api_key", left);
      }
      refusals_.erase(it);
    }
  }
  // The verdict lands before the key's next call in practice (one Redis
  // round trip); this call proceeds (see api_keys.h).
  limiter_->Check(
      {{"api_key", key_id}}, [this, key_id](ratelimit::Decision decision) {
        if (decision.status.ok()) return;
        const auto at = std::chrono::steady_clock::now();
        const bool unavailable =
            decision.status.code() == absl::StatusCode::kUnavailable;
        std::lock_guard<std::mutex> lock(verdicts_mu_);
        refusals_[key_id] = Refusal{unavailable ? at + std::chrono::seconds(1)
                                                : at + decision.retry_after,
                                    unavailable};
      });
  return absl::OkStatus();
}

}  // namespace admit::registration
