#!/usr/bin/env python3
"""Faults against the ringxfer tools (issue 10, item 1), on each backend.

usage: faults_e2e.py --bin PATH [--backend auto|io_uring|epoll] CASE

  slow_readers_serve  clients reading 1 KiB/s from `serve`: its RSS and the
                      bytes queued for them stay bounded (measured)
  slow_reader_proxy   the same through `proxy` from an upstream that sends as
                      fast as it can: what the upstream got rid of minus what
                      the client read stays bounded, and so does the RSS
  emfile_echo         `echo` under RLIMIT_NOFILE 48 with 80 clients: it keeps
  emfile_serve        running and serves again once fds are free (`serve`)
  enospc_recv         `recv --out` into a 1 MiB tmpfs (a mount namespace of
                      its own): exit 1, the error, and the bytes it reports
                      are the bytes in the file
  sigkill_clients     clients SIGKILLed mid-download: `serve` keeps serving
                      and its fd count comes back to where it was
  zerocopy_optmem     `send --strategy zerocopy` in a network namespace whose
                      optmem_max makes MSG_ZEROCOPY fail with ENOBUFS: every
                      byte arrives, by copy (counted as fallbacks)

Exit 0 (pass), 1 (fail, with the reason) or 77 (skip). Every wait is bounded.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_e2e  # noqa: E402
from cli_e2e import Fail, Server, expect  # noqa: E402
from serve_e2e import Tree, read_response  # noqa: E402

SKIP = 77


class Skip(Exception):
    pass


# ------------------------------------------------------------ measurements --

def under_tsan(pid):
    """Whether the process runs with ThreadSanitizer (its runtime is mapped)."""
    with open(f"/proc/{pid}/maps") as f:
        return any("libtsan" in line for line in f)


def rss_kib(pid):
    """Resident memory the process holds itself: VmRSS less RssFile. A large
    file body goes out from a mapping of the file, and the page-cache pages a
    send touched count in VmRSS while mapped, though they are the page cache's
    (shared, reclaimable), not the server's."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssFile"):
                fields[key] = int(rest.split()[0])
    if "VmRSS" not in fields:
        raise Fail(f"no VmRSS for {pid}")
    return fields["VmRSS"] - fields.get("RssFile", 0)


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def tcp_queues(port):
    """(send queue, receive queue) bytes summed over the IPv4 sockets bound to `port`."""
    tx = rx = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) != port:
                continue
            t, r = fields[4].split(":")
            tx += int(t, 16)
            rx += int(r, 16)
    return tx, rx


class SlowReader(threading.Thread):
    """Reads `rate` bytes a second (in 4 pieces) from a socket until stopped."""

    def __init__(self, sock, rate=1024):
        super().__init__(daemon=True)
        self.sock, self.rate = sock, rate
        self.got = bytearray()
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stop.wait(0.25):
                want = self.rate // 4
                while want > 0:
                    chunk = self.sock.recv(want)
                    if not chunk:
                        raise Fail("the server closed a slow reader")
                    self.got += chunk
                    want -= len(chunk)
        except (OSError, Fail) as e:
            self.error = e


def slow_socket(port, request=None):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the reader, not the kernel, sets the pace
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    if request:
        s.sendall(request)
    return s


