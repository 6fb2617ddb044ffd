#!/usr/bin/env python3
"""End-to-end tests of `ringxfer proxy`, `send` and `recv` (real processes on
loopback; every wait bounded).

usage: bulk_e2e.py --bin PATH [--backend auto|io_uring|epoll] CASE
"""
import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_e2e  # noqa: E402
from cli_e2e import Fail, Server, expect  # noqa: E402


def run(args, timeout=120):
    return cli_e2e.run(args, timeout=timeout)


def backend_args():
    return cli_e2e.backend_args()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_file(directory, name, size):
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        left = size
        seed = size.to_bytes(8, "little")
        while left > 0:
            block = hashlib.sha256(seed).digest() * 32768  # 1 MiB
            seed = block[:8]
            f.write(block[:left])
            left -= min(left, len(block))
    return path


class PlainServer:
    """A plain-socket upstream on loopback (not ringxfer): calls `serve(conn)`
    for each connection on its own thread."""

    def __init__(self, serve, backlog=16, accept=True):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.serve = serve
        if accept:
            threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def close(self):
        self.sock.close()


def recv_all(conn, timeout=20):
    conn.settimeout(timeout)
    chunks = []
    while True:
        b = conn.recv(1 << 16)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


# ---- send / recv ----------------------------------------------------------------


def case_send_file_into_recv_out():
    with tempfile.TemporaryDirectory() as d:
        for size in (0, 1, 4097, 3 << 20, 64 << 20):
            for strategy in ("auto", "copy", "splice", "sendfile", "zerocopy"):
                src = make_file(d, f"src-{size}", size)
                dst = os.path.join(d, f"dst-{size}-{strategy}")
                recv_strategy = strategy if strategy in ("auto", "copy", "splice") else "auto"
                with Server("recv", ["--out", dst, "--strategy", recv_strategy]) as server:
                    r = run(["send", "--to", server.address, "--file", src, "--strategy", strategy, "--json"] + backend_args())
                    expect(r.returncode == 0, f"send {size} B {strategy}: exit {r.returncode}: {r.stderr}")
                    report = json.loads(r.stdout)
                    expect(report["bytes"] == size, f"send {size} B reported {report['bytes']}")
                    for key in ("gbit_per_s", "cpu_s", "syscalls_per_gib", "zc_copied_ratio"):
                        expect(key in report, f"send --json lacks {key}")
                    expect(server.proc.wait(timeout=30) == 0, f"recv exit after {size} B {strategy}")
                expect(sha256_file(dst) == sha256_file(src), f"{size} B by {strategy}: files differ")


def case_send_bytes_and_duration_discard():
    with Server("recv", ["--count", "3"]) as server:
        r = run(["send", "--to", server.address, "--bytes", "100m", "--connections", "3", "--json"] + backend_args())
        expect(r.returncode == 0, f"send --bytes: {r.stderr}")
        expect(json.loads(r.stdout)["bytes"] == 100 << 20, f"send --bytes: {r.stdout}")
        expect(server.proc.wait(timeout=30) == 0, "recv --count 3 exit")
        out = server.proc.stdout.read()
        expect(f"{100 << 20} bytes" in out, f"recv report: {out!r}")
    with Server("recv", ["--count", "1"]) as server:
        t0 = time.monotonic()
        r = run(["send", "--to", server.address, "--duration", "1", "--size", "64k"] + backend_args())
        took = time.monotonic() - t0
        expect(r.returncode == 0 and "Gbit/s" in r.stdout, f"send --duration: {r.stdout} {r.stderr}")
        expect(0.9 < took < 15, f"send --duration 1 took {took:.1f} s")


def case_send_errors():
    r = run(["send", "--to", "127.0.0.1:1", "--bytes", "1k"] + backend_args())
    expect(r.returncode == 1 and "refused" in r.stderr.lower(), f"refused: {r.returncode} {r.stderr}")
    r = run(["send", "--to", "127.0.0.1:1", "--file", "/nonexistent/file"] + backend_args())
    expect(r.returncode == 1 and "/nonexistent/file" in r.stderr, f"missing file: {r.returncode} {r.stderr}")
    for bad in (["--bytes", "1k", "--file", "/etc/hostname"], ["--bytes", "lots"], ["--strategy", "fast", "--bytes", "1"], []):
        r = run(["send", "--to", "127.0.0.1:9"] + bad + backend_args())
        expect(r.returncode == 2, f"send {bad}: exit {r.returncode}: {r.stderr}")
    r = run(["recv", "--listen", "127.0.0.1:0", "--out", "/nonexistent/dir/out"] + backend_args())
    expect(r.returncode == 1 and "/nonexistent/dir/out" in r.stderr, f"recv bad --out: {r.returncode} {r.stderr}")


