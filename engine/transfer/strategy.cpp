// Strategy names and the `automatic` choice: every threshold in one table.
#include <string_view>

#include "ringxfer/transfer.hpp"
#include "transfer/transfer_machine.hpp"

namespace ringxfer {

namespace {

// The thresholds `automatic` uses. ringxfer-perf's `file` scenario measures
// every strategy by size on both backends; update these from its report.
struct AutoThresholds {
  // file -> socket: read into pool buffers (fixed buffers on io_uring) and
  // send them below file_splice_from_bytes and from file_copy_from_bytes up;
  // splice in between (io_uring; sendfile(2) on epoll). Measured with
  // `ringxfer serve` under wrk -t1 -c16 (serve on CPU 0, wrk on CPU 1), 3
  // alternated rounds of 2 s per size, this table's earlier bands (splice or
  // sendfile from 64 KiB up) against copy at every size from 64 KiB, req/s
  // per round (2026-12-01, kernel 6.18, a 2-vCPU VM at load average ~20:
  // ratios only):
  //
  //   size    io_uring splice / copy              epoll sendfile / copy
  //   64K     4451 5239 4358 / 1533 1161 1384     (sendfile both: 1953-2270 / 1629-1806)
  //   1M       505  413  707 /  286  278  313      405  529  640 /  319  369  303
  //   2M       256  150  304 /  168  166  162      254  174  128 /  188  157  149
  //   4M        32   26   62 /   62   85   84       55   67   69 /   91   88   85
  //   16M      7.9 10.0  7.7 / 22.6 23.0 22.6      7.6  8.4  8.1 / 23.1 15.4 23.2
  //
  // (nginx 1 worker, sendfile on, in the same rounds: 64K 1675-2964, 1M
  // 375-463, 16M 7.8-9.3.) Below one pool buffer the copy carries the head
  // in the same sendmsg; a splice needs a pipe and two splices per chunk and
  // runs on io-wq on io_uring. The file_transfer rows of ringxfer-micro
  // (sender and receiver on one thread) put copy ahead from 1 MiB; under a
  // real client it is ahead from 4 MiB, for the reason below.
  //
  // Why copy wins from 4 MiB over loopback, and why its server CPU per GB
  // stays above nginx sendfile's. Same setup, 5 alternated rounds of 3 s,
  // 2026-12-01 at load average 2.5-4.7 (the CPU per GB holds under load, the
  // req/s does not): server CPU from /proc/<pid>/stat, client CPU from wrk's
  // rusage, s/GB, median:
  //
  //   size   server: copy  splice  sendfile  nginx-sf   client: copy  splice  sendfile  nginx-sf
  //   16M           0.35   0.21    0.14      0.18               0.22   0.56    0.52      0.52
  //   4M            0.33   0.19    0.18      0.26               0.20   0.30    0.29      0.30
  //   1M            0.32   0.27    0.37      0.40               0.22   0.13    0.22      0.20
  //
  // The client is the limit, not the server (server busy 0.15-0.21 at 16 MiB
  // by splice or sendfile). wrk makes the same syscalls in every variant
  // (strace -c: ~2 200 reads of 8 KiB and as many FIONREAD per 16 MiB
  // response), yet each byte costs it 2.5x more behind splice or sendfile.
  // perf record of wrk at 16 MiB: _copy_to_iter 0.25 s/GB behind splice
  // (0.22 behind nginx sendfile) against 0.086 behind copy: the same copy, 3x
  // slower, because its source is the file's page-cache pages, cold (16 MiB
  // of them against a 2 MiB L2 per core), where copy's skb pages were written
  // by the server just before and are recycled, hot. And handle_softirqs
  // 0.11 s/GB (none behind copy), with tcp_write_xmit, __tcp_transmit_skb
  // and __dev_queue_xmit 5-10x copy's in wrk's context: with the server
  // ahead, its send queue is full and the client's ACKs transmit it from the
  // client's softirq, so the loopback path runs on the client's CPU. At 1 MiB the one file stays in the
  // client's cache and splice costs the client less than copy (0.13 vs 0.22).
  // With one client CPU, req/s ~ 1 / client s/GB: 0.56 / 0.22 = 2.5, the
  // quiet run's 247 / 85 req/s at 16 MiB (2.9x). The `file` scenario shows
  // the same (ringxfer-perf --scenario file --backend io_uring, 3 rounds of
  // 2 s, load average 4-5): 16 MiB copy 21.9 [21.4-22.8] Gbit/s at 0.41 s/GB,
  // splice 10.3 [9.9-10.7] at 0.23, sendfile 9.8 at 0.22.
  //
  // Someone reads the cold pages once: copy does it on the server (its s/GB
  // is that read plus two hot copies), splice and sendfile leave it to the
  // client. No splice or sendfile setting moves it (standalone file ->
  // loopback A/B, reader on its own CPU with 8 KiB reads, 5-7 rounds): pipes
  // of 64 KiB, 256 KiB and 1 MiB, SPLICE_F_MORE, SO_SNDBUF 16 MiB, sendfile of
  // 64 KiB and 16 MiB a call, TCP_NOTSENT_LOWAT 128 KiB all left the reader
  // at 0.27-0.44 s/GB against 0.18-0.28 behind copy (pipes above 1 MiB need
  // CAP_SYS_RESOURCE past fs.pipe-max-size; more splices in flight would only
  // speed a server that is not the limit). Reading every cache line of a
  // chunk before sending it cost the sender 0.04-0.2 s/GB and took only
  // 0.02-0.08 off the reader. So no splice or sendfile setting has copy's
  // throughput at their server CPU here; copy through pool buffers had ~2.5x
  // nginx's req/s for ~2x its server CPU per GB. One copy instead of two
  // did better: send from an mmap of the file cost the sender 0.32 [0.28-0.38]
  // s/GB against pread + send's 0.54 [0.48-0.67] (9 rounds, 256 KiB sends),
  // with the reader at copy's cost (0.17 vs 0.18; sendfile 0.67).
  //
  // One path has both: send straight from a mapping of the file (mmap, then
  // sendmsgs of 1 MiB of it, munmap; removed, see below). The server
  // pays the cold read once, in the kernel's copy into the skb, and the
  // client copies hot data. So from file_map_from_bytes `automatic` copies
  // that way (an explicit `copy` keeps the pool buffers; a failed mmap falls
  // back to them, and so does a file that shrinks under the mapping: EFAULT,
  // never SIGBUS, as only the kernel touches it). serve under wrk as above,
  // alternated rounds, median [min-max]:
  //
  //   16M, 4 rounds    server s/GB         client s/GB   req/s
  //   copy (pool)      0.33 [0.26-0.37]    0.22          110 [80-199]
  //   mapped, 1 MiB    0.18 [0.18-0.19]    0.19          173 [52-199]
  //   16M, 4 rounds, as committed (a tsan build running alongside):
  //   io_uring copy    0.34 [0.31-0.34]    0.22          105 [84-133]
  //   io_uring mapped  0.21 [0.20-0.22]    0.25          121 [111-133]
  //   epoll copy       0.32 [0.31-0.34]    0.21           95 [90-99]
  //   epoll mapped     0.24 [0.22-0.25]    0.19          119 [115-129]
  //   nginx sendfile   0.17 [0.16-0.18]    0.50           71 [66-73]
  //   16M, 5 rounds at load average 4, server (client) s/GB: mapped in
  //   256 KiB steps 0.27 (0.22), copy 0.36 (0.24), splice 0.19 (0.58),
  //   nginx sendfile 0.17 (0.54). 4M, 5 rounds: copy 0.35, mapped (256 KiB)
  //   0.26, splice 0.28, nginx sendfile 0.31; req/s 483 / 506 / 440 / 463.
  //
  // Left as they are: munmap's TLB shootdown grows with --threads (one map
  // per response; an open-file cache could keep them), and vm.max_map_count
  // bounds the maps open at once (past it, the pool path). Over a NIC the
  // reader is elsewhere and never reads our page cache; there splice or
  // sendfile would keep the low CPU without the penalty above (not
  // measurable on this machine).
  //
  // The mapped band starts at 1 MiB (it was 4 MiB): the quiet full run of
  // 22:12 had serve at 1 MiB by splice 2 846 req/s [2 528-3 063] against
  // nginx sendfile off 4 861, and the file scenario copy 20.2 vs auto
  // (splice) 16.5 Gbit/s. `ringxfer serve` under wrk -t1 -c16 -d3s (serve on
  // CPU 0, wrk on CPU 1), quiet machine, alternated, req/s and server CPU
  // per request: 1 MiB, 3 rounds: mapped 4 687 [4 565-4 960] at 196 us,
  // splice 3 000 [2 505-3 177] at 299 us; 2 MiB, 2 rounds: mapped 2 298 /
  // 2 270 at 384-416 us, splice 1 246 / 1 208 at 722-742 us. At 256 KiB
  // mapped looked ahead too (22 950 [21 846-23 936] vs splice 17 143
  // [11 903-25 761]) but splice's spread is too wide to move that band on.
  std::size_t file_splice_from_bytes = 64 * 1024;
  std::size_t file_copy_from_bytes = 4 * 1024 * 1024;
  // Sending a file body from a mapping (one copy, in the kernel's sendmsg,
  // rather than read + send's two; figures above) was removed: a file
  // truncated while its mapping is sent reads as zeros up to the end of the
  // page that holds the new end (only whole pages past it fault), so the peer
  // got up to a page of bytes the file never had --
  // faults/file_truncated_during_a_transfer caught it on io_uring_sqpoll
  // (4 197 376 bytes sent for a file cut at 4 194 305; CI, 2026-12-01 23:10).
  // A size check around each send cannot close that race. The pool path and
  // splice/sendfile stop exactly at the new end.
  // memory -> socket zero-copy only at or above this, and never by default:
  // over loopback the kernel copies zero-copy pages (zc_copied_ratio 1.00
  // measured in stop 4), and send_zc ran at 0.82x plain send at 64 KiB on
  // io_uring (5.19 vs 6.30 GiB/s). With no NIC here to measure the win,
  // `automatic` keeps memory on the copy path; zerocopy stays a choice.
  bool memory_zerocopy = false;
  // socket -> socket (a relay direction, until the end of the stream): in
  // turns (transfer_machine.hpp). Each turn waits until the source is
  // readable, holding nothing, then moves what is there by copy or by splice;
  // a splice turn takes a pipe for that turn only and gives it back when the
  // source has no more (an idle direction holds no pipe and no buffer:
  // tests idle_relays_hold_no_buffer, idle_splice_relays_hold_no_pipe), and
  // a turn that finds every pipe busy goes by copy. `automatic` starts a
  // direction by copy and switches it to splice after
  // relay_large_reads_to_splice reads in a row of relay_large_read_bytes (or
  // a full pool buffer), back to copy after relay_small_turns_to_copy splice
  // turns in a row below relay_small_turn_bytes. (Until 2026-12-01 a splice
  // direction held one pipe for its whole life: 32 relays took all 64 pipes
  // and with 100 idle connections a new one got no byte; auto was copy.)
  //
  // Measured 2026-12-01 (kernel 6.18, 2-vCPU VM shared with other builds,
  // run-queue wait 0.1-0.5: ratios to HAProxy in the same run are what
  // counts): `ringxfer-perf --scenario proxy --pin split` (proxy on CPU 0;
  // ringxfer-load stream source, 256 KiB writes, and the Asio sink on CPU
  // 1), 3 runs of 3 alternated rounds per row, the runs' medians: median
  // [min-max]; Gbit/s, proxy CPU s/GB, and x HAProxy splice:
  //
  //   bulk, 1 conn         io_uring                        epoll
  //   auto = copy (old)     5.90 [5.33-6.56] 0.52  0.97x    5.92 [5.68-6.30] 0.52  0.95x
  //   auto, 1 MiB pipes    11.6  [10.9-11.7] 0.35  1.78x    7.90 [7.00-8.32] 0.26  1.09x
  //   auto, 256 KiB pipes  11.3  [10.7-11.9] 0.33  1.46x    7.70 [6.21-7.88] 0.28  1.08x
  //   auto, 64 KiB pipes    9.02 [8.94-9.80] 0.43  1.39x    7.22 [5.60-7.65] 0.34  1.03x
  //   splice, 1 MiB pipes  10.6  [10.3-10.8] 0.34  1.50x    7.47 [6.64-8.69] 0.26  1.14x
  //
  // (HAProxy splice in the same runs: 6.5-7.3 Gbit/s, 0.24-0.32 s/GB; the
  // load's CPU 0.14-0.36 busy: not saturated.) 1 MiB pipes (the engine's
  // default) move the most: a splice turn ends at the first short read, and
  // a small pipe ends it more often. 100 conn x 64 B request/response never
  // leaves copy under auto: io_uring 1.27x [1.08-1.41] HAProxy, 6.85 s/Mop
  // (auto = copy: 1.43x [1.07-1.46], 7.12 s/Mop; HAProxy itself varied
  // 41-70k msg/s across these runs). Old and new alternated, 3 runs each of
  // `--quick --duration 1.2 --warmup 0.4`: io_uring 7.54 vs 7.35 s/Mop and
  // 0.069 vs 0.072 syscalls/msg, epoll 8.76 vs 8.75 s/Mop and 6.03 vs 6.15
  // (msg/s varied 2x between runs at load average 4.4).
  bool relay_splice = true;
  std::size_t relay_large_read_bytes = 32 * 1024;
  std::uint32_t relay_large_reads_to_splice = 4;
  std::size_t relay_small_turn_bytes = 4 * 1024;
  std::uint32_t relay_small_turns_to_copy = 2;
};
constexpr AutoThresholds thresholds;

}  // namespace

namespace detail {
}  // namespace detail

std::string_view to_string(Strategy strategy) noexcept {
  switch (strategy) {
    case Strategy::automatic: return "auto";
    case Strategy::copy: return "copy";
    case Strategy::splice: return "splice";
    case Strategy::sendfile: return "sendfile";
    case Strategy::zerocopy: return "zerocopy";
  }
  return "?";
}

bool parse_strategy(std::string_view text, Strategy& out) noexcept {
  for (Strategy s : {Strategy::automatic, Strategy::copy, Strategy::splice, Strategy::sendfile, Strategy::zerocopy}) {
    if (text == to_string(s)) {
      out = s;
      return true;
    }
  }
  return false;
}

Strategy choose_strategy(Source::Kind source, Sink::Kind sink, std::size_t length, Strategy asked,
                         const Features& features) noexcept {
  using K = Source::Kind;
  const bool backend_splice = features.has(Feature::splice);
  const bool on_epoll = features.backend == BackendKind::epoll;
  const bool backend_sendfile = on_epoll && backend_splice;
  const bool to_socket = sink == Sink::Kind::socket;
  // A socket source of a bounded length must never read past it: only a
  // splice (or core's exact fallback behind Engine::splice) can promise that.
  if (source == K::socket && length != until_eof) return backend_splice ? Strategy::splice : Strategy::copy;

  if (asked == Strategy::automatic) {
    switch (source) {
      case K::memory:
        return to_socket && thresholds.memory_zerocopy ? Strategy::zerocopy : Strategy::copy;
      case K::file:
        if (!to_socket) return backend_splice ? Strategy::splice : Strategy::copy;  // file -> file: not measured here
        if (length < thresholds.file_splice_from_bytes) return Strategy::copy;
        if (length != until_eof && length >= thresholds.file_copy_from_bytes) return Strategy::copy;
        if (backend_sendfile) return Strategy::sendfile;
        return backend_splice ? Strategy::splice : Strategy::copy;
      case K::socket:
        // To a socket: copy first, splice turn by turn once reads come
        // large (relay_turns(); the transfer machine switches).
        if (to_socket) return Strategy::copy;
        return backend_splice ? Strategy::splice : Strategy::copy;
    }
  }
  // What was asked, where the backend and the endpoints allow it.
  switch (asked) {
    case Strategy::zerocopy:
      return to_socket ? Strategy::zerocopy : Strategy::copy;
    case Strategy::sendfile:
      if (source != K::file || !to_socket) return backend_splice && source != K::memory ? Strategy::splice : Strategy::copy;
      return backend_sendfile ? Strategy::sendfile : (backend_splice ? Strategy::splice : Strategy::copy);
    case Strategy::splice:
      return backend_splice && source != K::memory ? Strategy::splice : Strategy::copy;
    default:
      return Strategy::copy;
  }
}

namespace detail {

RelayTurns relay_turns(const Features& features) noexcept {
  RelayTurns t;
  t.splice = thresholds.relay_splice && features.has(Feature::splice);
  t.large_read_bytes = thresholds.relay_large_read_bytes;
  t.large_reads_to_splice = thresholds.relay_large_reads_to_splice;
  t.small_turn_bytes = thresholds.relay_small_turn_bytes;
  t.small_turns_to_copy = thresholds.relay_small_turns_to_copy;
  return t;
}

}  // namespace detail

}  // namespace ringxfer
