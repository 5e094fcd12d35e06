#!/usr/bin/env bash
# The gateway's throughput next to the direct gRPC figure, on one running
# stack (the run command's), same event shape, same number of clients:
#   1. POST /v1/events/E/registrations through the gateway (wrk + register.lua)
#   2. RegistrationService.Register directly over gRPC (admit-loadtest spike)
#   3. GET /v1/events/E/availability through the gateway (wrk)
#
#   services/gateway/bench/bench.sh RUN_DIR BUILD_DIR [CLIENTS] [SECONDS]
#
# RUN_DIR is a running deploy/local/run.sh's directory (its endpoints.env has
# the addresses and the admin key); BUILD_DIR has admit-loadtest (Release).
# Start the stack with the rate limiter off, e.g.
#   ADMIT_RATE_LIMIT_ENABLED=false ADMIT_BUILD_DIR=build/release deploy/local/run.sh
# (every attempt comes from 127.0.0.1; the per-address policy would refuse them).
set -euo pipefail
run=${1:?usage: bench.sh RUN_DIR BUILD_DIR [CLIENTS] [SECONDS]}
build=${2:?usage: bench.sh RUN_DIR BUILD_DIR [CLIENTS] [SECONDS]}
clients=${3:-64}
seconds=${4:-20}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
source "$run/endpoints.env"
base=http://$ADMIT_GATEWAY_HTTP

event=gwbench-$(date +%s)
curl -sf -X POST "$base/v1/organizer/events" -H "Authorization: Bearer $ADMIT_BOOTSTRAP_ADMIN_KEY" \
  -H 'Content-Type: application/json' \
  -d "{\"id\":\"$event\",\"name\":\"Gateway bench\",\"timeZone\":\"UTC\",\"capacity\":1000000,
       \"startsAt\":\"2027-01-01T00:00:00Z\",\"endsAt\":\"2027-01-02T00:00:00Z\",
       \"ticketTypes\":[{\"id\":\"delegate\",\"name\":\"Delegate\"}]}" >/dev/null
echo "== gateway: POST registrations, $clients connections, ${seconds}s (event $event)"
wrk -t2 -c"$clients" -d"${seconds}s" --latency -s "$here/register.lua" "$base" -- "$event"
echo
echo "== direct gRPC: Register, $clients clients (admit-loadtest spike)"
"$build/loadtest/admit-loadtest" spike --endpoints "$run/endpoints.env" \
  --capacity 1000000 --attempts $((clients * 300)) --clients "$clients"
echo
echo "== gateway: GET availability, $clients connections, 10s"
wrk -t2 -c"$clients" -d10s --latency "$base/v1/events/$event/availability"
