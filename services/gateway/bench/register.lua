-- wrk script: POST /v1/events/EVENT/registrations through the gateway, each
-- request a new attendee (unique request_id and email), like
-- admit-loadtest's spike without retries/duplicates. Usage (bench.sh does it):
--   wrk -t2 -c64 -d20s --latency -s register.lua http://127.0.0.1:8080 -- EVENT_ID
-- Prints the count of each HTTP status at the end (only 200s are successes).
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  event = args[1]
  prefix = string.format("%d-%d-%d", os.time(), id, math.random(1000000))
  counter = 0
  statuses = {}
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"requestId":"%s-%d","ticketTypeId":"delegate","attendee":' ..
    '{"email":"wrk%s-%d@example.org","fullName":"Wrk Load","countryCode":"CH"}}',
    prefix, counter, prefix, counter)
  return wrk.format("POST", "/v1/events/" .. event .. "/registrations",
                    {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, n in pairs(s) do total[code] = (total[code] or 0) + n end
  end
  for code, n in pairs(total) do io.write(string.format("status %d: %d\n", code, n)) end
end
