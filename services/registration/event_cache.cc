#include "services/registration/event_cache.h"

#include <utility>

namespace admit::registration {

EventCache::Loader LoadFromStore(EventStore* store) {
  return [store](const std::string& event_id, EventSource::Callback done) {
    store->Get(event_id, std::move(done));
  };
}

}  // namespace admit::registration
