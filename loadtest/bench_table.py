#!/usr/bin/python3
"""Prints bench.sh's table: admit's figures next to the machine's ceilings.

    loadtest/bench_table.py RESULTS_DIR

Reads ceilings.json, grpc-ceiling.json, spike.json, steady.json and, when
present, confirm.json (written by loadtest/bench.sh) and prints Markdown: the machine, the ceilings, each
scenario's figures and the ratios, and the issue's targets met or not.
"""
import datetime
import json
import os
import pathlib
import sys


def main():
    d = pathlib.Path(sys.argv[1])
    ceil = json.loads((d / "ceilings.json").read_text())
    grpc = json.loads((d / "grpc-ceiling.json").read_text())
    spike = json.loads((d / "spike.json").read_text())
    steady = json.loads((d / "steady.json").read_text())
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    pg = ceil["pgbench_one_row_insert_tps"]
    print(f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu}); admit, "
          f"Postgres 15 (synchronous_commit={ceil['synchronous_commit']}), Redis and the "
          "generator on the same machine; Release build.\n")
    print("| ceiling | figure |\n| --- | --- |")
    print(f"| pgbench, one-row INSERT per transaction, 32 clients | {pg:,.0f} TPS |")
    print(f"| redis-benchmark EVALSHA (INCR + EXPIRE), 50 clients | {ceil['redis_evalsha_ops']:,.0f} ops/s |")
    gl = grpc["latency_ms"]
    print(f"| gRPC unary (health Check), 64 clients, admit-loadtest | {grpc['answers_per_s']:,.0f} calls/s, "
          f"p99 {gl['p99']:.1f} ms |\n")

    print("| scenario | answers/s | OK/s | p50 ms | p99 ms | p99.9 ms | max ms | violations | unanswered |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, s in (("spike", spike), ("steady", steady)):
        c = s["config"]
        label = (f"spike: capacity {c['capacity']:,}, {c['attempts']:,} attempts, {c['clients']} clients"
                 if name == "spike" else
                 f"steady: capacity {c['capacity']:,}, {c['attempts']:,} attempts at {c['rate_per_s']:,.0f}/s")
        l = s["latency_ms"]
        print(f"| {label} | {s['answers_per_s']:,.0f} | {s['ok_per_s']:,.0f} | {l['p50']:.1f} | "
              f"{l['p99']:.1f} | {l['p99_9']:.1f} | {l['max']:.1f} | {len(s['violations'])} | "
              f"{s['unexpected']} |")
    print()
    r = spike["answers_per_s"]
    print("| ratio | value |\n| --- | --- |")
    print(f"| spike Register answers/s / pgbench one-row-insert TPS | {r / pg:.2f} (goal >= 1.0) |")
    print(f"| spike Register answers/s / gRPC health Check calls/s | {r / grpc['answers_per_s']:.2f} |")
    print(f"| steady offered rate / pgbench TPS | {steady['config']['rate_per_s'] / pg:.2f} |\n")

    confirm_path = d / "confirm.json"
    if confirm_path.exists():
        k = json.loads(confirm_path.read_text())
        f, c = k["confirmation"], k["config"]
        print("| follow-through (spike: capacity {:,}, {:,} attempts) | figure |\n| --- | --- |".format(
            c["capacity"], c["attempts"]))
        print(f"| emails in the Maildir (pending + waitlisted) | {f['delivered']:,} of "
              f"{f['pending'] + f['waitlisted']:,} in {f['delivery_seconds']:.1f} s after the last "
              f"answer: {f['delivered_per_s']:,.0f} messages/s |")
        cl = f["confirm_latency_ms"]
        print(f"| ConfirmRegistration with the mailed token | {f['confirmed']:,} of {f['confirm_calls']:,} "
              f"CONFIRMED, p50 {cl['p50']:.1f} ms, p99 {cl['p99']:.1f} ms |")
        if f.get("tickets_checked"):
            print(f"| ticket emails | {f['tickets_delivered']:,} in {f['ticket_seconds']:.1f} s |")
        print(f"| violations | {len(k['violations'])} |\n")

    procs = []
    for name, s in (("spike", spike), ("steady", steady)):
        for p, v in sorted(s["processes"].items()):
            if v.get("found"):
                procs.append(f"| {name} | {p} | {v['cpu_percent']:.0f}% | {v['peak_rss_kb'] / 1024:.0f} MiB |")
    if procs:
        print("| scenario | process (with children) | CPU (100% = one core) | peak RSS |")
        print("| --- | --- | --- | --- |")
        print("\n".join(procs) + "\n")

    sl = spike["latency_ms"]
    targets = [
        ("spike >= 5,000 registrations/s", r >= 5000, f"{r:,.0f}/s"),
        ("spike p99 <= 50 ms", sl["p99"] <= 50, f"{sl['p99']:.1f} ms"),
        ("spike zero violations", not spike["violations"], str(len(spike["violations"]))),
        ("steady p99 <= 100 ms", steady["latency_ms"]["p99"] <= 100, f"{steady['latency_ms']['p99']:.1f} ms"),
        ("steady zero violations", not steady["violations"], str(len(steady["violations"]))),
    ]
    print("| target | met | measured |\n| --- | --- | --- |")
    for name, ok, v in targets:
        print(f"| {name} | {'yes' if ok else '**no**'} | {v} |")


if __name__ == "__main__":
    main()