def download(port, name):
    """GET /name with Connection: close; the length of the body that came."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(f"GET /{name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head = bytearray()
    total = 0
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        if total == 0 and b"\r\n\r\n" not in head:
            head += chunk
            if b"\r\n\r\n" in head:
                total = len(head.split(b"\r\n\r\n", 1)[1])
            continue
        total += len(chunk)
    s.close()
    return total


def watch(pid, seconds, port=None):
    """Samples the RSS (and the queues of `port`) every 0.25 s; returns the maxima."""
    top_rss, top_tx = 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        top_rss = max(top_rss, rss_kib(pid))
        if port is not None:
            top_tx = max(top_tx, tcp_queues(port)[0])
        time.sleep(0.25)
    return top_rss, top_tx


# ------------------------------------------------------------------- cases --

def case_slow_readers_serve():
    clients, seconds = 8, 4
    with Tree() as tree, Server("serve", [tree.root, "--send-timeout", "30"]) as server:
        name = tree.sized(64 << 20)
        with open(os.path.join(tree.root, name), "rb") as f:
            head = f.read(64 << 10)
        # Warm up: whole downloads, so the baseline has every buffer touched.
        for _ in range(2):
            got = download(server.port, name)
            expect(got == (64 << 20), f"warm-up download: {got} bytes")
        base = rss_kib(server.proc.pid)
        readers = []
        for _ in range(clients):
            r = SlowReader(slow_socket(server.port, f"GET /{name} HTTP/1.1\r\nHost: x\r\n\r\n".encode()))
            r.start()
            readers.append(r)
        top_rss, top_tx = watch(server.proc.pid, seconds, server.port)
        for r in readers:
            r.stop.set()
        for r in readers:
            r.join(5)
        got = [len(r.got) for r in readers]
        print(f"slow readers ({cli_e2e.ARGS.backend}): {clients} clients x 64 MiB at 1 KiB/s for {seconds} s: "
              f"server RSS {base} -> max {top_rss} KiB (+{top_rss - base}), max send queue {top_tx} bytes, "
              f"read {got}")
        for r in readers:
            expect(r.error is None, f"a slow reader failed: {r.error}")
            body = bytes(r.got).split(b"\r\n\r\n", 1)[-1]
            expect(head.startswith(body[: len(head)]), "a slow reader got bytes that are not the file's")
        # A server that buffered the file per client would hold 512 MiB.
        # (Not under TSan: its mmap interceptor writes shadow memory for every
        # byte of a mapping, and a body from 1 MiB goes from a mapping of the
        # file: +94 MiB of shadow on epoll. The release and ASan passes check it.)
        if under_tsan(server.proc.pid):
            print("slow readers: RSS bound not checked under TSan (shadow memory of the file mappings)")
        else:
            expect(top_rss - base < 24 << 10, f"server RSS grew by {top_rss - base} KiB with {clients} slow readers")
        # The kernel holds at most its send buffer per socket (tcp_wmem max).
        wmem_max = int(open("/proc/sys/net/ipv4/tcp_wmem").read().split()[2])
        expect(top_tx <= clients * wmem_max, f"send queues {top_tx} bytes > {clients} x {wmem_max}")
        expect(server.proc.poll() is None, "server exited")
        for r in readers:
            r.sock.close()


class Firehose:
    """An upstream that sends to every connection as fast as it can (up to `limit`)."""

    def __init__(self, limit=1 << 30):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.sent = 0
        self.limit = limit
        self.lock = threading.Lock()
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pump, args=(conn,), daemon=True).start()

    def _pump(self, conn):
        chunk = bytes(range(256)) * 256
        conn.settimeout(0.2)
        sent = 0
        while not self.stop.is_set() and sent < self.limit:
            try:
                n = conn.send(chunk)
            except socket.timeout:
                continue
            except OSError:
                break
            sent += n
            with self.lock:
                self.sent += n
        conn.close()

    def close(self):
        self.stop.set()
        self.listener.close()


def case_slow_reader_proxy():
    clients, seconds = 4, 3
    up = Firehose()
    try:
        with Server("proxy", ["--to", f"127.0.0.1:{up.port}"]) as proxy:
            # Warm up: a relay at full speed, so the baseline has the buffers touched.
            warm = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
            total = 0
            while total < (64 << 20):
                total += len(warm.recv(1 << 20))
            warm.close()
            time.sleep(0.3)
            base = rss_kib(proxy.proc.pid)
            with up.lock:
                sent_before = up.sent
            readers = [SlowReader(slow_socket(proxy.port)) for _ in range(clients)]
            for r in readers:
                r.start()

            def queued():
                with up.lock:
                    return up.sent - sent_before - sum(len(r.got) for r in readers)

            top_rss, _ = watch(proxy.proc.pid, seconds)
            mid = queued()
            top_rss = max(top_rss, watch(proxy.proc.pid, seconds)[0])
            end = queued()
            for r in readers:
                r.stop.set()
            for r in readers:
                r.join(5)
            print(f"slow reader proxy ({cli_e2e.ARGS.backend}): {clients} clients at 1 KiB/s: "
                  f"queued {mid} bytes after {seconds} s, {end} after {2 * seconds} s; "
                  f"proxy RSS {base} -> max {top_rss} KiB")
            for r in readers:
                expect(r.error is None, f"a slow reader failed: {r.error}")
                expect(bytes(r.got) == (bytes(range(256)) * (len(r.got) // 256 + 1))[: len(r.got)],
                       "a slow reader got bytes that are not the upstream's")
            # Socket buffers on the way (upstream send, proxy receive and send,
            # client receive) and the relay's window: a few MiB per client, not
            # what the upstream could send in the time (GiB) — and flat.
            expect(end < clients * (24 << 20), f"{end} bytes queued for {clients} slow readers")
            expect(end - mid < clients * (1 << 20), f"the queue grew from {mid} to {end} bytes")
            expect(top_rss - base < 24 << 10, f"proxy RSS grew by {top_rss - base} KiB")
            expect(proxy.proc.poll() is None, "proxy exited")
            for r in readers:
                r.sock.close()
    finally:
        up.close()


def fill_the_fd_table(server, opened=80):
    """Opens `opened` connections (more than RLIMIT_NOFILE lets the server accept)."""
    clients = []
    for _ in range(opened):
        c = socket.socket()
        c.settimeout(5)
        c.connect(("127.0.0.1", server.port))  # completes in the backlog
        clients.append(c)
    time.sleep(1.0)
    expect(server.proc.poll() is None, f"the server exited under EMFILE: {server.lines[-5:]}")
    return clients


def accept_pauses(server):
    """ringxfer_engine_accept_pauses_total and ..._accepts_refused_total from /metrics."""
    status, _, body = cli_e2e.scrape(server.metrics_port)
    expect(status == 200, f"/metrics: {status}")
    found = {}
    for name in ("accept_pauses_total", "accepts_refused_total"):
        values = [float(v) for v in re.findall(rf"^\S*{name}(?:{{[^}}]*}})? (\S+)$", body, re.M)]
        expect(values, f"no {name} in /metrics")
        found[name] = sum(values)
    return found


def case_emfile_echo():
    limit = 48
    with Server("echo", [], prefix=["prlimit", f"--nofile={limit}:{limit}", "--"], metrics=True) as server:
        for round_ in range(2):
            clients = fill_the_fd_table(server)
            # Free fds: the first 40 and the last 20 go. The 20 between
            # (accepted as fds free up) must each get their echo.
            for c in clients[:40] + clients[60:]:
                c.close()
            for i, c in enumerate(clients[40:60]):
                payload = f"round {round_} client {i}\n".encode() * 10
                c.sendall(payload)
                got = b""
                while len(got) < len(payload):
                    chunk = c.recv(4096)
                    if not chunk:
                        raise Fail(f"round {round_}: client {40 + i} closed without its echo")
                    got += chunk
                expect(got == payload, f"round {round_}: client {40 + i} echo differs")
            for c in clients[40:60]:
                c.close()
            time.sleep(0.3)
            cli_e2e.echo_roundtrip("127.0.0.1", server.port, os.urandom(1 << 20))
        expect(server.proc.poll() is None, "echo exited")
        counts = accept_pauses(server)
        print(f"emfile echo ({cli_e2e.ARGS.backend}): {counts}")
        expect(counts["accept_pauses_total"] > 0, "the accept never paused: EMFILE was not reached")
        expect(counts["accepts_refused_total"] == 0, "connections were closed instead of waiting")


def case_emfile_serve():
    limit = 48
    with Tree() as tree, Server("serve", [tree.root], prefix=["prlimit", f"--nofile={limit}:{limit}", "--"],
                                metrics=True) as server:
        for round_ in range(2):
            clients = fill_the_fd_table(server)
            for c in clients[:40] + clients[60:]:
                c.close()
            # Until the server has seen those closes, the connections it
            # accepts (dead ones too: they are in the backlog) can take every
            # fd again, and a file it cannot open is a 503 — the right answer
            # then. Once its fd count settles, every request must succeed.
            settled_fd_count(server.proc.pid)
            for i, c in enumerate(clients[40:60]):
                c.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                st, _, body, _ = read_response(c, b"")
                expect(st == 200 and body == b"hello\n", f"round {round_}: client {40 + i}: {st} {body!r}")
            for c in clients[40:60]:
                c.close()
        expect(server.proc.poll() is None, "serve exited")
        time.sleep(0.3)
        counts = accept_pauses(server)
        print(f"emfile serve ({cli_e2e.ARGS.backend}): {counts}")
        expect(counts["accept_pauses_total"] > 0, "the accept never paused: EMFILE was not reached")
        expect(counts["accepts_refused_total"] == 0, "connections were closed instead of waiting")


def case_enospc_recv():
    if shutil.which("unshare") is None:
        raise Skip("no unshare(1)")
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    if probe.returncode != 0:
        raise Skip(f"cannot make a mount namespace here: {probe.stderr.decode().strip()}")
    with tempfile.TemporaryDirectory() as d:
        mnt = os.path.join(d, "small")
        os.mkdir(mnt)
        out = os.path.join(mnt, "out")
        args = [cli_e2e.ARGS.bin, "recv", "--listen", "127.0.0.1:0", "--out", out] + cli_e2e.backend_args()
        # recv runs in its own mount namespace on a 1 MiB tmpfs; the size of
        # what it wrote is read there, after it exits.
        script = ('mount -t tmpfs -o size=1m tmpfs "$1" || exit 77; shift; out="$1"; shift; '
                  '"$@"; rc=$?; echo "on disk: $(stat -c %s "$out")" >&2; exit $rc')
        proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", mnt, out]
                                + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stderr.readline()
            m = re.search(r"listening on \S+:(\d+)", line)
            if m is None:
                rest = proc.communicate(timeout=10)
                if proc.returncode == SKIP:
                    raise Skip(f"cannot mount a tmpfs in a mount namespace: {line} {rest[1]}")
                raise Fail(f"recv did not start: {line} {rest}")
            payload = os.urandom(4 << 20)
            s = socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=10)
            try:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                s.recv(1)
            except OSError:
                pass  # recv closes (or resets) the connection at the error
            s.close()
            stdout, stderr = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stderr = line + stderr
        print(f"enospc ({cli_e2e.ARGS.backend}): exit {proc.returncode}; stdout {stdout.strip()!r}; "
              f"stderr {stderr.strip()!r}")
        expect(proc.returncode == 1, f"recv into a full file system: exit {proc.returncode}")
        expect("No space left on device" in stderr, "the error is not named")
        reported = re.search(r"recv: (\d+) bytes", stdout)
        on_disk = re.search(r"on disk: (\d+)", stderr)
        expect(reported is not None and on_disk is not None, "no byte count reported")
        expect(int(reported.group(1)) == int(on_disk.group(1)),
               f"recv reports {reported.group(1)} bytes written, the file has {on_disk.group(1)}")
        expect(0 < int(on_disk.group(1)) <= 1 << 20, f"{on_disk.group(1)} bytes on a 1 MiB tmpfs")


def case_zerocopy_optmem():
    """`send --strategy zerocopy` where MSG_ZEROCOPY gets ENOBUFS: every byte arrives, by copy."""
    if os.environ.get("RINGXFER_FAULTS_IN_NETNS") != "1":
        # Run this case again inside a network namespace of its own (loopback
        # only), where net.core.optmem_max can be made tiny for it alone.
        if shutil.which("unshare") is None:
            raise Skip("no unshare(1)")
        r = subprocess.run(["unshare", "-n", sys.executable, os.path.abspath(__file__), "--bin", cli_e2e.ARGS.bin,
                            "--backend", cli_e2e.ARGS.backend, "zerocopy_optmem"],
                           env=dict(os.environ, RINGXFER_FAULTS_IN_NETNS="1"), capture_output=True, text=True,
                           timeout=100)
        print(r.stdout.strip())
        if r.returncode == SKIP or (r.returncode != 0 and "unshare" in r.stderr and not r.stdout):
            raise Skip(f"cannot make a network namespace here: {(r.stdout + r.stderr).strip()}")
        expect(r.returncode == 0, f"in the namespace: {r.stdout.strip()} {r.stderr.strip()}")
        return
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    try:
        with open("/proc/sys/net/core/optmem_max", "w") as f:
            f.write("64\n")
    except OSError as e:
        raise Skip(f"cannot set net.core.optmem_max in a namespace here: {e}")
    # The fault is real: MSG_ZEROCOPY (SO_ZEROCOPY 60, MSG_ZEROCOPY 0x4000000) gets ENOBUFS.
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen()
    c = socket.create_connection(lst.getsockname())
    c.setsockopt(socket.SOL_SOCKET, 60, 1)
    try:
        c.send(b"x" * 65536, 0x4000000)
        raise Skip("MSG_ZEROCOPY did not fail with optmem_max 64 (kernel without per-namespace optmem)")
    except OSError as e:
        expect(e.errno == 105, f"MSG_ZEROCOPY with optmem_max 64: {e}")
    c.close()
    lst.close()
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "src"), os.path.join(d, "dst")
        with open(src, "wb") as f:
            f.write(os.urandom(8 << 20))
        with Server("recv", ["--out", dst]) as server:
            r = cli_e2e.run(["send", "--to", server.address, "--file", src, "--strategy", "zerocopy", "--stats"]
                            + cli_e2e.backend_args())
            code = server.proc.wait(20)
        fallbacks = [int(x) for x in re.findall(r"fallbacks=(\d+)", r.stderr)]
        print(f"zerocopy with optmem_max 64 ({cli_e2e.ARGS.backend}): send exit {r.returncode}, recv exit {code}; "
              f"{r.stdout.strip()}; fallbacks {fallbacks}")
        expect(r.returncode == 0, f"send: exit {r.returncode}: {r.stderr.strip()}")
        expect(code == 0, f"recv: exit {code}")
        with open(src, "rb") as a, open(dst, "rb") as b:
            expect(a.read() == b.read(), "the received file differs")
        if cli_e2e.ARGS.backend == "epoll":  # io_uring's SEND_ZC is not charged to optmem
            expect(fallbacks and sum(fallbacks) > 0, "no fallback counted: was zero-copy refused at all?")


KILLED_CLIENT = r"""
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(("GET /" + sys.argv[2] + " HTTP/1.1\r\nHost: x\r\n\r\n").encode())
got = 0
while got < (256 << 10):
    chunk = s.recv(65536)
    if not chunk:
        break
    got += len(chunk)
