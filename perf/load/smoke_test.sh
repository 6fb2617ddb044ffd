#!/usr/bin/env bash
# perf smoke tests: a load client against an Asio peer, for about a second.
#
#   smoke_test.sh CASE LOAD_EXE PEER_EXE BACKEND
#
# CASE is echo, echo_threads, stream_sink, stream_source, accept, get, corrupt_echo,
# http_404 or open_loop_stall. BACKEND (epoll or io_uring) is what the peer must really use:
# checked in /proc/PID/fd (an io_uring instance and no epoll instance, or
# the reverse). Every case also checks that the peer stops with exit 0 on
# SIGTERM. Exit 77 (skip) when io_uring is disabled on this machine.
set -euo pipefail

case_name=$1 load=$2 peer=$3 backend=$4
work=$(mktemp -d)
peer_pid=
cleanup() {
  if [[ -n "$peer_pid" ]] && kill -0 "$peer_pid" 2>/dev/null; then kill -KILL "$peer_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL ($case_name, $backend): $*" >&2; exit 1; }

if [[ "$backend" == io_uring && "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" != 0 ]]; then
  echo "io_uring is disabled (kernel.io_uring_disabled): skip"
  exit 77
fi

# Starts the peer; waits (at most 5 s) for the port line.
start_peer() {
  "$peer" "$@" >"$work/port" 2>"$work/peer.err" &
  peer_pid=$!
  for _ in $(seq 100); do
    [[ -s "$work/port" ]] && break
    kill -0 "$peer_pid" 2>/dev/null || fail "the peer exited early: $(cat "$work/peer.err")"
    sleep 0.05
  done
  port=$(head -1 "$work/port")
  [[ "$port" =~ ^[0-9]+$ ]] || fail "no port line from the peer (got '$port')"
  check_backend
}

check_backend() {
  local fds
  fds=$(ls -l "/proc/$peer_pid/fd" 2>/dev/null | sed -n 's/.*-> //p')
  local uring=no epoll=no
  grep -q 'anon_inode:\[io_uring\]' <<<"$fds" && uring=yes
  grep -q 'anon_inode:\[eventpoll\]' <<<"$fds" && epoll=yes
  case "$backend" in
    io_uring) [[ $uring == yes && $epoll == no ]] || fail "peer fds: io_uring=$uring eventpoll=$epoll, want io_uring only" ;;
    epoll) [[ $epoll == yes && $uring == no ]] || fail "peer fds: io_uring=$uring eventpoll=$epoll, want eventpoll only" ;;
    *) fail "unknown backend '$backend'" ;;
  esac
}

stop_peer() {
  kill -TERM "$peer_pid"
  local rc=0
  wait "$peer_pid" || rc=$?
  peer_pid=
  [[ $rc == 0 ]] || fail "the peer exited with $rc on SIGTERM: $(cat "$work/peer.err")"
}

# Runs the load client; sets out (its stdout) and rc.
run_load() {
  rc=0
  out=$("$load" "$@" --json 2>"$work/load.err") || rc=$?
}

field() {  # the value of a top-level JSON number/bool/string field in $out
  sed -n "s/^  \"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" <<<"$out"
}
want_positive() {
  local v
  v=$(field "$1")
  [[ -n "$v" ]] || fail "no field $1 in: $out"
  awk -v v="$v" 'BEGIN { exit !(v > 0) }' || fail "$1 is $v, want > 0"
}
want_equal() {
  local v
  v=$(field "$1")
  [[ "$v" == "$2" ]] || fail "$1 is '$v', want '$2'; output: $out; stderr: $(cat "$work/load.err")"
}
want_fields() {
  local f
  for f in "$@"; do [[ -n "$(field "$f")" ]] || fail "no field $f in: $out"; done
}

target() { echo "127.0.0.1:$port"; }

case "$case_name" in
  echo)
    start_peer echo
    run_load echo --target "$(target)" --connections 8 --in-flight 4 --size 100 --duration 1 --warmup 0.2
    [[ $rc == 0 ]] || fail "load exit $rc: $(cat "$work/load.err")"
    want_equal mode echo
    want_equal errors 0
    want_equal errors_verify 0
    want_positive msgs_per_s
    want_positive bytes_per_s
    want_positive latency_us_p50
    want_fields latency_us_p99 latency_us_p999 latency_us_max cpu_s cpu_busy_ratio client_saturated
    # Every byte echoed was checked: received = 100 B per measured message.
    [[ $(field rx_bytes) -ge $(($(field messages) * 100)) ]] || fail "rx_bytes below messages x size"
    stop_peer
    ;;
  echo_threads)
    # Two threads, two SO_REUSEPORT listeners on one port; 2 client threads.
    start_peer echo --threads 2
    run_load echo --target "$(target)" --connections 16 --in-flight 2 --threads 2 --duration 1 --warmup 0.2
    [[ $rc == 0 ]] || fail "load exit $rc: $(cat "$work/load.err")"
    want_equal errors 0
    want_equal threads 2
    want_positive msgs_per_s
    stop_peer
    ;;
  stream_sink)
    start_peer stream --mode source
    run_load stream --target "$(target)" --mode sink --duration 1 --warmup 0.2
    [[ $rc == 0 ]] || fail "load exit $rc: $(cat "$work/load.err")"
    want_equal errors 0
    want_positive gbit_per_s
    want_positive bytes
    want_fields cpu_s client_saturated
    stop_peer
    ;;
  stream_source)
    start_peer stream --mode sink
    run_load stream --target "$(target)" --mode source --duration 1 --warmup 0.2
    [[ $rc == 0 ]] || fail "load exit $rc: $(cat "$work/load.err")"
    want_equal errors 0
    want_positive gbit_per_s
    stop_peer
    ;;
  accept)
    start_peer echo
    run_load accept --target "$(target)" --concurrency 4 --request-size 32 --duration 1 --warmup 0.2
    [[ $rc == 0 ]] || fail "load exit $rc: $(cat "$work/load.err")"
    want_equal errors 0
    want_positive connections_per_s
    want_positive latency_us_p50
    run_load accept --target "$(target)" --concurrency 4 --duration 0.5 --warmup 0.1
    [[ $rc == 0 ]] || fail "load exit $rc (half-close cycle): $(cat "$work/load.err")"
    want_positive connections_per_s
    # Source addresses in turn: a listener that records each connection's
    # peer address (TIME_WAIT entries would not do: the kernel's bucket
    # table may be full after other runs, and then none is kept).
    python3 -c '
