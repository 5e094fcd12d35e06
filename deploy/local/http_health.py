#!/usr/bin/python3
"""HTTP health check from the shell, for the gateway's /healthz.

    http_health.py URL [--wait SECONDS] [--pid PID]

Prints the status code (or the connection error) and exits 0 only for 200.
With --wait, retries every 0.2 s until 200 or SECONDS have passed; with --pid,
gives up at once (exit 2) when that process is gone.
"""

import argparse
import os
import sys
import time
import urllib.error
import urllib.request


def check(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, str(response.status)
    except urllib.error.HTTPError as error:
        return error.code, str(error.code)
    except OSError as error:
        return None, str(error)


def alive(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:") and "Z" in line.split()[1:2]
                           for line in status)
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--wait", type=float, default=0)
    parser.add_argument("--pid", type=int)
    args = parser.parse_args()
    end = time.monotonic() + args.wait
    while True:
        code, text = check(args.url)
        if code == 200:
            print("200")
            return 0
        if args.pid and not alive(args.pid):
            print(f"process {args.pid} exited ({text})")
            return 2
        if time.monotonic() >= end:
            print(text)
            return 1
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
