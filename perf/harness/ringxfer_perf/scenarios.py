"""Scenarios: which cases, which subjects, and how one run of a subject is made.

Each case lists its subjects; the runner alternates them (A B C A B C ...).
Subjects in the "ringxfer" family are ringxfer itself; "peer" are the others
(Asio, nginx, HAProxy, iperf3) - the table's "vs best peer" looks at those."""
import json
import os

from . import subjects as sj
from .measure import (RunError, echo_like, per_op, sender_into_sink, server_under_load, strace_pass, client_fields)

KIB, MIB = 1024, 1024 * 1024


def size_label(n):
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB} MiB"
    if n >= KIB and n % KIB == 0:
        return f"{n // KIB} KiB"
    return f"{n} B"


class Subject:
    def __init__(self, name, family, run, strace=None, baseline=False):
        self.name, self.family, self.run, self.strace, self.baseline = name, family, run, strace, baseline


class Case:
    def __init__(self, scenario, label, params, subjects, unit, x_label=None):
        self.scenario, self.label, self.params, self.subjects, self.unit = scenario, label, params, subjects, unit
        self.x_label = x_label or label


def wanted_backends(s):
    return [b for b in sj.RINGXFER_BACKENDS if s.backend in ("all", b)]


def peers_wanted(s):
    return s.backend == "all"


# ---------------------------------------------------------------- echo

def echo_cases(s):
    t = s.tools
    if s.quick:
        shapes = [(64, 64, 1), (1000, 64, 4)]
    elif s.tiny:
        shapes = [(8, 64, 1)]
    else:
        shapes = [(c, b, k) for c in (1, 64, 1000, 10000) for b in (64, 4096) for k in (1, 4)]
    out = []
    for conns, size, inflight in shapes:
        load = [t.load, "echo", "--target", "127.0.0.1:{port}", "--connections", str(conns), "--size", str(size),
                "--in-flight", str(inflight), "--warmup", f"{s.warmup_s}s", "--duration", f"{s.duration_s}s",
                "--threads", "1", "--max-time", "60s", "--json"]
        subs = []
        for b in wanted_backends(s):
            mk = (lambda b=b: sj.ringxfer_server(t, b, "echo", [], s.server_cpus))
            subs.append(Subject(f"ringxfer-{b}", "ringxfer", _server_run(mk, load, s, conns), baseline=b == "epoll"))
        if peers_wanted(s):
            for flavour in ("asio-epoll", "asio-uring"):
                mk = (lambda f=flavour: sj.peer_server(t, f, "echo", [], s.server_cpus))
                subs.append(Subject(flavour, "peer", _server_run(mk, load, s, conns),
                                    strace=lambda mk=mk, load=load: strace_pass(mk, load, "requests", t, s)))
        out.append(Case("echo", f"{conns} conn x {size_label(size)} x {inflight}",
                        {"connections": conns, "size_bytes": size, "in_flight": inflight}, subs, "msgs/s"))
    return out


def _server_run(make_server, load, s, conns):
    def run():
        j, rates, rss = server_under_load(make_server(), load, s, conns)
        return echo_like(j, rates, rss)
    return run


# ---------------------------------------------------------------- accept

def accept_cases(s):
    t = s.tools
    conc = 8 if s.tiny else 32
    load = [t.load, "accept", "--target", "127.0.0.1:{port}", "--concurrency", str(conc), "--warmup",
            f"{s.warmup_s}s", "--duration", f"{s.duration_s}s", "--threads", "1", "--json"]
    subs = []
    for b in wanted_backends(s):
        mk = (lambda b=b: sj.ringxfer_server(t, b, "echo", [], s.server_cpus))
        subs.append(Subject(f"ringxfer-{b}", "ringxfer", _server_run(mk, load, s, conc), baseline=b == "epoll"))
    if peers_wanted(s):
        for flavour in ("asio-epoll", "asio-uring"):
            mk = (lambda f=flavour: sj.peer_server(t, f, "echo", [], s.server_cpus))
            subs.append(Subject(flavour, "peer", _server_run(mk, load, s, conc),
                                strace=lambda mk=mk: strace_pass(mk, load, "connections", t, s)))
    return [Case("accept", f"churn, {conc} at once", {"concurrency": conc}, subs, "conns/s")]


