#include "common/ratelimit/gcra_script.h"

#include "absl/status/status.h"

namespace admit::ratelimit {

namespace {

// Redis >= 5 replicates scripts by their effects, which is what makes
// reading TIME in a script that writes legal; Debian 12 ships Redis 7.
constexpr char kSource[] = R"lua(
local key = KEYS[1]
local t = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local mode = ARGV[4]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local stored = tonumber(redis.call('GET', key))
local tat = stored or now
if tat < now then tat = now end
if mode == 'refund' then
  if stored == nil then return {1, 0, burst} end
  local back = tat - cost * t
  if back <= now then
    redis.call('DEL', key)
    return {1, 0, burst}
  end
  redis.call('SET', key, string.format('%d', back), 'PX',
             math.ceil((back - now) / 1000))
  return {1, 0, math.floor((now - (back - burst * t)) / t)}
end
local new_tat = tat + cost * t
local allow_at = new_tat - burst * t
if allow_at > now then
  return {0, math.ceil((allow_at - now) / 1000), 0}
end
redis.call('SET', key, string.format('%d', new_tat), 'PX',
           math.ceil((new_tat - now) / 1000))
return {1, 0, math.floor((now - allow_at) / t)}
)lua";

}  // namespace

const redis::Script& GcraScript() {
  static const auto* script = new redis::Script(kSource);
  return *script;
}

absl::StatusOr<GcraResult> ParseGcraReply(
    const absl::StatusOr<redis::Reply>& reply) {
  auto elements = redis::AsArray(reply);
  if (!elements.ok()) return elements.status();
  if (elements->size() != 3 || !(*elements)[0].is_integer() ||
      !(*elements)[1].is_integer() || !(*elements)[2].is_integer()) {
    return absl::InternalError("ratelimit: unexpected GCRA script reply");
  }
  GcraResult r;
  r.allowed = (*elements)[0].integer() == 1;
  r.retry_after = std::chrono::milliseconds((*elements)[1].integer());
  r.remaining = (*elements)[2].integer();
  return r;
}

}  // namespace admit::ratelimit
