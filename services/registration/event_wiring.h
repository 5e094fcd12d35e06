// What main() needs for the event part of the registration service: its
// settings and its components (event store and cache, API keys,
// OrganizerService), built in the right order.
//
//   registration::EventSettings event_settings;
//   registration::AddEventSettings(settings, &event_settings);
//   config::LoadOrExit(settings, argc, argv);
//   ... migrations, pool, quota stub ...
//   auto events = registration::EventComponents::Create(
//       pool.get(), quota_stub.get(), event_settings);
//   if (!events.ok()) { log; return 2 for INVALID_ARGUMENT, else 1; }
//   server.AddService(&(*events)->organizer_service());
//   server.AddStopHook("api keys", [&] { (*events)->Stop(); });
//   ... the Register flow reads events through (*events)->event_source().
#ifndef ADMIT_SERVICES_REGISTRATION_EVENT_WIRING_H_
#define ADMIT_SERVICES_REGISTRATION_EVENT_WIRING_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "admit/v1/quota.grpc.pb.h"
#include "common/config/config.h"
#include "common/pg/pool.h"
#include "services/registration/api_keys.h"
#include "services/registration/event_cache.h"
#include "services/registration/event_source.h"
#include "services/registration/event_store.h"
#include "services/registration/organizer_service.h"

namespace admit::registration {

struct EventSettings {
  std::chrono::milliseconds event_cache_ttl{1000};
  std::chrono::milliseconds event_cache_negative_ttl{1000};
  int64_t event_cache_max_entries = 10000;
  std::chrono::milliseconds api_key_refresh_interval{2000};
  std::chrono::milliseconds api_key_max_staleness{60000};
  std::string bootstrap_admin_key;  // the key itself; wiped by Create()
  std::chrono::milliseconds set_quotas_timeout{2000};

  EventCacheOptions cache_options() const;
  ApiKeyCacheOptions api_key_options() const;
  OrganizerServiceOptions organizer_options() const;
};

// Registers, with the defaults of EventSettings:
//   ADMIT_EVENT_CACHE_TTL, ADMIT_EVENT_CACHE_NEGATIVE_TTL,
//   ADMIT_EVENT_CACHE_MAX_ENTRIES, ADMIT_API_KEY_REFRESH_INTERVAL,
//   ADMIT_API_KEY_MAX_STALENESS, ADMIT_BOOTSTRAP_ADMIN_KEY,
//   ADMIT_SET_QUOTAS_TIMEOUT.
// `out` must outlive settings.Load().
void AddEventSettings(config::Settings& settings, EventSettings* out);

class EventComponents {
 public:
  // Parses the bootstrap key (INVALID_ARGUMENT naming
  // ADMIT_BOOTSTRAP_ADMIN_KEY when malformed; the key text in `settings` is
  // wiped either way), loads the API keys once (blocking: call from main;
  // the loader's error, e.g. UNAVAILABLE, when that fails) and starts their
  // refresher. `pool` and `quota` must outlive the components.
  static absl::StatusOr<std::unique_ptr<EventComponents>> Create(
      pg::Pool* pool, v1::QuotaService::StubInterface* quota,
      EventSettings& settings);

  // Stops the key refresher, then frees the service (waiting for its calls
  // in flight), the cache (waiting for its loads) and the store. Destroy
  // after the gRPC server has shut down and before the pool.
  ~EventComponents();

  // For the Register flow: events through the cache.
  EventSource& event_source() { return *cache_; }
  EventCache& event_cache() { return *cache_; }
  EventStore& event_store() { return *store_; }
  ApiKeyAuthenticator& api_keys() { return *keys_; }
  OrganizerService& organizer_service() { return *organizer_; }

  // Stops the API key refresher (a stop hook). Idempotent.
  void Stop();

 private:
  EventComponents() = default;

  std::unique_ptr<EventStore> store_;
  std::unique_ptr<EventCache> cache_;
  std::unique_ptr<ApiKeyAuthenticator> keys_;
  std::unique_ptr<OrganizerService> organizer_;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_EVENT_WIRING_H_