def case_recv_peer_reset():
    # A sender that resets mid-stream: recv reports the error (exit 1) and
    # the bytes it wrote are on disk.
    with tempfile.TemporaryDirectory() as d:
        dst = os.path.join(d, "out")
        with Server("recv", ["--out", dst]) as server:
            s = socket.create_connection((server.host, server.port))
            s.sendall(b"x" * (1 << 20))
            time.sleep(0.2)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
            code = server.proc.wait(timeout=20)
            expect(code == 1, f"recv after a reset: exit {code}")
        expect(os.path.getsize(dst) <= 1 << 20, "recv wrote more than was sent")


# ---- proxy ---------------------------------------------------------------------


def case_proxy_echo_load():
    # Small request/responses, by every relay strategy. (By splice on io_uring
    # about 1 run in 8 stalled ~5 s until a splice from a socket waited for
    # it to be readable first: tests/test_relay_stall.cpp.)
    strategies = ("auto", "copy", "splice")
    with Server("echo") as echo:
        for strategy in strategies:
            with Server("proxy", ["--to", echo.address, "--strategy", strategy]) as proxy:
                r = run(["load", "--to", proxy.address, "--connections", "32", "--size", "512", "--pipeline", "4",
                         "--requests", "20000", "--json"] + backend_args())
                expect(r.returncode == 0, f"load through proxy ({strategy}): {r.stderr}")
                report = json.loads(r.stdout)
                expect(report.get("errors", 1) == 0, f"load through proxy ({strategy}): {report}")
                expect(proxy.stop() == 0, "proxy exit")


def case_proxy_half_close_and_bulk():
    # Upstream: read everything until the client's FIN, then send the sha256
    # of it and 8 MiB more, then close. The client's FIN must reach the
    # upstream while the other way keeps flowing.
    tail = os.urandom(8 << 20)

    def upstream(conn):
        data = recv_all(conn)
        conn.sendall(hashlib.sha256(data).digest() + tail)
        conn.close()

    up = PlainServer(upstream)
    try:
        with Server("proxy", ["--to", f"127.0.0.1:{up.port}"]) as proxy:
            for size in (0, 100, 32 << 20):
                payload = os.urandom(size)
                c = socket.create_connection((proxy.host, proxy.port))
                threading.Thread(target=lambda: (c.sendall(payload), c.shutdown(socket.SHUT_WR)), daemon=True).start()
                got = recv_all(c)
                c.close()
                expect(got[:32] == hashlib.sha256(payload).digest(), f"{size} B upstream: digest differs")
                expect(got[32:] == tail, f"{size} B: the 8 MiB back differ ({len(got) - 32} bytes)")
            expect(proxy.stop() == 0, "proxy exit")
    finally:
        up.close()


def case_proxy_connect_errors():
    # Refused upstream: the client is closed, the proxy goes on.
    with Server("proxy", ["--to", "127.0.0.1:1"]) as proxy:
        c = socket.create_connection((proxy.host, proxy.port))
        c.settimeout(5)
        expect(c.recv(1) == b"", "client of a refused upstream was not closed")
        proxy.wait_line(r"connect 127\.0\.0\.1:1: .*refused")
        expect(proxy.stop() == 0, "proxy exit")
    # An upstream that never accepts (its backlog full): --connect-timeout.
    full = PlainServer(None, backlog=0, accept=False)
    fillers = []
    try:
        for _ in range(3):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", full.port))
            fillers.append(f)
        time.sleep(0.2)
        with Server("proxy", ["--to", f"127.0.0.1:{full.port}", "--connect-timeout", "0.5"]) as proxy:
            c = socket.create_connection((proxy.host, proxy.port))
            c.settimeout(10)
            t0 = time.monotonic()
            expect(c.recv(1) == b"", "client not closed after the connect timeout")
            took = time.monotonic() - t0
            expect(0.3 < took < 5, f"connect timeout closed the client after {took:.2f} s")
            expect(proxy.stop() == 0, "proxy exit")
    finally:
        for f in fillers:
            f.close()
        full.close()


def case_proxy_idle_and_limits():
    def hold(conn):
        recv_all(conn, timeout=30)
        conn.close()

    up = PlainServer(hold)
    try:
        with Server("proxy", ["--to", f"127.0.0.1:{up.port}", "--idle-timeout", "0.5", "--max-connections", "2"]) as proxy:
            a = socket.create_connection((proxy.host, proxy.port))
            b = socket.create_connection((proxy.host, proxy.port))
            time.sleep(0.1)
            c = socket.create_connection((proxy.host, proxy.port))
            c.settimeout(5)
            expect(c.recv(1) == b"", "a third connection over --max-connections 2 was not closed")
            a.settimeout(10)
            t0 = time.monotonic()
            expect(a.recv(1) == b"", "an idle relay was not closed")
            took = time.monotonic() - t0
            expect(took < 5, f"idle relay closed after {took:.2f} s")
            for s in (a, b, c):
                s.close()
            expect(proxy.stop() == 0, "proxy exit")
    finally:
        up.close()


