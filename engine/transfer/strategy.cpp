// Strategy names and the `automatic` choice: every threshold in one table.
#include <string_view>

#include "ringxfer/transfer.hpp"

namespace ringxfer {

namespace {

// The thresholds `automatic` uses. ringxfer-perf's `file` scenario measures
// every strategy by size on both backends; update these from its report.
struct AutoThresholds {
  // file -> socket below this: read into one pool buffer and send it with the
  // header in one sendmsg (2 syscalls or SQEs in all). A splice needs a pipe
  // and two splices per chunk (file -> pipe -> socket) and cannot carry the
  // header, so below one pool buffer the copy wins; stop 4's micro benchmark
  // measured 1 SQE per 16 KiB send on io_uring against 81 syscalls per MiB on
  // epoll, i.e. the per-chunk syscall, not the copy, dominates small bodies.
  std::size_t file_copy_below_bytes = 64 * 1024;
  // memory -> socket zero-copy only at or above this, and never by default:
  // over loopback the kernel copies zero-copy pages (zc_copied_ratio 1.00
  // measured in stop 4), and send_zc ran at 0.82x plain send at 64 KiB on
  // io_uring (5.19 vs 6.30 GiB/s). With no NIC here to measure the win,
  // `automatic` keeps memory on the copy path; zerocopy stays a choice.
  bool memory_zerocopy = false;
  // socket -> socket (a relay, until the end of the stream) by splice: off on
  // both backends. A relay direction by splice holds one pipe of the pool
  // for its whole life, so 32 relays (64 pipes) were all a proxy could move
  // at once: with 100 idle connections a new one got no byte (2026-12-01).
  // By copy, a direction waits for its socket to be readable
  // (Engine::wait_readable) before it takes a buffer, so it holds nothing
  // while idle (test idle_relays_hold_no_buffer).
  // io_uring also runs splice on io-wq worker threads (a ~5 s stall in 1
  // run of 8 until splice from a socket polled first). Splice stays a choice.
  bool relay_splice = false;
};
constexpr AutoThresholds thresholds;

}  // namespace

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
        if (to_socket && length < thresholds.file_copy_below_bytes) return Strategy::copy;
        if (to_socket && backend_sendfile) return Strategy::sendfile;
        return backend_splice ? Strategy::splice : Strategy::copy;
      case K::socket:
        if (to_socket && !thresholds.relay_splice) return Strategy::copy;
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

}  // namespace ringxfer
