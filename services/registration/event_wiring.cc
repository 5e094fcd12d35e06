#include "services/registration/event_wiring.h"

#include <utility>

#include "common/log/log.h"
#include "services/registration/api_key_store.h"

namespace admit::registration {

EventCacheOptions EventSettings::cache_options() const {
  EventCacheOptions options;
  options.ttl = event_cache_ttl;
  options.negative_ttl = event_cache_negative_ttl;
  options.max_entries = static_cast<size_t>(event_cache_max_entries);
  return options;
}

ApiKeyCacheOptions EventSettings::api_key_options() const {
  return ApiKeyCacheOptions{api_key_refresh_interval, api_key_max_staleness};
}

OrganizerServiceOptions EventSettings::organizer_options() const {
  return OrganizerServiceOptions{set_quotas_timeout};
}

void AddEventSettings(config::Settings& settings, EventSettings* out) {
  const EventSettings defaults;
  settings.AddDuration(
      "ADMIT_EVENT_CACHE_TTL", defaults.event_cache_ttl,
      "How long Register uses an event's settings before reading them from "
      "Postgres again (an organizer's change reaches Register within this).",
      &out->event_cache_ttl);
  settings.AddDuration(
      "ADMIT_EVENT_CACHE_NEGATIVE_TTL", defaults.event_cache_negative_ttl,
      "How long \"no such event\" is remembered (a new event may be refused "
      "by other replicas for this long).",
      &out->event_cache_negative_ttl);
  settings.AddInt("ADMIT_EVENT_CACHE_MAX_ENTRIES",
                  defaults.event_cache_max_entries,
                  "Most event ids the event cache holds (the oldest are "
                  "dropped first).",
                  &out->event_cache_max_entries, 1, 10000000);
  settings.AddDuration(
      "ADMIT_API_KEY_REFRESH_INTERVAL", defaults.api_key_refresh_interval,
      "Pause between reloads of the API keys: a new or revoked key takes "
      "effect on every replica within this.",
      &out->api_key_refresh_interval);
  settings.AddDuration(
      "ADMIT_API_KEY_MAX_STALENESS", defaults.api_key_max_staleness,
      "While the API keys cannot be reloaded, the last loaded ones are used "
      "this long; then stored keys get UNAVAILABLE.",
      &out->api_key_max_staleness);
  settings.AddString(
      "ADMIT_BOOTSTRAP_ADMIN_KEY", "",
      "An admin API key accepted without being stored (admit_<id>_<secret>; "
      "`admit-registration keys bootstrap` prints one), so a fresh install "
      "can create events. Empty: none.",
      &out->bootstrap_admin_key);
  settings.AddDuration(
      "ADMIT_SET_QUOTAS_TIMEOUT", defaults.set_quotas_timeout,
      "Deadline of the QuotaService.SetQuotas call CreateEvent makes.",
      &out->set_quotas_timeout);
}

absl::StatusOr<std::unique_ptr<EventComponents>> EventComponents::Create(
    pg::Pool* pool, v1::QuotaService::StubInterface* quota,
    EventSettings& settings) {
  auto bootstrap = ParseBootstrapKey(settings.bootstrap_admin_key);
  if (!bootstrap.ok()) return bootstrap.status();
  std::unique_ptr<EventComponents> c(new EventComponents());
  c->store_ = std::make_unique<EventStore>(pool);
  c->cache_ = std::make_unique<EventCache>(LoadFromStore(c->store_.get()),
                                           settings.cache_options());
  c->keys_ = std::make_unique<ApiKeyAuthenticator>(
      [pool] { return LoadActiveApiKeys(*pool); }, std::move(*bootstrap),
      settings.api_key_options());
  if (absl::Status s = c->keys_->Refresh(); !s.ok()) return s;
  c->keys_->Start();
  c->organizer_ = std::make_unique<OrganizerService>(
      c->store_.get(), c->keys_.get(), quota, c->cache_.get(),
      settings.organizer_options());
  return c;
}

EventComponents::~EventComponents() {
  Stop();
  organizer_.reset();
  keys_.reset();
  cache_.reset();
  store_.reset();
}

void EventComponents::Stop() {
  if (keys_) keys_->Stop();
}

}  // namespace admit::registration