def case_proxy_in_front_of_serve():
    # Files from serve through proxy, fetched with curl, match by sha256 from
    # 0 B to 64 MiB; both relay strategies.
    import serve_e2e  # noqa: E402
    with serve_e2e.Tree() as tree, serve_e2e.serve(tree) as server:
        names = [tree.sized(n) for n in serve_e2e.SIZES]
        for strategy in ("auto", "copy", "splice"):
            with Server("proxy", ["--to", server.address, "--strategy", strategy]) as proxy:
                out = tempfile.mkdtemp(dir=tree.base)
                args = []
                for n in names:
                    args += [f"http://127.0.0.1:{proxy.port}/{n}", "-o", os.path.join(out, n)]
                r = serve_e2e.curl("--fail", *args, timeout=120)
                expect(r.returncode == 0, f"curl through proxy ({strategy}): {r.stderr.decode()}")
                for n in names:
                    expect(sha256_file(os.path.join(out, n)) == sha256_file(os.path.join(tree.root, n)),
                           f"{n} through proxy ({strategy}): sha256 differs")
                expect(proxy.stop() == 0, "proxy exit")


def case_proxy_threads():
    """--threads 2 end to end (the TSan CI pass runs this with the tsan-built
    ringxfer): load --threads 2 -> proxy --threads 2 -> echo --threads 2, and
    8 parallel downloads from serve --threads 2 through proxy --threads 2,
    every byte checked, every process exits 0 and reports no race."""
    import serve_e2e  # noqa: E402
    with Server("echo", ["--threads", "2"]) as echo, \
            Server("proxy", ["--to", echo.address, "--threads", "2", "--max-connections", "64"]) as proxy:
        r = run(["load", "--to", proxy.address, "--threads", "2", "--connections", "16", "--size", "4096",
                 "--pipeline", "2", "--requests", "4000", "--json"] + backend_args())
        expect(r.returncode == 0, f"load --threads 2 through proxy --threads 2: {r.stderr}")
        report = json.loads(r.stdout)
        expect(report.get("errors", 1) == 0 and report.get("mismatches", 1) == 0 and report.get("messages") == 4000,
               f"load through proxy: {report}")
        expect(proxy.stop() == 0, "proxy --threads 2 exit")
        expect(echo.stop() == 0, "echo --threads 2 exit")
    with serve_e2e.Tree() as tree, serve_e2e.serve(tree, "--threads", "2") as server, \
            Server("proxy", ["--to", server.address, "--threads", "2"]) as proxy:
        name = tree.sized((4 << 20) + 3)
        want = sha256_file(os.path.join(tree.root, name))
        out = os.path.join(tree.base, "t")
        procs = [subprocess.Popen(["curl", "-sS", "--fail", "-o", f"{out}{i}", f"http://127.0.0.1:{proxy.port}/{name}"])
                 for i in range(8)]
        for i, p in enumerate(procs):
            expect(p.wait(60) == 0, f"download {i} through proxy --threads 2")
            expect(sha256_file(f"{out}{i}") == want, f"download {i} through proxy --threads 2 differs")
        expect(proxy.stop() == 0, "proxy --threads 2 exit")
        expect(server.stop() == 0, "serve --threads 2 exit")


def case_proxy_bad_flags():
    for bad in ([], ["--to", "nowhere"], ["--to", "127.0.0.1:9", "--strategy", "zerocopy"],
                ["--to", "127.0.0.1:9", "--idle-timeout", "0"]):
        r = run(["proxy", "--listen", "127.0.0.1:0"] + bad + backend_args())
        expect(r.returncode == 2, f"proxy {bad}: exit {r.returncode}: {r.stderr}")


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("case", choices=sorted(CASES))
    cli_e2e.ARGS = parser.parse_args()
    if not cli_e2e.backend_usable():
        print(f"SKIP: backend {cli_e2e.ARGS.backend} is not usable here")
        return cli_e2e.SKIP
    try:
        CASES[cli_e2e.ARGS.case]()
    except (Fail, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
        print(f"FAIL {cli_e2e.ARGS.case} ({cli_e2e.ARGS.backend}): {e!r}")
        return 1
    print(f"ok {cli_e2e.ARGS.case} ({cli_e2e.ARGS.backend})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