# ---------------------------------------------------------------- stream

def stream_cases(s):
    t = s.tools
    if s.quick:
        sizes = [64 * KIB, MIB]
    elif s.tiny:
        sizes = [64 * KIB]
    else:
        sizes = [4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB]
    sink = ["--warmup", f"{s.warmup_s}s", "--duration", f"{s.duration_s}s", "--chunk", "256K", "--max-time", "10s"]
    out = []
    for size in sizes:
        subs = []
        for b in wanted_backends(s):
            for strategy in ("copy", "zerocopy"):
                if (s.quick or s.tiny) and b == "epoll" and strategy == "zerocopy":
                    continue
                subs.append(Subject(f"ringxfer-{b} {strategy}", "ringxfer", _send_stream(s, b, strategy, size, sink),
                                    baseline=(b == "epoll" and strategy == "copy")))
        if peers_wanted(s):
            load = [t.load, "stream", "--target", "127.0.0.1:{port}", "--mode", "sink"] + sink + ["--json"]
            for flavour in (("asio-epoll",) if s.tiny else ("asio-epoll", "asio-uring")):
                mk = (lambda f=flavour: sj.peer_server(t, f, "stream", ["--mode", "source", "--chunk", str(size)],
                                                       s.server_cpus))
                subs.append(Subject(flavour, "peer", _bulk_server_run(mk, load, s, size)))
            if t.iperf3 and not s.quick and not s.tiny:
                subs.append(Subject("iperf3", "peer", _iperf3(s, size)))
        out.append(Case("stream", size_label(size), {"message_bytes": size}, subs, "Gbit/s"))
    return out


def _bulk_metrics(j, rates, rss_kib, op_bytes):
    m = dict(rates)
    bps = j["bytes_per_s"]
    per_op(m, bps / op_bytes, bps)
    m.update({"throughput": j["gbit_per_s"], "peak_rss_mib": rss_kib / 1024, "errors": j.get("errors", 0)})
    m.update(client_fields(j))
    return m


def _bulk_server_run(make_server, load, s, op_bytes):
    def run():
        j, rates, rss = server_under_load(make_server(), load, s)
        return _bulk_metrics(j, rates, rss, op_bytes)
    return run


def _send_stream(s, backend, strategy, size, sink):
    t = s.tools

    def run():
        sender = [t.ringxfer, "send", "--to", "127.0.0.1:{port}", "--duration", f"{s.warmup_s + s.duration_s + 0.5}s",
                  "--size", str(size), "--strategy", strategy, "--backend", backend, "--json"]
        j, rates, sout, cpu_s, rss = sender_into_sink(sender, sink, s, t.load)
        m = _bulk_metrics(j, rates, rss, size)
        sj_ = json.loads(sout)
        m["syscalls_per_op"] = sj_["syscalls_per_gib"] * size / (1 << 30)
        m["zc_copied_ratio"] = sj_["zc_copied_ratio"] if strategy == "zerocopy" else None
        return m
    return run


def _iperf3(s, size):
    t = s.tools

    def run():
        # iperf3 is both ends: its server is the sink here (on the load CPU).
        # Not -s -1: the readiness probe would use up its one connection.
        port = sj.free_port()
        from .procs import Server, wait_client, run_client
        srv = Server([t.iperf3, "-s", "-p", str(port)], str(port), s.load_cpus).start()
        try:
            # -t takes whole seconds; -O (omitted warm-up) comes on top of it.
            cli = run_client([t.iperf3, "-c", "127.0.0.1", "-p", str(port), "-l", str(size), "-t",
                              str(max(1, round(s.duration_s))), "-O", str(s.warmup_s), "--json"], s.server_cpus, 0)
            rc, out, err, ru = wait_client(cli, s.warmup_s + s.duration_s + 30)
        finally:
            srv.stop()
        if rc != 0:
            raise RunError(f"iperf3: exit {rc}: {err.strip()[-300:]}")
        j = json.loads(out)
        if j.get("error"):
            raise RunError(f"iperf3: {j['error']}")
        bps = j["end"]["sum_received"]["bits_per_second"] / 8
        cpu = j["end"].get("cpu_utilization_percent", {}).get("host_total", 0) / 100
        m = {"server_cpu_util": cpu, "runqueue_wait_ratio": None, "syscalls_per_s": None}
        per_op(m, bps / size, bps)
        m.update({"throughput": bps * 8 / 1e9, "peak_rss_mib": ru.ru_maxrss / 1024, "errors": 0,
                  "client_busy_ratio": None, "client_saturated": False})
        return m
    return run


