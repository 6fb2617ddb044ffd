#!/usr/bin/env python3
"""Soak run of the ringxfer tools (issue 10 item 5). `tools/dev soak` builds
release and runs this; not a unit test.

1. echo: `ringxfer load` holds N concurrent connections against
   `ringxfer echo` for S seconds on each backend; load checks every echoed
   byte (it exits 1 on a mismatch, a failed connection or an unanswered
   message). The echo server's fd count and RSS are sampled every few seconds
   once all connections are up, printed, and must stay flat: at the end at
   most FD_SLACK more fds and at most RSS_GROWTH_PCT % + RSS_SLACK_MIB more
   RSS than at the start of the measured run.
2. files: a random file is downloaded K times with curl from `ringxfer serve`
   and K times through `ringxfer proxy` in front of it; every download's
   CRC (cksum) must match the file's. serve's and proxy's fds return to where
   they were, and their RSS stays within the same bound.

Full (default): 10 000 connections x 60 s per backend; 1 GiB x 100 per path.
--quick: 1 000 connections x 10 s; 64 MiB x 5. Every process runs under a
time limit; the whole run stops by itself. Exit 0 if every check held.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

FD_SLACK = 8             # fds: end <= start + FD_SLACK
RSS_GROWTH_PCT = 10      # RSS: end <= start * (1 + pct/100) + slack
RSS_SLACK_MIB = 8


class SoakFailure(Exception):
    pass


def log(msg):
    print(f"soak: {msg}", flush=True)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def within(start_kib, end_kib):
    return end_kib <= start_kib * (1 + RSS_GROWTH_PCT / 100) + RSS_SLACK_MIB * 1024


class Proc:
    """A ringxfer server: started with port 0, its address read from stderr."""

    def __init__(self, binary, args, name):
        self.name = name
        self.proc = subprocess.Popen([binary] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        first = self.proc.stderr.readline()
        self.lines.append(first)
        m = re.search(r"listening on (\S+?):(\d+)", first)
        if not m:
            self.proc.kill()
            raise SoakFailure(f"{name}: no 'listening on' line: {first!r} {self.proc.stderr.read()!r}")
        self.port = int(m.group(2))
        self.address = f"{m.group(1)}:{self.port}"
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def pid(self):
        return self.proc.pid

    def sample(self):
        return fd_count(self.pid), rss_kib(self.pid)

    def settled_fds(self, timeout=5.0):
        last, same = fd_count(self.pid), 0
        deadline = time.monotonic() + timeout
        while same < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
            n = fd_count(self.pid)
            same = same + 1 if n == last else 0
            last = n
        return last

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise SoakFailure(f"{self.name} did not exit within 15 s of SIGTERM")
        if code != 0:
            raise SoakFailure(f"{self.name} exited {code}: {''.join(self.lines[-10:])}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------------ echo --

def soak_echo(binary, backend, connections, seconds, results):
    log(f"echo/{backend}: {connections} connections x {seconds} s, 64 B messages, every byte checked")
    warmup = max(3.0, connections / 2000)  # all connections up before the measured run
    server = Proc(binary, ["echo", "--listen", "127.0.0.1:0", "--backend", backend], f"echo ({backend})")
    try:
        fds_idle, rss_idle = server.sample()
        load = subprocess.Popen(
            [binary, "load", "--to", server.address, "--backend", backend, "--threads", "2",
             "--connections", str(connections), "--size", "64", "--pipeline", "1",
             "--duration", str(seconds), "--warmup", str(warmup), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        samples = []
        t0 = time.monotonic()
        time.sleep(warmup + 1)
        interval = max(1.0, seconds / 12)
        while load.poll() is None and time.monotonic() - t0 < warmup + seconds - 0.5:
            fds, rss = server.sample()
            samples.append((time.monotonic() - t0, fds, rss))
            log(f"  echo/{backend} t={samples[-1][0]:5.1f}s fds={fds} rss={rss / 1024:.1f} MiB")
            time.sleep(interval)
        try:
            out, err = load.communicate(timeout=warmup + seconds + 120)
        except subprocess.TimeoutExpired:
            load.kill()
            raise SoakFailure(f"echo/{backend}: load did not finish in time")
        if load.returncode != 0:
            raise SoakFailure(f"echo/{backend}: load exited {load.returncode}: {err.strip()}")
        report = json.loads(out)
        if report["errors"] or report["mismatches"] or report["failed_connections"] or report["unanswered"]:
            raise SoakFailure(f"echo/{backend}: {report}")
        if len(samples) < 2:
            raise SoakFailure(f"echo/{backend}: only {len(samples)} samples")
        _, fds_start, rss_start = samples[0]
        _, fds_end, rss_end = samples[-1]
        fds_conn = fds_start - fds_idle
        if fds_conn < connections:
            raise SoakFailure(f"echo/{backend}: {fds_conn} connection fds at the start, want {connections}")
        if fds_end > fds_start + FD_SLACK or not within(rss_start, rss_end):
            raise SoakFailure(f"echo/{backend}: not flat: fds {fds_start} -> {fds_end}, "
                              f"RSS {rss_start} -> {rss_end} KiB")
        server.stop()
        r = dict(backend=backend, connections=connections, seconds=report["seconds"], messages=report["messages"],
                 msgs_per_s=report["msgs_per_s"], p99_us=report["latency_us_p99"],
                 fds_idle=fds_idle, fds_start=fds_start, fds_end=fds_end,
                 rss_idle_kib=rss_idle, rss_start_kib=rss_start, rss_end_kib=rss_end)
        results.append(("echo", r))
        log(f"echo/{backend}: ok: {report['messages']} messages ({report['msgs_per_s']:.0f}/s, p99 "
            f"{report['latency_us_p99'] / 1000:.1f} ms), 0 mismatches; server fds {fds_start} -> {fds_end}, "
            f"RSS {rss_start / 1024:.1f} -> {rss_end / 1024:.1f} MiB (idle {rss_idle / 1024:.1f} MiB)")
    finally:
        server.kill()


# ----------------------------------------------------------------- files --

def cksum_of_download(url, timeout):
    """(crc, bytes, seconds) of curl URL | cksum."""
    t0 = time.monotonic()
    curl = subprocess.Popen(["curl", "-sS", "--fail", "--max-time", str(timeout), url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    ck = subprocess.Popen(["cksum"], stdin=curl.stdout, stdout=subprocess.PIPE, text=True)
    curl.stdout.close()
    out, _ = ck.communicate(timeout=timeout + 10)
    curl_err = curl.stderr.read().decode()
    if curl.wait(10) != 0:
        raise SoakFailure(f"{url}: curl exited {curl.returncode}: {curl_err.strip()}")
    crc, size = out.split()[:2]
    return crc, int(size), time.monotonic() - t0


def soak_files(binary, backend, path, count, parallel, results):
    size = os.path.getsize(path)
    want = subprocess.run(["cksum", path], capture_output=True, text=True, check=True).stdout.split()[0]
    root = os.path.dirname(path)
    name = os.path.basename(path)
    serve = Proc(binary, ["serve", root, "--listen", "127.0.0.1:0", "--backend", backend], f"serve ({backend})")
    proxy = None
    try:
        proxy = Proc(binary, ["proxy", "--listen", "127.0.0.1:0", "--to", serve.address, "--backend", backend],
                     f"proxy ({backend})")
        for via, port, watched in (("serve", serve.port, [serve]), ("proxy", proxy.port, [serve, proxy])):
            url = f"http://127.0.0.1:{port}/{name}"
            # `parallel` downloads at once first, so the start samples count
            # what that many transfers hold once (a pipe each in the engine's
            # pipe pool, pool buffers), not an idle server.
            warm = []
            threads = [threading.Thread(target=lambda: warm.append(cksum_of_download(url, timeout=600)))
                       for _ in range(parallel)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if len(warm) != parallel or any(c != want or g != size for c, g, _ in warm):
                raise SoakFailure(f"{via}/{backend}: warm-up downloads: {warm}, want crc {want} size {size}")
            start = {p.name: (p.settled_fds(), rss_kib(p.pid)) for p in watched}
            log(f"{via}/{backend}: {count} x {size / 2**20:.0f} MiB, {parallel} at a time; start "
                + ", ".join(f"{n} fds={f} rss={r / 1024:.1f} MiB" for n, (f, r) in start.items()))
            done = 0
            bad = []
            total_bytes = 0
            lock = threading.Lock()
            t0 = time.monotonic()

            def worker(n):
                nonlocal done, total_bytes
                for _ in range(n):
                    try:
                        c, g, secs = cksum_of_download(url, timeout=600)
                    except (SoakFailure, subprocess.TimeoutExpired, ValueError) as e:
                        with lock:
                            bad.append(str(e))
                        return
                    with lock:
                        done += 1
                        total_bytes += g
                        if c != want or g != size:
                            bad.append(f"download {done}: crc {c} size {g}")
                        if done % max(1, count // 10) == 0:
                            log(f"  {via}/{backend}: {done}/{count} ok so far, "
                                + ", ".join(f"{p.name} fds={fd_count(p.pid)} rss={rss_kib(p.pid) / 1024:.1f} MiB"
                                            for p in watched))

            shares = [count // parallel + (1 if i < count % parallel else 0) for i in range(parallel)]
            threads = [threading.Thread(target=worker, args=(n,)) for n in shares]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            took = time.monotonic() - t0
            if bad:
                raise SoakFailure(f"{via}/{backend}: {len(bad)} bad downloads: {bad[:5]}")
            if done != count:
                raise SoakFailure(f"{via}/{backend}: {done} of {count} downloads")
            end = {p.name: (p.settled_fds(), rss_kib(p.pid)) for p in watched}
            for n in start:
                (f0, r0), (f1, r1) = start[n], end[n]
                if f1 > f0 + FD_SLACK or not within(r0, r1):
                    raise SoakFailure(f"{via}/{backend}: {n} not flat: fds {f0} -> {f1}, RSS {r0} -> {r1} KiB")
            gbit = total_bytes * 8 / took / 1e9
            results.append((via, dict(backend=backend, downloads=count, size=size, crc=want, seconds=took,
                                      gbit_per_s=gbit, start=start, end=end)))
            log(f"{via}/{backend}: ok: {count} downloads, every cksum {want}, {total_bytes / 2**30:.1f} GiB in "
                f"{took:.1f} s ({gbit:.2f} Gbit/s incl. cksum); "
                + ", ".join(f"{n} fds {start[n][0]} -> {end[n][0]}, RSS {start[n][1] / 1024:.1f} -> "
                            f"{end[n][1] / 1024:.1f} MiB" for n in start))
        proxy.stop()
        serve.stop()
    finally:
        if proxy:
            proxy.kill()
        serve.kill()


# ------------------------------------------------------------------ main --

def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))  # root only
            soft, hard = need, need
        except (ValueError, OSError):
            raise SoakFailure(f"RLIMIT_NOFILE hard limit {hard} < {need}; raise it (ulimit -Hn) or use fewer connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def make_file(directory, size):
    path = os.path.join(directory, "soak.bin")
    log(f"writing {size / 2**20:.0f} MiB of random bytes to {path}")
    with open("/dev/urandom", "rb") as src, open(path, "wb") as dst:
        left = size
        block = 8 << 20
        while left > 0:
            n = min(block, left)
            dst.write(src.read(n))
            left -= n
    return path


def main():
    p = argparse.ArgumentParser(description="Soak run of ringxfer echo, serve and proxy.")
    p.add_argument("--bin", required=True, help="the ringxfer executable")
    p.add_argument("--quick", action="store_true", help="1 000 connections x 10 s; 64 MiB x 5 downloads")
    p.add_argument("--connections", type=int)
    p.add_argument("--seconds", type=float)
    p.add_argument("--file-mib", type=int)
    p.add_argument("--downloads", type=int)
    p.add_argument("--parallel", type=int, default=2, help="downloads at a time (default 2)")
    p.add_argument("--backends", default="io_uring,epoll", help="for the echo part (default io_uring,epoll)")
    p.add_argument("--file-backends", default="io_uring", help="for serve and proxy (default io_uring)")
    p.add_argument("--skip", default="", help="comma list of parts to skip: echo, files")
    p.add_argument("--dir", help="where the test file goes (default: a temporary directory under /tmp)")
    a = p.parse_args()
    connections = a.connections or (1000 if a.quick else 10000)
    seconds = a.seconds or (10 if a.quick else 60)
    file_mib = a.file_mib or (64 if a.quick else 1024)
    downloads = a.downloads or (5 if a.quick else 100)
    skip = set(filter(None, a.skip.split(",")))
    if shutil.which("curl") is None or shutil.which("cksum") is None:
        log("error: needs curl and cksum (tools/dev setup installs curl)")
        return 1

    results = []
    t0 = time.monotonic()
    workdir = None
    try:
        limit = raise_nofile(connections + 1024)
        log(f"RLIMIT_NOFILE {limit}; bounds: fds end <= start + {FD_SLACK}, "
            f"RSS end <= start x {1 + RSS_GROWTH_PCT / 100:.2f} + {RSS_SLACK_MIB} MiB")
        if "echo" not in skip:
            for backend in a.backends.split(","):
                soak_echo(a.bin, backend, connections, seconds, results)
        if "files" not in skip:
            workdir = tempfile.mkdtemp(prefix="ringxfer-soak-", dir=a.dir)
            path = make_file(workdir, file_mib << 20)
            for backend in a.file_backends.split(","):
                soak_files(a.bin, backend, path, downloads, a.parallel, results)
    except (SoakFailure, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
        log(f"FAILED after {time.monotonic() - t0:.0f} s: {e}")
        return 1
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    log(f"all passed in {time.monotonic() - t0:.0f} s")
    for kind, r in results:
        log(f"  {kind}: {json.dumps(r)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