import socket, sys, time
l = socket.create_server(("127.0.0.1", 0)); l.settimeout(0.2)
print(l.getsockname()[1], flush=True)
seen = set(); end = time.time() + 3
while time.time() < end:
    try: c, a = l.accept()
    except socket.timeout: continue
    seen.add(a[0]); c.settimeout(1)
    while c.recv(4096): pass
    c.close()
print(" ".join(sorted(seen)), flush=True)' >"$work/sources" &
    recorder=$!
    for _ in $(seq 100); do [[ -s "$work/sources" ]] && break; sleep 0.05; done
    run_load accept --target "127.0.0.1:$(head -1 "$work/sources")" --concurrency 2 --duration 0.3 --warmup 0 --source-addresses 8
    [[ $rc == 0 ]] || fail "load exit $rc (--source-addresses 8): $(cat "$work/load.err")"
    want_equal source_addresses 8
    wait "$recorder"
    # (127.0.0.1: the one blocking probe connect before the run.)
    sources=$(sed -n 2p "$work/sources")
    [[ "$sources" == "127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6 127.0.0.7 127.0.0.8 127.0.0.9" ]] ||
      fail "--source-addresses 8: peers seen '$sources', want 127.0.0.1 (the probe) and 127.0.0.2 .. 127.0.0.9"
    run_load accept --target "$(target)" --concurrency 1 --duration 0.1 --warmup 0 --source-addresses 0
    [[ $rc == 2 ]] || fail "--source-addresses 0: exit $rc, want 2"
    stop_peer
    ;;
  get)
    mkdir "$work/root"
    head -c 5000 /dev/zero >"$work/root/file"
    start_peer http --root "$work/root"
    run_load get --target "$(target)" --path /file --expect-length 5000 --connections 4 --duration 1 --warmup 0.2
    [[ $rc == 0 ]] || fail "load exit $rc: $(cat "$work/load.err")"
    want_equal errors 0
    want_positive requests_per_s
    # A wrong expected length is caught.
    run_load get --target "$(target)" --path /file --expect-length 4999 --connections 1 --duration 0.3 --warmup 0
    [[ $rc == 1 ]] || fail "--expect-length mismatch: exit $rc, want 1"
    want_equal errors_verify 1
    stop_peer
    ;;
  http_404)
    mkdir "$work/root"
    start_peer http --root "$work/root"
    run_load get --target "$(target)" --path /missing --connections 1 --duration 0.3 --warmup 0
    [[ $rc == 1 ]] || fail "GET of a missing file: exit $rc, want 1"
    want_equal errors_verify 1
    grep -q "other than 200" "$work/load.err" || fail "stderr does not name the status: $(cat "$work/load.err")"
    stop_peer
    ;;
  corrupt_echo)
    # A server that answers one 64-byte message with 64 bytes nobody sent
    # (the stream source, then its close) must fail the byte check, not
    # merely the close after it: verification is real.
    start_peer stream --mode source --bytes 64
    run_load echo --target "$(target)" --connections 1 --size 64 --duration 0.5 --warmup 0
    [[ $rc == 1 ]] || fail "echo against a non-echo server: exit $rc, want 1"
    want_equal errors_verify 1
    want_equal errors_closed 0
    stop_peer
    ;;
  open_loop_stall)
    # Coordinated omission: the server stops for 300 ms in the middle of an
    # open-loop run at 2000 msgs/s. Every message due during the stall must
    # count its wait from when it was due: ~600 of ~4000 messages wait up
    # to 300 ms, so p90 is about 100 ms. A client timing from the actual
    # send would report one slow message per connection and a p90 of
    # microseconds to a few ms.
    start_peer echo
    "$load" echo --target "$(target)" --connections 4 --rate 2000 --duration 2 --warmup 0 --json \
      >"$work/load.out" 2>"$work/load.err" &
    load_pid=$!
    sleep 0.7
    kill -STOP "$peer_pid"
    sleep 0.3
    kill -CONT "$peer_pid"
    rc=0
    wait "$load_pid" || rc=$?
    out=$(cat "$work/load.out")
    [[ $rc == 0 ]] || fail "load exit $rc: $(cat "$work/load.err")"
    want_equal loop open
    p90=$(field latency_us_p90)
    awk -v v="$p90" 'BEGIN { exit !(v >= 50000) }' || fail "p90 is $p90 us after a 300 ms stall, want >= 50000 (latency not measured from the intended send time?)"
    stop_peer
    ;;
  *)
    fail "unknown case"
    ;;
esac
echo "ok ($case_name, $backend)"