# ---------------------------------------------------------------- file

def make_file(s, size):
    path = os.path.join(s.workdir, f"file-{size}.bin")
    if not os.path.exists(path) or os.path.getsize(path) != size:
        block = os.urandom(min(size, MIB))
        with open(path, "wb") as f:
            left = size
            while left:
                n = min(left, len(block))
                f.write(block[:n])
                left -= n
        os.chmod(path, 0o644)
    return path


FILE_STRATEGIES = ("copy", "splice", "sendfile", "zerocopy", "auto")


def file_cases(s):
    t = s.tools
    if s.quick:
        sizes, strategies = [64 * KIB, 16 * MIB], ("copy", "splice", "sendfile", "auto")
    elif s.tiny:
        sizes, strategies = [64 * KIB], ("auto",)
    else:
        sizes, strategies = [4 * KIB, 64 * KIB, MIB, 4 * MIB, 16 * MIB, 64 * MIB], FILE_STRATEGIES
    budget = (64 if s.quick or s.tiny else 256) * MIB
    out = []
    for size in sizes:
        path = make_file(s, size)
        conns = max(1, min(64, budget // size))
        sink = ["--warmup", "0", "--bytes", str(size), "--connections", str(conns), "--chunk", "256K",
                "--max-time", "60s"]
        subs = []
        for b in wanted_backends(s):
            for strategy in strategies:
                if b == "epoll" and strategy not in (("auto",) if s.quick else ("copy", "sendfile", "auto")):
                    continue  # the epoll rows that differ; splice/zerocopy there are fallbacks
                subs.append(Subject(f"ringxfer-{b} {strategy}", "ringxfer", _send_file(s, b, strategy, path, size, conns, sink),
                                    baseline=(b == "epoll" and strategy == "auto")))
        if peers_wanted(s):
            load = [t.load, "stream", "--target", "127.0.0.1:{port}", "--mode", "sink"] + sink + ["--json"]
            for flavour in (("asio-epoll",) if s.quick else ("asio-epoll", "asio-uring")):
                for how in (("sendfile",) if s.quick else ("pread", "sendfile")):
                    extra = ["--file", path] + (["--sendfile"] if how == "sendfile" else [])
                    mk = (lambda f=flavour, extra=extra: sj.peer_server(t, f, "file", extra, s.server_cpus))
                    subs.append(Subject(f"{flavour} {how}", "peer", _file_server_run(mk, load, s, size, conns)))
        out.append(Case("file", size_label(size), {"file_bytes": size, "connections": conns}, subs, "Gbit/s"))
    return out


def _file_server_run(make_server, load, s, size, conns):
    from .procs import Sample, CLK_TCK

    def run():
        server = make_server().start()
        try:
            from .procs import run_client, wait_client
            s0 = Sample(server)
            rc, out, err, _ = wait_client(run_client([a.replace("{port}", str(server.port)) for a in load],
                                                     s.load_cpus, 0), 90)
            s1 = Sample(server)
            rss = server.peak_rss_kib()
        finally:
            server.stop()
        from .measure import load_json
        j = load_json(rc, out, err, "sink")
        total = size * conns
        cpu_s = s1.cpu_s - s0.cpu_s
        if cpu_s < 5 / CLK_TCK:
            cpu_s = None  # under 5 clock ticks: too short to tell
        m = {"server_cpu_util": 0, "runqueue_wait_ratio": (s1.wait_s - s0.wait_s) / max(s1.t - s0.t, 1e-6),
             "syscalls_per_s": None}
        per_op(m, None, None)
        m.update({"throughput": j["gbit_per_s"], "cpu_s_per_gb": cpu_s and cpu_s / (total / 1e9),
                  "cpu_s_per_mop": cpu_s and cpu_s / conns * 1e6, "peak_rss_mib": rss / 1024,
                  "errors": j.get("errors", 0)})
        m.update(client_fields(j))
        return m
    return run


def _send_file(s, backend, strategy, path, size, conns, sink):
    t = s.tools

    def run():
        sender = [t.ringxfer, "send", "--to", "127.0.0.1:{port}", "--file", path, "--connections", str(conns),
                  "--strategy", strategy, "--backend", backend, "--json"]
        j, _, sout, cpu_s, rss = sender_into_sink(sender, sink, s, t.load, fixed_bytes=True)
        r = json.loads(sout)
        total = size * conns
        # CPU over the sender's whole life (wait4): start-up included, which
        # small files feel; the per-file figure says so.
        m = {"throughput": j["gbit_per_s"], "cpu_s_per_gb": cpu_s / (total / 1e9), "cpu_s_per_mop": cpu_s / conns * 1e6,
             "syscalls_per_op": r["syscalls"] / conns, "peak_rss_mib": rss / 1024, "errors": r.get("errors", 0),
             "zc_copied_ratio": r["zc_copied_ratio"] if r.get("zc_sends") else None, "runqueue_wait_ratio": None}
        m.update(client_fields(j))
        return m
    return run


# ---------------------------------------------------------------- http

def http_cases(s):
    t = s.tools
    if s.quick:
        sizes = [64 * KIB]
    elif s.tiny:
        sizes = [4 * KIB]
    else:
        sizes = [4 * KIB, 64 * KIB, MIB, 16 * MIB]
    conns = 16
    out = []
    for size in sizes:
        path = make_file(s, size)
        name = os.path.basename(path)
        use_wrk = s.http_load == "wrk" or (s.http_load == "auto" and t.wrk and not s.tiny)
        load = [t.load, "get", "--target", "127.0.0.1:{port}", "--path", "/" + name, "--expect-length", str(size),
                "--connections", str(conns), "--warmup", f"{s.warmup_s}s", "--duration", f"{s.duration_s}s",
                "--threads", "1", "--json"]
        counted = lambda mk: (lambda: strace_pass(mk, load, "requests", t, s))
        if use_wrk:
            runner = lambda mk: _wrk_run(mk, s, name, conns, size)
        else:
            load = [t.load, "get", "--target", "127.0.0.1:{port}", "--path", "/" + name, "--expect-length", str(size),
                    "--connections", str(conns), "--warmup", f"{s.warmup_s}s", "--duration", f"{s.duration_s}s",
                    "--threads", "1", "--json"]
            runner = lambda mk, load=load: _http_server_run(mk, load, s, conns, size)
        subs = []
        if t.has_serve:
            for b in wanted_backends(s):
                mk = (lambda b=b: sj.ringxfer_server(t, b, "serve", [s.workdir], s.server_cpus))
                subs.append(Subject(f"ringxfer-{b}", "ringxfer", runner(mk), baseline=b == "epoll"))
        if peers_wanted(s):
            for flavour in ("asio-epoll", "asio-uring"):
                mk = (lambda f=flavour: sj.peer_server(t, f, "http", ["--root", s.workdir, "--sendfile"], s.server_cpus))
                subs.append(Subject(f"{flavour} sendfile", "peer", runner(mk), strace=counted(mk)))
            if t.nginx and not s.quick and not s.tiny:
                for sf in (True, False):
                    mk = (lambda sf=sf: sj.nginx_server(t, s.workdir, sf, s.server_cpus))
                    subs.append(Subject(f"nginx sendfile {'on' if sf else 'off'}", "peer", runner(mk), strace=counted(mk)))
        c = Case("http", size_label(size), {"file_bytes": size, "connections": conns,
                                            "load": "wrk" if use_wrk else "ringxfer-load-neutral get"}, subs, "req/s")
        out.append(c)
    return out


def _http_server_run(make_server, load, s, conns, size):
    def run():
        j, rates, rss = server_under_load(make_server(), load, s, conns)
        m = echo_like(j, rates, rss)
        m["cpu_s_per_gb"] = m["server_cpu_util"] / (j["rx_bytes_per_s"] / 1e9) if j.get("rx_bytes_per_s") else None
        return m
    return run


def _wrk_run(make_server, s, name, conns, size):
    import re
    import time
    from .procs import Sample, run_client, wait_client
    from .measure import window_rates

    def to_us(v, unit):
        return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]

    def run():
        server = make_server().start()
        try:
            # wrk has no warm-up: a first short run warms, the second is measured.
            url = f"http://127.0.0.1:{server.port}/{name}"
            wait_client(run_client([s.tools.wrk, "-t1", f"-c{conns}", f"-d{max(1, round(s.warmup_s))}s", url],
                                   s.load_cpus, 0), 60)
            dur = max(1, round(s.duration_s))
            t0 = time.monotonic()
            proc = run_client([s.tools.wrk, "-t1", f"-c{conns}", f"-d{dur}s", "--latency", url], s.load_cpus, 0)
            time.sleep(0.2)
            s0 = Sample(server)
            time.sleep(max(0.1, 0.8 * dur - 0.2))
            s1 = Sample(server)
            rc, out, err, ru = wait_client(proc, dur + 30)
            elapsed = time.monotonic() - t0
            rss = server.peak_rss_kib()
        finally:
            server.stop()
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if rc != 0 or not rps:
            raise RunError(f"wrk: exit {rc}: {(err or out).strip()[-300:]}")
        lat = {p: to_us(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
        bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
        if bad:
            raise RunError(f"wrk: {bad.group(1)} responses were not 2xx: the figure would not be file serving")
        sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        errors = sum(int(x) for x in sock.groups()) if sock else 0
        ops = float(rps.group(1))
        m = window_rates(s0, s1)
        per_op(m, ops, ops * size)
        busy = (ru.ru_utime + ru.ru_stime) / elapsed
        m.update({"throughput": ops, "latency_us_p50": lat.get("50"), "latency_us_p99": lat.get("99"),
                  "latency_us_p999": None, "peak_rss_mib": rss / 1024, "errors": errors,
                  "client_busy_ratio": busy, "client_saturated": busy >= 0.9})
        return m
    return run


# ---------------------------------------------------------------- proxy

def proxy_cases(s):
    t = s.tools
    out = []
    shapes = [("small", 64)] if (s.quick or s.tiny) else [("bulk", 0), ("small", 64)]
    for kind, size in shapes:
        if kind == "bulk":
            up_cmd, up_extra = "stream", ["--mode", "sink"]
            load = [t.load, "stream", "--target", "127.0.0.1:{port}", "--mode", "source", "--chunk", "256K",
                    "--warmup", f"{s.warmup_s}s", "--duration", f"{s.duration_s}s", "--json"]
            label, unit, conns = "bulk stream, 1 conn", "Gbit/s", 1
        else:
            up_cmd, up_extra = "echo", []
            conns = 8 if s.tiny else 100
            load = [t.load, "echo", "--target", "127.0.0.1:{port}", "--connections", str(conns), "--size", str(size),
                    "--in-flight", "1", "--warmup", f"{s.warmup_s}s", "--duration", f"{s.duration_s}s",
                    "--threads", "1", "--json"]
            label, unit = f"{conns} conn x 64 B req/resp", "msgs/s"
        subs = []
        for b in wanted_backends(s):
            subs.append(Subject(f"ringxfer-{b}", "ringxfer", _proxy_run(s, lambda up, b=b: sj.ringxfer_server(
                t, b, "proxy", ["--to", f"127.0.0.1:{up}"], s.server_cpus), up_cmd, up_extra, load, kind, conns),
                baseline=b == "epoll"))
        if peers_wanted(s) and t.haproxy and not s.quick and not s.tiny:
            subs.append(Subject("haproxy splice", "peer", _proxy_run(s, lambda up: sj.haproxy_server(
                t, up, s.server_cpus), up_cmd, up_extra, load, kind, conns)))
        out.append(Case("proxy", label, {"kind": kind, "connections": conns}, subs, unit))
    return out


def _proxy_run(s, make_proxy, up_cmd, up_extra, load, kind, conns):
    def run():
        # The upstream is part of the load: Asio epoll, on the load's CPU.
        up = sj.peer_server(s.tools, "asio-epoll", up_cmd, up_extra, s.load_cpus).start()
        try:
            j, rates, rss = server_under_load(make_proxy(up.port), load, s, conns)
        finally:
            up.stop()
        if kind == "bulk":
            return _bulk_metrics(j, rates, rss, 256 * KIB)
        return echo_like(j, rates, rss)
    return run


SCENARIOS = {"stream": stream_cases, "file": file_cases, "echo": echo_cases, "http": http_cases,
             "proxy": proxy_cases, "accept": accept_cases}
