"""ringxfer-perf command line: pick the scenarios, run them alternated, report."""
import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time

from . import report
from .measure import RunError, median_min_max
from .scenarios import SCENARIOS
from .subjects import Tools

METRICS = ("throughput", "latency_us_p50", "latency_us_p99", "latency_us_p999", "cpu_s_per_mop", "cpu_s_per_gb",
           "server_cpu_util", "syscalls_per_op", "peak_rss_mib", "zc_copied_ratio", "client_busy_ratio",
           "runqueue_wait_ratio")


class Settings:
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(prog="ringxfer-perf", description=(
        "Backends, strategies and peers side by side under the same neutral load "
        "(perf/README.md). Default: every scenario, full mode (<= 20 min)."))
    p.add_argument("--quick", action="store_true", help="a subset, about a minute")
    p.add_argument("--tiny", action="store_true", help="one small case per scenario, a second or two (the smoke test)")
    p.add_argument("--scenario", default="all",
                   help="comma list of: " + ", ".join(SCENARIOS) + " (default all)")
    p.add_argument("--backend", default="all", choices=("all", "io_uring", "epoll"),
                   help="io_uring or epoll: only that ringxfer backend, no peers (default all)")
    p.add_argument("--pin", default="split", choices=("split", "same", "none"),
                   help="split: server on CPU 0, load on CPU 1; same: both on CPU 0; none (default split)")
    p.add_argument("--repetitions", type=int, help="alternated rounds (default 3)")
    p.add_argument("--duration", type=float, help="measured seconds per run")
    p.add_argument("--warmup", type=float, help="warm-up seconds per run")
    p.add_argument("--http-load", default="auto", choices=("auto", "wrk", "neutral"),
                   help="auto: wrk when installed, else ringxfer-load-neutral get")
    p.add_argument("--strace", default="auto", choices=("auto", "on", "off"),
                   help="peers' syscalls per op by a separate strace -c pass (auto: full mode only)")
    p.add_argument("--out", help="write results.json, results.csv and report.html here")
    p.add_argument("--bin-ringxfer", required=True, help=argparse.SUPPRESS)
    p.add_argument("--bin-load", required=True, help=argparse.SUPPRESS)
    p.add_argument("--bin-peer-epoll", required=True, help=argparse.SUPPRESS)
    p.add_argument("--bin-peer-uring", required=True, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def placement(pin):
    cpus = sorted(os.sched_getaffinity(0))
    if pin == "none" or len(cpus) == 0:
        return None, None, "none (the scheduler places server and load)"
    if pin == "same" or len(cpus) == 1:
        return {cpus[0]}, {cpus[0]}, f"same (server and load on CPU {cpus[0]})"
    return {cpus[0]}, {cpus[1]}, f"split (server on CPU {cpus[0]}, load on CPU {cpus[1]})"


def machine():
    def first(path, key):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(key):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"
    load = os.getloadavg()
    return {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "kernel": platform.release(), "cpu": first("/proc/cpuinfo", "model name"), "cpus": os.cpu_count(),
            "loadavg_at_start": [round(x, 2) for x in load]}


def user_args(argv):
    """The command line as the user gave it: without the launcher's --bin-* paths."""
    out, skip = [], False
    for x in argv:
        if skip:
            skip = False
        elif x.startswith("--bin-"):
            skip = "=" not in x
        else:
            out.append(x)
    return out


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    s = Settings()
    s.quick, s.tiny = a.quick, a.tiny
    s.full = not (a.quick or a.tiny)
    s.reps = a.repetitions or (1 if a.tiny else 3)
    s.warmup_s = a.warmup if a.warmup is not None else (0.1 if a.tiny else 0.2 if a.quick else 0.4)
    s.duration_s = a.duration if a.duration is not None else (0.2 if a.tiny else 0.4 if a.quick else 1.2)
    s.backend = a.backend
    s.http_load = a.http_load
    s.strace = a.strace == "on" or (a.strace == "auto" and s.full)
    s.server_cpus, s.load_cpus, s.pin_text = placement(a.pin)
    s.tools = Tools(a.bin_ringxfer, a.bin_load, a.bin_peer_epoll, a.bin_peer_uring)
    s.workdir = tempfile.mkdtemp(prefix="ringxfer-perf-")
    os.chmod(s.workdir, 0o755)  # nginx's worker runs as another user
    names = list(SCENARIOS) if a.scenario == "all" else [n.strip() for n in a.scenario.split(",")]
    for n in names:
        if n not in SCENARIOS:
            print(f"ringxfer-perf: unknown scenario '{n}' (choose from {', '.join(SCENARIOS)})", file=sys.stderr)
            return 2
    notes = []
    if "http" in names and not s.tools.has_serve:
        notes.append("http: this ringxfer has no `serve` subcommand: only the peers ran")
    if s.full:
        for tool, what in (("nginx", "http"), ("haproxy", "proxy"), ("iperf3", "stream"), ("wrk", "http load")):
            if not getattr(s.tools, tool):
                notes.append(f"{tool} is not installed: no {tool} in {what} (tools/dev bench --full installs it)")
    cases = [c for n in names for c in SCENARIOS[n](s)]
    cases = [c for c in cases if c.subjects]
    total_runs = sum(len(c.subjects) for c in cases) * s.reps
    done, t_start = 0, time.monotonic()
    tty = sys.stderr.isatty()
    results = []
    for c in cases:
        runs = {sub.name: [] for sub in c.subjects}
        errors = {}
        for rep in range(s.reps):
            for sub in c.subjects:  # alternated: A B C A B C ...
                done += 1
                line = (f"[{done}/{total_runs} {time.monotonic() - t_start:5.0f}s] {c.scenario} {c.label}: "
                        f"{sub.name} (round {rep + 1}/{s.reps})")
                print(("\r\033[K" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
                try:
                    runs[sub.name].append(sub.run())
                except (RunError, RuntimeError, OSError, ValueError, KeyError) as e:
                    errors.setdefault(sub.name, str(e)[:500])
        straced = {}
        if s.strace:
            for sub in c.subjects:
                if sub.strace:
                    try:
                        straced[sub.name] = sub.strace()
                    except (RuntimeError, OSError, ValueError) as e:
                        straced[sub.name] = None
        rows = []
        for sub in c.subjects:
            ms = runs[sub.name]
            row = {"subject": sub.name, "family": sub.family, "baseline": sub.baseline, "runs": len(ms),
                   "error": errors.get(sub.name), "client_saturated_runs": sum(1 for m in ms if m.get("client_saturated")),
                   "errors_in_runs": sum(m.get("errors") or 0 for m in ms),
                   "slow_stop_runs": sum(1 for m in ms if m.get("slow_stop"))}
            if row["slow_stop_runs"]:
                notes.append(f"{c.scenario} {c.label}: {sub.name} did not exit within 1 s of SIGTERM in "
                             f"{row['slow_stop_runs']} of {len(ms)} runs (stopped by a second signal; after the window)")
            for k in METRICS:
                row[k] = median_min_max([m.get(k) for m in ms])
            if sub.name in straced:
                v = straced[sub.name]
                row["syscalls_per_op"] = {"median": v, "min": v, "max": v, "n": 1, "source": "strace -c -f"} if v else None
            elif row["syscalls_per_op"]:
                row["syscalls_per_op"]["source"] = "engine stats"
            rows.append(row)
        results.append({"scenario": c.scenario, "case": c.label, "params": c.params, "unit": c.unit, "rows": rows})
    if tty:
        print("\r\033[K", end="", file=sys.stderr)
    elapsed = time.monotonic() - t_start
    doc = {"tool": "ringxfer-perf", "mode": "tiny" if s.tiny else "quick" if s.quick else "full",
           "command": "ringxfer-perf " + " ".join(user_args(sys.argv[1:] if argv is None else argv)),
           "machine": machine(), "placement": s.pin_text, "repetitions": s.reps, "warmup_s": s.warmup_s,
           "duration_s": s.duration_s, "elapsed_s": round(elapsed, 1), "notes": notes, "results": results}
    report.add_ratios(doc)
    print(report.console(doc))
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "results.json"), "w") as f:
            json.dump(doc, f, indent=1)
        with open(os.path.join(a.out, "results.csv"), "w") as f:
            f.write(report.csv_text(doc))
        with open(os.path.join(a.out, "report.html"), "w") as f:
            f.write(report.html(doc))
        print(f"ringxfer-perf: wrote {a.out}/results.json, results.csv, report.html", file=sys.stderr)
    failed = [r for res in results for r in res["rows"] if r["runs"] == 0]
    return 1 if failed else 0
