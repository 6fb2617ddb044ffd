"""The servers (and senders) under test, and how each is started.

A subject is one column of the comparison: ringxfer on io_uring, ringxfer on
epoll, the Asio peers, and in full mode nginx, HAProxy and iperf3."""
import os
import shutil
import socket
import subprocess
import tempfile

from .procs import Server

RINGXFER_BACKENDS = ("io_uring", "epoll")


class Tools:
    """Paths of the binaries (from the launcher) and what is installed."""

    def __init__(self, ringxfer, load, peer_epoll, peer_uring):
        self.ringxfer = ringxfer
        self.load = load
        self.peer = {"asio-epoll": peer_epoll, "asio-uring": peer_uring}
        self.nginx = shutil.which("nginx") or (os.path.exists("/usr/sbin/nginx") and "/usr/sbin/nginx") or None
        self.haproxy = shutil.which("haproxy") or (os.path.exists("/usr/sbin/haproxy") and "/usr/sbin/haproxy") or None
        self.iperf3 = shutil.which("iperf3")
        self.wrk = shutil.which("wrk")
        self.strace = shutil.which("strace")
        self.has_serve = self._has_subcommand("serve")

    def _has_subcommand(self, name):
        r = subprocess.run([self.ringxfer, name, "--help"], capture_output=True, text=True)
        return r.returncode == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ringxfer_server(tools, backend, command, extra, cpus):
    """`ringxfer COMMAND` on BACKEND with a metrics endpoint (syscalls per op)."""
    argv = [tools.ringxfer, command] + extra + ["--listen", "127.0.0.1:0", "--backend", backend,
                                                "--metrics", "127.0.0.1:0"]
    return Server(argv, "stderr-listening", cpus)


def peer_server(tools, flavour, command, extra, cpus):
    argv = [tools.peer[flavour], command] + extra + ["--listen", "127.0.0.1:0"]
    return Server(argv, "stdout-port", cpus)


NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 20000; }}
worker_rlimit_nofile 40000;
http {{
  access_log off;
  sendfile {sendfile};
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 60;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  types {{ application/octet-stream bin; }}
  server {{
    listen 127.0.0.1:{port} reuseport;
    root {root};
  }}
}}
"""


def nginx_server(tools, root, sendfile, cpus):
    d = tempfile.mkdtemp(prefix="ringxfer-perf-nginx-")
    port = free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=d, port=port, root=root, sendfile="on" if sendfile else "off"))
    return Server([tools.nginx, "-c", conf, "-p", d, "-e", os.path.join(d, "error.log")], str(port), cpus)


HAPROXY_CONF = """
global
  maxconn 4000
  nbthread 1
  tune.maxpollevents 1024
defaults
  mode tcp
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  option splice-auto
  option splice-request
  option splice-response
frontend in
  bind 127.0.0.1:{port}
  default_backend out
backend out
  server upstream 127.0.0.1:{upstream}
"""


def haproxy_server(tools, upstream_port, cpus):
    d = tempfile.mkdtemp(prefix="ringxfer-perf-haproxy-")
    port = free_port()
    conf = os.path.join(d, "haproxy.cfg")
    with open(conf, "w") as f:
        f.write(HAPROXY_CONF.format(port=port, upstream=upstream_port))
    # -db: foreground; nbthread 1 keeps it to one thread like the others.
    return Server([tools.haproxy, "-db", "-q", "-f", conf], str(port), cpus)
