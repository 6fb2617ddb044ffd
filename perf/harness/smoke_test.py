#!/usr/bin/env python3
"""perf-smoke: ringxfer-perf --tiny on echo and stream (a few seconds), then
checks results.json, results.csv and report.html.

usage: smoke_test.py BUILD/perf/ringxfer-perf BUILD/tools/ringxfer/ringxfer
Exit 77 (skip) when this kernel has no usable io_uring: the comparison needs it."""
import csv
import json
import os
import subprocess
import sys
import tempfile


def fail(why):
    print("FAIL: " + why)
    sys.exit(1)


def measured(row, key):
    """A number >= 0: server CPU comes in 10 ms clock ticks, and in the smoke
    run's 0.2 s window a server starved by a busy machine can read 0 ticks."""
    v = row.get(key)
    if not v or not isinstance(v.get("median"), (int, float)) or v["median"] < 0:
        fail(f"{row['subject']}: {key} is {v!r}, expected a measured value")


def positive(row, key):
    v = row.get(key)
    if not v or not isinstance(v.get("median"), (int, float)) or v["median"] <= 0:
        fail(f"{row['subject']}: {key} is {v!r}, expected a positive median")
    if not v["min"] <= v["median"] <= v["max"]:
        fail(f"{row['subject']}: {key}: median outside [min, max]: {v}")


def main():
    perf, ringxfer = sys.argv[1], sys.argv[2]
    probe = subprocess.run([ringxfer, "probe", "--json"], capture_output=True, text=True, timeout=30)
    if '"io_uring_usable": true' not in probe.stdout.replace('":true', '": true'):
        print("SKIP: io_uring is not usable here (ringxfer probe --json)")
        sys.exit(77)
    out = tempfile.mkdtemp(prefix="ringxfer-perf-smoke-")
    r = subprocess.run([perf, "--tiny", "--scenario", "echo,stream", "--repetitions", "1", "--out", out],
                       capture_output=True, text=True, timeout=120)
    print(r.stdout[-4000:])
    print(r.stderr[-2000:], file=sys.stderr)
    if r.returncode != 0:
        fail(f"ringxfer-perf exited {r.returncode}")
    with open(os.path.join(out, "results.json")) as f:
        doc = json.load(f)
    for key in ("tool", "mode", "machine", "placement", "repetitions", "results", "command"):
        if key not in doc:
            fail(f"results.json has no {key}")
    if doc["mode"] != "tiny" or doc["repetitions"] != 1 or not doc["placement"]:
        fail(f"mode/repetitions/placement: {doc['mode']} {doc['repetitions']} {doc['placement']}")
    scenarios = {res["scenario"] for res in doc["results"]}
    if scenarios != {"echo", "stream"}:
        fail(f"scenarios {scenarios}, expected echo and stream")
    for res in doc["results"]:
        names = [row["subject"] for row in res["rows"]]
        if not any(n.startswith("ringxfer-io_uring") for n in names) or not any(n.startswith("asio-") for n in names):
            fail(f"{res['scenario']}: subjects {names} lack ringxfer-io_uring or an Asio peer")
        base = [row for row in res["rows"] if row["baseline"]]
        if len(base) != 1 or abs(base[0]["vs_ringxfer_epoll"] - 1.0) > 1e-9:
            fail(f"{res['scenario']}: the ringxfer-epoll baseline row is missing or not 1.0")
        for row in res["rows"]:
            if row["runs"] != 1:
                fail(f"{res['case']} {row['subject']}: {row['runs']} runs, expected 1 ({row['error']})")
            for key in ("throughput", "peak_rss_mib", "client_busy_ratio"):
                positive(row, key)
            if res["scenario"] == "echo":
                for key in ("latency_us_p50", "latency_us_p99", "latency_us_p999"):
                    positive(row, key)
                measured(row, "cpu_s_per_mop")
                if not row["latency_us_p50"]["median"] <= row["latency_us_p99"]["median"] <= row["latency_us_p999"]["median"]:
                    fail(f"echo {row['subject']}: percentiles out of order")
            else:
                measured(row, "cpu_s_per_gb")
            if row["family"] == "ringxfer":
                positive(row, "syscalls_per_op")
                if row["syscalls_per_op"].get("source") != "engine stats":
                    fail(f"{row['subject']}: syscalls_per_op source {row['syscalls_per_op'].get('source')}")
            if row["subject"].endswith("zerocopy"):
                zc = row.get("zc_copied_ratio")
                if not zc or not 0 <= zc["median"] <= 1:
                    fail(f"{row['subject']}: zc_copied_ratio {zc}")
    with open(os.path.join(out, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    if len(rows) != sum(len(res["rows"]) for res in doc["results"]) or "throughput_min" not in rows[0]:
        fail("results.csv: wrong row count or columns")
    with open(os.path.join(out, "report.html")) as f:
        page = f.read()
    if page.count("<svg") < 3 or "<script" in page or "src=" in page or "@import" in page or "url(" in page:
        fail("report.html: fewer than 3 inline SVG charts, or something external")
    print(f"ok: {len(rows)} rows in {out}")


if __name__ == "__main__":
    main()