print("reading", flush=True)
time.sleep(60)
"""


def kill_clients_mid_download(server, name, clients):
    """Starts `clients` downloads, waits until each has bytes, SIGKILLs them all; fds held meanwhile."""
    procs = [subprocess.Popen([sys.executable, "-c", KILLED_CLIENT, str(server.port), name],
                              stdout=subprocess.PIPE, text=True) for _ in range(clients)]
    try:
        for p in procs:
            line = p.stdout.readline()
            expect(line.strip() == "reading", f"a client did not get its first bytes: {line!r}")
        return fd_count(server.proc.pid)
    finally:
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p in procs:
            p.wait(10)
            p.stdout.close()


def settled_fd_count(pid, until=lambda n: False, timeout=10):
    """The fd count once it has not changed for 0.5 s (or `until` holds), within `timeout`."""
    deadline = time.monotonic() + timeout
    last, since = fd_count(pid), time.monotonic()
    while time.monotonic() < deadline:
        if until(last) or time.monotonic() - since >= 0.5:
            return last
        time.sleep(0.05)
        now = fd_count(pid)
        if now != last:
            last, since = now, time.monotonic()
    return last


def case_sigkill_clients():
    clients, rounds = 8, 3
    # The fd count is the leak detector here, so connections must hold process
    # fds: with accept_direct (io_uring) they live only in the fixed-file
    # table. Its slot reuse is checked in the conformance suite
    # (accept_direct/slot_reuse_while_connections_arrive).
    prefix = ["env", "RINGXFER_DISABLE=accept_direct"]
    with Tree() as tree, Server("serve", [tree.root], prefix=prefix) as server:
        name = tree.sized(64 << 20)
        expect(cli_e2e_get(server.port, "/a.txt") == 200, "server up")
        start = settled_fd_count(server.proc.pid)
        # A first round makes the engine's splice pipes (a pool that is kept,
        # at most 2 fds per download at once on io_uring; epoll uses sendfile).
        kill_clients_mid_download(server, name, clients)
        base = settled_fd_count(server.proc.pid)
        print(f"sigkill ({cli_e2e.ARGS.backend}): fds {start} at start, {base} after the first round")
        # Plus one: serve's open-file cache keeps the downloaded file open.
        expect(base <= start + 2 * clients + 1, f"fds {start} -> {base} after the first round: more than its pipes")
        for round_ in range(rounds):
            during = kill_clients_mid_download(server, name, clients)
            now = settled_fd_count(server.proc.pid, until=lambda n: n == base)
            print(f"sigkill round {round_} ({cli_e2e.ARGS.backend}): fds {base} -> {during} during -> {now} after")
            expect(during >= base + clients, f"the downloads did not hold fds ({base} -> {during})")
            expect(now == base, f"fd count {now} did not come back to {base} within 10 s of the SIGKILLs")
            expect(cli_e2e_get(server.port, "/a.txt") == 200, f"round {round_}: serve no longer serves")
        expect(server.proc.poll() is None, "serve exited")


def cli_e2e_get(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return read_response(s, b"")[0]
    finally:
        s.close()


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("case", choices=sorted(CASES))
    args = parser.parse_args()
    cli_e2e.ARGS = args
    if not cli_e2e.backend_usable():
        print(f"SKIP: backend {args.backend} is not usable here")
        return SKIP
    try:
        CASES[args.case]()
    except Skip as e:
        print(f"SKIP: {e}")
        return SKIP
    except (Fail, subprocess.TimeoutExpired, OSError) as e:
        print(f"FAIL {args.case} ({args.backend}): {e}")
        return 1
    print(f"ok {args.case} ({args.backend})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
