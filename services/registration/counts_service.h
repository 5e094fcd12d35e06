// OrganizerService.GetRegistrationCounts and WatchRegistrationCounts (issue
// 7). OrganizerService forwards both RPCs here (OrganizerService::SetCounts).
//
// GetRegistrationCounts: API key, validation, the event (EventSource: NOT_FOUND
// for an unknown event), then the event's counters (CountsStore: one indexed
// read of the counter rows, never a count of registrations) and the event's
// quotas (capacities and allotments: the quota service's GetUsage, through a
// per-replica cache of usage_ttl, 1 s, so the call normally costs the counter
// read alone; UpdateEvent and SetAllotment on this replica drop the cached
// usage at once via ForgetUsage). Remaining seats are computed from the
// counters of the same snapshot (capacity - pending - confirmed), so they
// always agree with the counts and as_of. Nothing blocks a gRPC thread. A
// failed read or GetUsage is UNAVAILABLE (retry).
//
// WatchRegistrationCounts: a ServerWriteReactor per stream, fed by one hub
// per replica (this object). The hub's thread, every tick (min_interval / 4,
// 5-250 ms):
//   1. polls, in ONE query for all watched events, each event's counter
//      version (CountsStore::Versions: sum of 16 rows per event);
//   2. for each event whose version moved (at most once per min_interval per
//      event), or that has a new watcher and moved since its last read, or
//      whose last read is older than recheck_interval (capacity changes do
//      not move the version), reads the counts, the usage (through the same
//      cache) and the event once
//      and builds one message, shared by every watcher (a new message only
//      when something but as_of differs);
//   3. offers the event's latest message to each of its watchers: a watcher
//      with no write in flight whose last message is older than its interval
//      (max(min_interval, request.min_interval)) starts a write of it; the
//      others get it on a later tick. A burst of changes thus becomes one
//      message per interval, the last one equal to the final counts, and a
//      slow client never queues more than one message.
//   4. every reauth_interval, re-checks each stream's API key: a revoked key
//      ends its streams with UNAUTHENTICATED.
// So thousands of watchers of one event cost one version poll per tick and
// one counts read per changed event per interval on this replica, not a
// query per watcher. The first message is sent as soon as the hub has
// fresh figures (next wake-up, which a new watcher triggers at once).
// If GetUsage fails the hub keeps the event's previous usage (or the
// event's settings) so counts keep flowing.
//
// Ends of a stream: the client cancels (its reactor is finished CANCELLED and
// removed from the hub in OnDone: nothing stays behind), the key is revoked
// (UNAUTHENTICATED), Stop() / the server's drain (UNAVAILABLE). Gauge
// admit_registration_watchers = streams registered with the hub now.
//
// Metrics (when a registry is given): admit_registration_watchers (gauge),
// admit_registration_watch_messages_total,
// admit_registration_counts_reads_total {source="get|watch"}.
//
// Thread safety: Get/Watch from any gRPC thread; Start/Stop from one thread.
// The destructor stops the hub and waits for calls in flight and for every
// stream's OnDone: destroy after the gRPC server has shut down. The store,
// event source, quota client and authenticator must outlive this object.
#ifndef ADMIT_SERVICES_REGISTRATION_COUNTS_SERVICE_H_
#define ADMIT_SERVICES_REGISTRATION_COUNTS_SERVICE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "admit/v1/organizer.grpc.pb.h"
#include "common/config/config.h"
#include "grpcpp/grpcpp.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "services/registration/api_keys.h"
#include "services/registration/counts_store.h"
#include "services/registration/event_source.h"
#include "services/registration/quota_client.h"
#include "services/registration/ttl_cache.h"

namespace admit::registration {

// One GetUsage answer, shared by the calls that reuse it.
using UsageSnapshot = std::shared_ptr<const v1::GetUsageResponse>;

struct CountsServiceOptions {
  // The floor of a watch stream's interval between two messages (and the
  // default); a request's min_interval above it is used instead.
  absl::Duration min_interval = absl::Milliseconds(500);
  // An event's counts and usage are read again after this long even when
  // the counter version did not move (capacity or allotment changes).
  absl::Duration recheck_interval = absl::Seconds(5);
  // How often each stream's API key is checked again.
  absl::Duration reauth_interval = absl::Seconds(1);
  // How long the hub waits for GetUsage.
  absl::Duration usage_timeout = absl::Seconds(2);
  // How long an event's GetUsage answer (capacities, allotments) is reused.
  std::chrono::milliseconds usage_ttl{1000};
  // Domain metrics; null = none.
  prometheus::Registry* metrics = nullptr;
};

// ADMIT_REGISTRATION_WATCH_MIN_INTERVAL into options->min_interval (a
// std::chrono value kept in *interval until Load). `interval` must outlive
// settings.Load().
void AddCountsSettings(config::Settings& settings,
                       std::chrono::milliseconds* interval);

class CountsService {
 public:
  CountsService(CountsStore* store, EventSource* events, QuotaClient* quota,
                const ApiKeyAuthenticator* keys,
                CountsServiceOptions options = {});
  ~CountsService();
  CountsService(const CountsService&) = delete;
  CountsService& operator=(const CountsService&) = delete;

  // Starts the hub's thread. Call once, before serving watches.
  void Start();
  // Ends every watch stream with UNAVAILABLE, refuses new ones the same way
  // and stops the hub's thread (a drain hook). Idempotent.
  void Stop();

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const v1::GetRegistrationCountsRequest* request,
                                v1::RegistrationCounts* response);
  grpc::ServerWriteReactor<v1::RegistrationCounts>* Watch(
      grpc::CallbackServerContext* context,
      const v1::WatchRegistrationCountsRequest* request);

  // Streams registered with the hub now.
  int64_t watchers() const;

  // Drops the cached usage of `event_id` (its capacities or allotments just
  // changed on this replica), so the next read asks the quota service.
  void ForgetUsage(const std::string& event_id);

 private:
  class Watcher;
  struct EventState;

  void HubLoop();
  void Tick();
  // Registers `w` (a ref is held by the caller) unless stopping (then ends
  // it UNAVAILABLE).
  void Add(Watcher* w);
  void Remove(Watcher* w);
  void CallStarted();
  void CallDone();

  CountsStore* const store_;
  EventSource* const events_;
  const ApiKeyAuthenticator* const keys_;
  const CountsServiceOptions options_;
  const absl::Duration tick_;
  TtlCache<UsageSnapshot> usage_cache_;

  prometheus::Gauge* watchers_gauge_ = nullptr;
  prometheus::Counter* messages_ = nullptr;
  prometheus::Counter* get_reads_ = nullptr;
  prometheus::Counter* watch_reads_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable cv_;       // hub: new watcher, stop
  std::condition_variable idle_cv_;  // destructor: calls and streams done
  std::map<std::string, std::unique_ptr<EventState>> events_by_id_;
  int64_t watcher_count_ = 0;
  int64_t calls_in_flight_ = 0;  // Gets + watch setups + live streams
  bool new_watchers_ = false;
  bool stopping_ = false;
  bool started_ = false;
  absl::Time last_reauth_ = absl::InfinitePast();
  std::thread hub_;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_COUNTS_SERVICE_H_
