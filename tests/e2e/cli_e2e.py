#!/usr/bin/env python3
"""End-to-end tests of the ringxfer CLI (echo, load, the shared framework).

usage: cli_e2e.py --bin PATH [--backend auto|io_uring|epoll] CASE

Each CASE runs real processes on loopback and exits 0 (pass), 1 (fail, with
the reason) or 77 (skip: the backend is not usable on this kernel). Every
wait is bounded.
"""
import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prom_check  # noqa: E402

ARGS = None
SKIP = 77


class Fail(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Fail(what)


# What a sanitizer prints when it finds something (TSan, ASan, LSan, UBSan).
# The asan and tsan CI passes run these tests with the sanitized ringxfer: a
# report fails the test even where the exit code is not checked.
SANITIZER_REPORT = re.compile(r"WARNING: ThreadSanitizer|ERROR: (Address|Leak)Sanitizer|: runtime error: ")


def expect_no_sanitizer_report(what, text):
    m = SANITIZER_REPORT.search(text or "")
    if m:
        start = max(0, m.start() - 200)
        raise Fail(f"{what}: sanitizer report: {text[start:start + 3000]}")


def run(args, timeout=60):
    r = subprocess.run([ARGS.bin] + args, capture_output=True, text=True, timeout=timeout)
    expect_no_sanitizer_report(f"ringxfer {' '.join(args[:1])}", r.stderr)
    return r


def backend_args():
    return ["--backend", ARGS.backend]


class Server:
    """A ringxfer server process started with port 0; knows its port."""

    def __init__(self, command, extra=(), listen="127.0.0.1:0", metrics=False, prefix=()):
        # prefix: a command that runs the server (e.g. prlimit with its flags).
        args = list(prefix) + [ARGS.bin, command, "--listen", listen] + backend_args() + list(extra)
        if metrics:
            args += ["--metrics", "127.0.0.1:0"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        m = self.wait_line(r"listening on (\S+):(\d+)")
        self.host, self.port = m.group(1).strip("[]"), int(m.group(2))
        self.address = f"{m.group(1)}:{self.port}"
        self.metrics_port = None
        if metrics:
            self.metrics_port = int(self.wait_line(r"metrics at http://[^:]+:(\d+)/").group(1))

    def _read(self):
        for line in self.proc.stderr:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.lines.append(None)  # end of stream
            self.changed.notify_all()

    def wait_line(self, pattern, timeout=10):
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines:
                    if line is not None:
                        m = re.search(pattern, line)
                        if m:
                            return m
                if None in self.lines:
                    raise Fail(f"server exited (code {self.proc.poll()}) before printing /{pattern}/: {self.lines}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Fail(f"no line /{pattern}/ within {timeout} s: {self.lines}")
                self.changed.wait(left)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Fail(f"server did not exit within {timeout} s of {sig.name}")
        self.check_sanitizers()
        return code

    def check_sanitizers(self):
        """Fails on a sanitizer report in everything the server wrote."""
        self.reader.join(5)  # the rest of stderr, after the exit
        with self.changed:
            text = "\n".join(line for line in self.lines if line is not None)
        expect_no_sanitizer_report(f"{self.proc.args[1]}", text)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if exc_type is None:
            self.check_sanitizers()


def load(address, *extra, timeout=60):
    r = run(["load", "--to", address, "--json"] + backend_args() + list(extra), timeout=timeout)
    result = None
    if r.stdout.strip():
        result = json.loads(r.stdout)
    return r, result


def scrape(port, path="/metrics", method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path)
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, response.getheader("Content-Type"), body


def echo_roundtrip(host, port, payload, read_delay=0.0):
    """Sends payload while reading (after read_delay), half-closes, expects payload then EOF."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.create_connection((host, port), timeout=20) if family == socket.AF_INET else socket.socket(family)
    if family == socket.AF_INET6:
        s.settimeout(20)
        s.connect((host, port))
    errors = []

    def writer():
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            errors.append(e)

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(read_delay)
    got = bytearray()
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        got += chunk
    t.join(20)
    s.close()
    expect(not errors, f"writer failed: {errors}")
    expect(len(got) == len(payload), f"got {len(got)} bytes back, sent {len(payload)}")
    expect(bytes(got) == payload, "echoed bytes differ from those sent")


# -------------------------------------------------------------------- cases --

def case_help():
    for command in ("echo", "load", "probe"):
        r = run([command, "--help"])
        expect(r.returncode == 0, f"{command} --help exited {r.returncode}")
        expect(r.stdout.startswith(f"usage: ringxfer {command}"), f"{command} --help: {r.stdout[:80]!r}")
        if command != "probe":
            for flag in ("--backend", "--threads", "--stats"):
                expect(flag in r.stdout, f"{command} --help does not mention {flag}")
    expect("--listen" in run(["echo", "--help"]).stdout and "--metrics" in run(["echo", "--help"]).stdout,
           "echo --help lacks --listen/--metrics")
    expect("--to" in run(["load", "--help"]).stdout, "load --help lacks --to")


def case_bad_flags():
    cases = [
        (["echo", "--bogus"], "--bogus"),
        (["echo"], "--listen"),
        (["echo", "--listen", "localhost:80"], "localhost:80"),
        (["echo", "--listen", "127.0.0.1:99999"], "127.0.0.1:99999"),
        (["echo", "--listen", "127.0.0.1:0", "--threads", "0"], "--threads"),
        (["echo", "--listen", "127.0.0.1:0", "--backend", "kqueue"], "kqueue"),
        (["echo", "--listen", "127.0.0.1:0", "--drain-timeout", "soon"], "soon"),
        (["echo", "--listen", "127.0.0.1:0", "stray"], "stray"),
        (["echo", "--listen"], "--listen"),
        (["echo", "--listen", "127.0.0.1:0", "--stats=yes"], "--stats"),
        (["echo", "--listen", "127.0.0.1:0", "--cpus", "1-"], "1-"),
        (["load"], "--to"),
        (["load", "--to", "127.0.0.1:1", "--size", "0"], "--size"),
        (["load", "--to", "127.0.0.1:1", "--size", "12q"], "12q"),
        (["load", "--to", "127.0.0.1:1", "--rate", "-5"], "-5"),
        (["load", "--to", "127.0.0.1:1", "--duration", "1", "--requests", "5"], "--requests"),
        (["load", "--to", "127.0.0.1:1", "--connections", "10", "--requests", "5"], "--requests"),
        (["load", "--to", "[::1]"], "[::1]"),
    ]
    for args, word in cases:
        r = run(args, timeout=10)
        expect(r.returncode == 2, f"{args}: exit {r.returncode}, expected 2; stderr {r.stderr!r}")
        lines = r.stderr.strip().split("\n")
        expect(len(lines) == 1, f"{args}: reason is not one line: {r.stderr!r}")
        expect(word in lines[0], f"{args}: reason does not name {word!r}: {lines[0]!r}")


def case_echo_load():
    with Server("echo") as server:
        for extra in (["--connections", "8", "--size", "64", "--pipeline", "4", "--requests", "20000"],
                      ["--connections", "4", "--size", "100000", "--pipeline", "3", "--requests", "400"],
                      ["--connections", "3", "--size", "1", "--pipeline", "16", "--requests", "9000", "--threads", "2"],
                      ["--connections", "16", "--size", "1000", "--rate", "4000", "--duration", "0.5",
                       "--warmup", "0.2"]):
            r, result = load(server.address, *extra)
            expect(r.returncode == 0, f"load {extra} exited {r.returncode}: {r.stderr}")
            expect(r.stderr == "", f"load wrote to a stderr that is not a terminal: {r.stderr!r}")
            expect(result["errors"] == 0 and result["mismatches"] == 0, f"load {extra}: {result}")
            if "--requests" in extra:
                n = int(extra[extra.index("--requests") + 1])
                expect(result["messages"] == n, f"load {extra}: {result['messages']} messages, asked {n}")
            else:
                # Open loop at 4000/s for 0.5 s after warmup: about 2000 messages.
                expect(1500 <= result["messages"] <= 2100, f"open loop: {result['messages']} messages")
            expect(result["latency_us_p50"] > 0 and result["latency_us_max"] >= result["latency_us_p99"],
                   f"latencies: {result}")
        expect(server.stop() == 0, "echo did not exit 0 on SIGTERM")


def case_load_detects_corruption():
    """A server that changes one byte must make load fail (exit 1), naming the byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]

    def bad_echo():
        c, _ = listener.accept()
        total = 0
        while True:
            data = c.recv(65536)
            if not data:
                break
            b = bytearray(data)
            if total <= 5000 < total + len(b):
                b[5000 - total] ^= 0x01
            total += len(b)
            c.sendall(bytes(b))
        c.close()

    t = threading.Thread(target=bad_echo, daemon=True)
    t.start()
    r, result = load(f"127.0.0.1:{port}", "--connections", "1", "--size", "1000", "--requests", "20", timeout=30)
    expect(r.returncode == 1, f"load exited {r.returncode} against a corrupting server")
    expect(result["mismatches"] == 1, f"mismatches: {result}")
    expect("byte 5000" in r.stderr, f"the first error does not name byte 5000: {r.stderr!r}")
    listener.close()


def case_plain_client():
    payload = os.urandom(1 << 20)
    with Server("echo") as server:
        echo_roundtrip(server.host, server.port, payload)
        # A client that does not read for a while: the server pauses that
        # connection's receive instead of holding ever more buffers.
        echo_roundtrip(server.host, server.port, os.urandom(8 << 20), read_delay=0.5)
        expect(server.stop() == 0, "echo did not exit 0")
    with Server("echo", listen="[::1]:0") as server:
        echo_roundtrip("::1", server.port, payload)


def stuck_client(port, limit_bytes=64 << 20):
    """A client that sends without reading until its sends block; returns the socket."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    chunk, sent, idle_since = os.urandom(65536), 0, None
    while sent < limit_bytes:
        try:
            sent += s.send(chunk)
            idle_since = None
        except BlockingIOError:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 0.3:
                break  # both directions are full
            time.sleep(0.01)
    expect(sent < limit_bytes, "the server kept reading a peer that never reads")
    return s


def case_stall_timeout():
    """A peer that sends but never reads is closed after --stall-timeout; others go on."""
    with Server("echo", ["--stall-timeout", "0.5"], metrics=True) as server:
        s = stuck_client(server.port)
        # Still not reading (reading would let the echoes go on): watch the
        # TCP state until the server's RST (CLOSE) or FIN (CLOSE_WAIT) lands.
        t0 = time.monotonic()
        state = None
        while time.monotonic() - t0 < 5:
            state = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
            if state in (7, 8):  # TCP_CLOSE, TCP_CLOSE_WAIT
                break
            time.sleep(0.05)
        took = time.monotonic() - t0
        expect(state in (7, 8), f"stuck peer not closed after {took:.1f} s (TCP state {state})")
        s.close()
        echo_roundtrip(server.host, server.port, os.urandom(100000))
        samples = prom_check.check(scrape(server.metrics_port)[2])
        expect(prom_check.value(samples, "ringxfer_echo_errors_total") >= 1, "stall not counted as an error")
        expect(server.stop() == 0, "echo exit")


def case_address_in_use():
    for threads in ("1", "2"):
        with Server("echo", ["--threads", threads]) as first:
            r = run(["echo", "--listen", first.address, "--threads", threads] + backend_args(), timeout=10)
            expect(r.returncode == 1, f"--threads {threads}: second server exited {r.returncode}, expected 1")
            expect("Address already in use" in r.stderr and first.address in r.stderr,
                   f"--threads {threads}: unclear message: {r.stderr!r}")
            # The first still works.
            r, result = load(first.address, "--connections", "2", "--requests", "100")
            expect(r.returncode == 0, f"first server broke: {r.stderr}")
        with Server("echo", metrics=True) as first:
            r = run(["echo", "--listen", "127.0.0.1:0", "--metrics", f"127.0.0.1:{first.metrics_port}"]
                    + backend_args(), timeout=10)
            expect(r.returncode == 1 and "metrics" in r.stderr and "in use" in r.stderr,
                   f"metrics address in use: exit {r.returncode}, {r.stderr!r}")


def case_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    r, result = load(f"127.0.0.1:{port}", "--connections", "2", "--requests", "10", timeout=20)
    expect(r.returncode == 1, f"load to a closed port exited {r.returncode}")
    expect("Connection refused" in r.stderr, f"message: {r.stderr!r}")
    expect(result["connect_failures"] == 2, f"{result}")


def case_drain_restart():
    with Server("echo", ["--drain-timeout", "10"]) as server:
        address, port = server.address, server.port
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"before")
        expect(c.recv(100) == b"before", "no echo before the signal")
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        expect(server.proc.poll() is None, "server exited with a connection still open (no drain)")
        # In-flight work still finishes while draining ...
        c.sendall(b"during")
        expect(c.recv(100) == b"during", "no echo while draining")
        # ... but nothing new is accepted.
        refused = False
        try:
            n = socket.create_connection(("127.0.0.1", port), timeout=2)
            n.sendall(b"x")
            refused = n.recv(1) == b""
            n.close()
        except OSError:
            refused = True
        expect(refused, "a new connection was served while draining")
        t0 = time.monotonic()
        c.close()
        code = server.proc.wait(5)
        expect(code == 0, f"drained server exited {code}")
        expect(time.monotonic() - t0 < 2, "server took too long after the last connection closed")
    # An immediate restart on the same address works.
    with Server("echo", listen=address) as again:
        r, result = load(again.address, "--connections", "4", "--requests", "1000")
        expect(r.returncode == 0, f"load after restart: {r.stderr}")
        expect(again.stop() == 0, "restarted server did not exit 0")
    # Idle connections are closed at the drain timeout, and the exit is still 0.
    with Server("echo", ["--drain-timeout", "0.5"]) as server:
        c = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        c.sendall(b"x")  # accepted and served once, then idle
        expect(c.recv(1) == b"x", "no echo")
        t0 = time.monotonic()
        code = server.stop(signal.SIGINT)
        took = time.monotonic() - t0
        expect(code == 0, f"exit {code} after the drain timeout")
        expect(0.4 < took < 3, f"drain with an idle connection took {took:.2f} s (timeout 0.5 s)")
        expect(c.recv(1) == b"", "idle connection not closed")
    # A signal right after "listening on" drains too (it used to kill the
    # process when it came before the signal thread took over).
    for _ in range(5):
        with Server("echo") as server:
            code = server.stop(signal.SIGTERM)
            expect(code == 0, f"SIGTERM at once after start: exit {code}")
    # A second signal exits at once, with 1.
    with Server("echo", ["--drain-timeout", "30"]) as server:
        c = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        c.sendall(b"x")  # accepted, so the drain has a connection to wait for
        expect(c.recv(1) == b"x", "no echo")
        server.proc.send_signal(signal.SIGTERM)
        server.wait_line("draining")
        t0 = time.monotonic()
        code = server.stop(signal.SIGTERM)
        expect(code == 1 and time.monotonic() - t0 < 2, f"second signal: exit {code}")
        c.close()


def case_load_interrupted():
    """SIGINT to load stops it early, and it still reports (exit 0)."""
    with Server("echo") as server:
        p = subprocess.Popen([ARGS.bin, "load", "--to", server.address, "--json", "--duration", "30"]
                             + backend_args(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.7)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        expect(p.returncode == 0, f"interrupted load exited {p.returncode}: {err}")
        result = json.loads(out)
        expect(result["messages"] > 0 and result["errors"] == 0 and result["seconds"] < 5, f"{result}")


def case_progress_tty():
    """On a terminal, load rewrites one progress line at most 4 times a second."""
    import pty
    with Server("echo") as server:
        master, slave = pty.openpty()
        t0 = time.monotonic()
        p = subprocess.Popen([ARGS.bin, "load", "--to", server.address, "--duration", "1.5"] + backend_args(),
                             stdout=subprocess.PIPE, stderr=slave, text=True)
        os.close(slave)
        out, _ = p.communicate(timeout=20)
        took = time.monotonic() - t0
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
        expect(p.returncode == 0, f"load exited {p.returncode}")
        updates = seen.count(b"msgs/s")
        expect(updates >= 2, f"no progress on a terminal: {seen!r}")
        expect(updates <= 4 * took + 1, f"{updates} progress updates in {took:.2f} s")
        expect(b"\n" not in seen.replace(b"\r\n", b""), f"progress is not one rewritten line: {seen!r}")
        expect(out.startswith("load: "), f"result line: {out!r}")


def case_metrics():
    with Server("echo", metrics=True) as server:
        r, result = load(server.address, "--connections", "4", "--size", "100", "--requests", "4000")
        expect(r.returncode == 0, f"load failed: {r.stderr}")
        # load has closed its connections; the server sees that a moment later.
        deadline = time.monotonic() + 5
        while True:
            status, ctype, body = scrape(server.metrics_port)
            if "\nringxfer_echo_open_connections 0\n" in body or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        expect(status == 200, f"/metrics status {status}")
        expect(ctype.startswith("text/plain; version=0.0.4"), f"Content-Type {ctype}")
        try:
            samples = prom_check.check(body)
        except ValueError as e:
            raise Fail(f"/metrics does not parse: {e}\n{body}")
        v = lambda name, **labels: prom_check.value(samples, name, **labels)
        expect(v("ringxfer_echo_received_bytes_total") == 400000, f"received {v('ringxfer_echo_received_bytes_total')}")
        expect(v("ringxfer_echo_sent_bytes_total") == 400000, "sent bytes")
        expect(v("ringxfer_echo_connections_total") == 4, "connections")
        expect(v("ringxfer_echo_open_connections") == 0, "open connections after load")
        expect(v("ringxfer_echo_messages_total") >= 1, "messages")
        expect(v("ringxfer_echo_latency_seconds_count") == v("ringxfer_echo_messages_total"), "latency count")
        expect(v("ringxfer_engine_syscalls_total", thread="0") > 0, "engine syscalls")
        expect(v("ringxfer_engine_received_bytes_total", thread="0") == 400000, "engine bytes")
        # Open connections are a gauge that goes up while clients are connected.
        held = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(3)]
        for h in held:
            h.sendall(b"x")
            h.recv(1)
        samples = prom_check.check(scrape(server.metrics_port)[2])
        expect(prom_check.value(samples, "ringxfer_echo_open_connections") == 3, "gauge with 3 clients")
        for h in held:
            h.close()
        expect(scrape(server.metrics_port, "/")[0] == 404, "/ is not 404")
        expect(scrape(server.metrics_port, "/metricsx")[0] == 404, "/metricsx is not 404")
        expect(scrape(server.metrics_port, "/metrics", "POST")[0] == 405, "POST is not 405")
        # Keep-alive: two requests on one connection.
        conn = http.client.HTTPConnection("127.0.0.1", server.metrics_port, timeout=5)
        for _ in range(2):
            conn.request("GET", "/metrics")
            resp = conn.getresponse()
            expect(resp.status == 200 and len(resp.read()) > 0, "keep-alive scrape")
        conn.close()
        expect(server.stop() == 0, "echo did not exit 0")


def case_prom_checker():
    """The checker itself rejects what it should (else case_metrics proves nothing)."""
    good = ("# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n")
    prom_check.check(good)
    bad = [
        good.replace("a_total 1", "a_total one"),
        good.replace("# TYPE a_total counter\n", ""),
        good.replace("a_total", "a"),
        good.replace('h_bucket{le="1"} 1', 'h_bucket{le="1"} 3'),
        good.replace("h_count 2", "h_count 5"),
        good.replace("h_sum 3\n", ""),
        good[:-1],
        good.replace('{le="1"}', '{le=1}'),
    ]
    for text in bad:
        try:
            prom_check.check(text)
        except ValueError:
            continue
        raise Fail(f"checker accepted bad input:\n{text}")


def case_threads():
    with Server("echo", ["--threads", "2"], metrics=True) as server:
        r, result = load(server.address, "--connections", "64", "--requests", "6400")
        expect(r.returncode == 0 and result["errors"] == 0, f"load: {r.stderr}")
        samples = prom_check.check(scrape(server.metrics_port)[2])
        per_thread = [prom_check.value(samples, "ringxfer_engine_received_bytes_total", thread=str(i)) for i in (0, 1)]
        expect(all(b and b > 0 for b in per_thread), f"bytes per engine thread: {per_thread}")
        expect(sum(per_thread) == 6400 * 64, f"bytes in all: {per_thread}")
        expect(server.stop() == 0, "echo --threads 2 did not exit 0")
        stats = run(["echo", "--listen", "127.0.0.1:0", "--threads", "2", "--help"])
        expect(stats.returncode == 0, "--help with other flags")


def case_stats():
    with Server("echo", ["--stats"]) as server:
        r = run(["load", "--to", server.address, "--requests", "100", "--stats"] + backend_args())
        expect(r.returncode == 0, f"load --stats: {r.stderr}")
        expect(re.search(r"thread 0: syscalls=\d+", r.stderr) and "syscalls per message" in r.stderr,
               f"load --stats: {r.stderr!r}")
        expect(server.stop() == 0, "echo exit")
        server.wait_line(r"thread 0: syscalls=\d+")


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def backend_usable():
    if ARGS.backend != "io_uring":
        return True
    r = run(["probe", "--json"], timeout=30)
    return r.returncode == 0 and json.loads(r.stdout).get("io_uring_usable") is True


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("case", choices=sorted(CASES))
    ARGS = parser.parse_args()
    if not backend_usable():
        print(f"SKIP: backend {ARGS.backend} is not usable here")
        return SKIP
    try:
        CASES[ARGS.case]()
    except (Fail, subprocess.TimeoutExpired, OSError) as e:
        print(f"FAIL {ARGS.case} ({ARGS.backend}): {e}")
        return 1
    print(f"ok {ARGS.case} ({ARGS.backend})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
