"""Processes under test: start, pin, wait until ready, and read what /proc
says about them (CPU, run-queue wait, peak RSS) over a measured window."""
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def pin_preexec(cpus):
    """A preexec_fn that pins the child (and every thread it starts) to cpus."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def tree_pids(pid):
    """pid and its descendants (nginx and haproxy fork their workers)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except OSError:
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids):
    """utime + stime of these processes (all their threads), in seconds."""
    ticks = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except OSError:
            pass
    return ticks / CLK_TCK


def runqueue_wait_seconds(pids):
    """Time the threads were runnable but waiting for a CPU (schedstat field 2)."""
    ns = 0
    for p in pids:
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    ns += int(f.read().split()[1])
        except OSError:
            pass
    return ns / 1e9


def peak_rss_kib(pids):
    """VmHWM, summed over the process tree."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class Sample:
    """One reading of a server's counters."""

    def __init__(self, server):
        pids = tree_pids(server.pid)
        self.t = time.monotonic()
        self.cpu_s = cpu_seconds(pids)
        self.wait_s = runqueue_wait_seconds(pids)
        self.syscalls = server.scrape_syscalls()


class Server:
    """A server under test in its own process.

    ready: "stdout-port" (the peers print their port first), "stderr-listening"
    (ringxfer: "listening on HOST:PORT"), or a fixed port to poll by connect."""

    def __init__(self, argv, ready, cpus, env=None, cwd=None):
        self.argv = argv
        self.ready = ready
        self.cpus = cpus
        self.env = env
        self.cwd = cwd
        self.proc = None
        self.port = None
        self.metrics_url = None
        self.stderr_lines = []
        self.slow_stop = False

    @property
    def pid(self):
        return self.proc.pid

    def start(self, timeout_s=10.0):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=self.env, cwd=self.cwd,
                                     preexec_fn=pin_preexec(self.cpus))
        deadline = time.monotonic() + timeout_s
        if self.ready == "stdout-port":
            line = self.proc.stdout.readline().strip()
            if not line.isdigit():
                self._fail(f"expected its port on stdout, got {line!r}")
            self.port = int(line)
            self._drain(self.proc.stderr)
        elif self.ready == "stderr-listening":
            while self.port is None:
                line = self.proc.stderr.readline()
                if not line:
                    self._fail("exited before listening")
                self.stderr_lines.append(line)
                m = re.search(r"metrics at (http://\S+/metrics)", line)
                if m:
                    self.metrics_url = m.group(1)
                m = re.search(r"listening on \S*:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
            self._drain(self.proc.stderr)
        else:
            self.port = int(self.ready)
            import socket
            while True:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                    break
                except OSError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        self._fail("never accepted a connection")
                    time.sleep(0.05)
            self._drain(self.proc.stderr)
        self._drain(self.proc.stdout)
        return self

    def _drain(self, stream):
        def run():
            for line in stream:
                if len(self.stderr_lines) < 200:
                    self.stderr_lines.append(line)
        threading.Thread(target=run, daemon=True).start()

    def _fail(self, why):
        self.stop()
        raise RuntimeError(f"{self.argv[0]}: {why}; stderr: {''.join(self.stderr_lines)[-800:]}")

    def scrape_syscalls(self):
        """The engine's syscall counter (ringxfer only, from --metrics)."""
        if not self.metrics_url:
            return None
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return None
        total = 0
        for line in text.splitlines():
            if line.startswith("ringxfer_engine_syscalls_total"):
                total += float(line.split()[-1])
        return total

    def peak_rss_kib(self):
        return peak_rss_kib(tree_pids(self.pid))

    def stop(self):
        """SIGTERM; a second one after 1 s (ringxfer: "a second signal exits
        at once"), then SIGKILL. slow_stop records that the first was not enough:
        the measurement is over by then, but the report says so."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=1)
            return
        except subprocess.TimeoutExpired:
            self.slow_stop = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_client(argv, cpus, timeout_s, pass_fds=(), env=None):
    """Runs a client to its end; returns (exit code, stdout, stderr, rusage).
    os.wait4 gives the child's own CPU time and peak RSS after it exits."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, pass_fds=pass_fds, env=env, preexec_fn=pin_preexec(cpus))
    return proc


def wait_client(proc, timeout_s):
    """Waits for a client started by run_client; kills it after timeout_s."""
    out_parts, err_parts = [], []

    def reader(stream, parts):
        parts.append(stream.read())
    threads = [threading.Thread(target=reader, args=(proc.stdout, out_parts), daemon=True),
               threading.Thread(target=reader, args=(proc.stderr, err_parts), daemon=True)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout_s
    rusage = None
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            proc.kill()
            _, status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = -9
            break
        time.sleep(0.01)
    for t in threads:
        t.join(timeout=2)
    return proc.returncode, "".join(out_parts), "".join(err_parts), rusage
