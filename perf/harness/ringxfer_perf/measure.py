"""One measured run: a subject under one load, and the figures it yields.

Every run samples the subject's /proc counters inside the load's measured
window (after its warm-up), so CPU per op and syscalls per op are rates over
the same steady state as the throughput."""
import json
import os
import re
import socket
import statistics
import subprocess
import tempfile
import time

from .procs import Sample, run_client, wait_client, cpu_seconds, runqueue_wait_seconds, tree_pids


class RunError(RuntimeError):
    pass


def _sleep_until(t):
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)


def window_rates(s0, s1):
    dt = max(s1.t - s0.t, 1e-6)
    out = {"server_cpu_util": (s1.cpu_s - s0.cpu_s) / dt, "runqueue_wait_ratio": (s1.wait_s - s0.wait_s) / dt}
    out["syscalls_per_s"] = None if s0.syscalls is None or s1.syscalls is None else (s1.syscalls - s0.syscalls) / dt
    return out


def per_op(m, ops_per_s, bytes_per_s):
    """CPU seconds per million ops and per GB, syscalls per op, from rates."""
    u = m.pop("server_cpu_util")
    sps = m.pop("syscalls_per_s")
    m["server_cpu_util"] = u
    m["cpu_s_per_mop"] = u / ops_per_s * 1e6 if ops_per_s else None
    m["cpu_s_per_gb"] = u / (bytes_per_s / 1e9) if bytes_per_s else None
    if sps is not None and ops_per_s:
        m["syscalls_per_op"] = sps / ops_per_s
    return m


def load_json(rc, out, err, what):
    try:
        j = json.loads(out)
    except ValueError:
        raise RunError(f"{what}: exit {rc}, no JSON: {err.strip()[-400:]}")
    if rc != 0:
        raise RunError(f"{what}: exit {rc}: {j.get('first_error') or err.strip()[-300:]}")
    return j


def client_fields(j):
    return {"client_busy_ratio": j.get("cpu_busy_ratio"), "client_saturated": bool(j.get("client_saturated"))}


def server_under_load(server, load_argv, s, connections=1):
    """Starts server, runs the neutral load against it, samples the window.
    Returns (load JSON, window rates, peak RSS KiB)."""
    server.start()
    try:
        argv = [a.replace("{port}", str(server.port)) for a in load_argv]
        t_start = time.monotonic()
        proc = run_client(argv, s.load_cpus, 0)
        t0 = t_start + s.warmup_s + 0.1 + connections * 60e-6
        _sleep_until(t0)
        s0 = Sample(server)
        _sleep_until(t0 + 0.8 * s.duration_s)
        s1 = Sample(server)
        rc, out, err, _ = wait_client(proc, s.warmup_s + s.duration_s + 30 + connections * 1e-3)
        rss = server.peak_rss_kib()
    finally:
        server.stop()
    rates = window_rates(s0, s1)
    rates["slow_stop"] = server.slow_stop
    return load_json(rc, out, err, os.path.basename(argv[0])), rates, rss


def echo_like(j, rates, rss):
    m = dict(rates)
    ops = j.get("requests_per_s") or j.get("msgs_per_s") or j.get("connections_per_s")
    bps = (j.get("rx_bytes_per_s") or 0) + (j.get("tx_bytes_per_s") or 0)
    per_op(m, ops, bps)
    m.update({"throughput": ops, "latency_us_p50": j.get("latency_us_p50"), "latency_us_p99": j.get("latency_us_p99"),
              "latency_us_p999": j.get("latency_us_p999"), "peak_rss_mib": rss / 1024, "errors": j.get("errors", 0)})
    m.update(client_fields(j))
    return m


def strace_pass(make_server, load_argv, ops_key, tools, s):
    """A short separate pass under `strace -c -f`: syscalls per op for servers
    that have no counters of their own (strace slows them: not timed)."""
    if not tools.strace:
        return None
    out = tempfile.NamedTemporaryFile(prefix="ringxfer-perf-strace-", delete=False).name
    server = make_server()
    server.argv = [tools.strace, "-f", "-c", "-o", out, "--"] + server.argv
    server.start(timeout_s=20)
    try:
        argv = [a.replace("{port}", str(server.port)) for a in load_argv]
        argv = _with(argv, "--warmup", "0.1")
        argv = _with(argv, "--duration", "0.5")
        rc, so, se, _ = wait_client(run_client(argv, s.load_cpus, 0), 30)
    finally:
        # Stop the traced server, not strace: strace writes its summary when
        # its tracees have exited.
        import signal
        for kid in tree_pids(server.pid)[1:]:
            try:
                os.kill(kid, signal.SIGTERM)
            except OSError:
                pass
        try:
            server.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.stop()
    try:
        j = json.loads(so)
        ops = j.get(ops_key) or 0
        with open(out) as f:
            text = f.read()
        total = re.search(r"^[-\d.\s]*?\s(\d+)\s+(?:\d+\s+)?total\s*$", text, re.M)
        calls = int(total.group(1)) if total else None
    except (ValueError, OSError):
        return None
    finally:
        os.unlink(out)
    # Calls include the warm-up and the connects: divide by every op the client made.
    all_ops = ops * (0.6 / 0.5) if ops else 0
    return calls / all_ops if calls and all_ops else None


def _with(argv, flag, value):
    argv = list(argv)
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    return argv


def sender_into_sink(sender_argv, sink_extra, s, load_tool, sender_env=None, fixed_bytes=False):
    """A sender that connects (ringxfer send, iperf3 -c) into the neutral sink,
    which accepts from a listener the harness opened and hands down."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1024)
    port = lst.getsockname()[1]
    sink = run_client([load_tool, "stream", "--listen-fd", str(lst.fileno()), "--mode", "sink", "--json"] + sink_extra,
                      s.load_cpus, 0, pass_fds=(lst.fileno(),))
    lst.close()
    sender = run_client([a.replace("{port}", str(port)) for a in sender_argv], s.server_cpus, 0, env=sender_env)
    rates = None
    if not fixed_bytes:
        t0 = time.monotonic() + s.warmup_s + 0.15
        _sleep_until(t0)
        pids = tree_pids(sender.pid)
        c0, w0, ta = cpu_seconds(pids), runqueue_wait_seconds(pids), time.monotonic()
        _sleep_until(t0 + 0.8 * s.duration_s)
        c1, w1, tb = cpu_seconds(pids), runqueue_wait_seconds(pids), time.monotonic()
        rates = {"server_cpu_util": (c1 - c0) / (tb - ta), "runqueue_wait_ratio": (w1 - w0) / (tb - ta),
                 "syscalls_per_s": None}
    limit = s.warmup_s + s.duration_s + 60
    src, sout, serr, sru = wait_client(sender, limit)
    krc, kout, kerr, _ = wait_client(sink, 30)
    if src != 0:
        raise RunError(f"{os.path.basename(sender_argv[0])}: exit {src}: {(serr or sout).strip()[-400:]}")
    j = load_json(krc, kout, kerr, "sink")
    sender_cpu_s = sru.ru_utime + sru.ru_stime
    return j, rates, sout, sender_cpu_s, sru.ru_maxrss


def median_min_max(values):
    vals = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}
