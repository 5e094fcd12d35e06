#!/usr/bin/python3
"""grpc.health.v1 Check from the shell (Debian has no grpcurl).

    grpc_health.py HOST:PORT [--service NAME] [--wait SECONDS] [--pid PID]

Prints the serving status (SERVING, NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN, or
the RPC error) and exits 0 only for SERVING. With --wait, retries every 0.2 s
until SERVING or SECONDS have passed; with --pid, gives up at once (exit 2)
when that process is gone, so a server that crashed at start-up is reported
as such rather than as a timeout.

Needs only python3-grpcio (Debian ships no grpc_health module): the request and
response are two one-field messages, encoded by hand below.
"""

import argparse
import sys
import time

import grpc

STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def encode_request(service):
    # HealthCheckRequest { string service = 1; }
    data = service.encode()
    if not data:
        return b""
    assert len(data) < 128, "service name too long for this one-byte length"
    return b"\x0a" + bytes([len(data)]) + data


def read_varint(buf, pos):
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def decode_status(buf):
    # HealthCheckResponse { ServingStatus status = 1; }; unknown fields skipped.
    status, pos = 0, 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
            if field == 1:
                status = value
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError("bad wire type %d" % wire)
    return status


def pid_alive(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            state = next(l.split()[1] for l in f if l.startswith("State:"))
        return state not in ("Z", "X")
    except (OSError, StopIteration):
        return False


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("address")
    p.add_argument("--service", default="")
    p.add_argument("--wait", type=float, default=0)
    p.add_argument("--pid", type=int)
    args = p.parse_args()

    deadline = time.monotonic() + args.wait
    request = encode_request(args.service)
    with grpc.insecure_channel(args.address) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        while True:
            try:
                status = decode_status(check(request, timeout=1))
                result = STATUS_NAMES.get(status, str(status))
            except grpc.RpcError as e:
                result = "%s: %s" % (e.code().name, e.details())
            if result == "SERVING":
                print(result)
                return 0
            if args.pid and not pid_alive(args.pid):
                print("process %d exited (last answer: %s)" % (args.pid, result))
                return 2
            if time.monotonic() >= deadline:
                print(result)
                return 1
            time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
