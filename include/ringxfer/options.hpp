#pragma once
/// @file
/// EngineOptions: sizes, backend choice and switches, fixed when the Engine
/// is constructed.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include "ringxfer/features.hpp"
#include "ringxfer/inline_function.hpp"

namespace ringxfer {

/// How an Engine is built. The defaults suit a server; every size is a
/// capacity, allocated as it is used where noted.
struct EngineOptions {
  BackendKind backend = BackendKind::automatic;  ///< RINGXFER_BACKEND overrides, if set
  std::uint32_t ring_entries = 256;              ///< SQ size; the CQ gets cq_factor times as many
  std::uint32_t cq_factor = 4;                   ///< CQ >= 2 x SQ (DESIGN); 4 leaves room for multishot bursts

  /// FdTable capacity (the registered-file table on io_uring). 0: the process's
  /// RLIMIT_NOFILE soft limit (it cannot hold more fds; a server raises that
  /// limit first, as nginx's worker_rlimit_nofile does), at most 2^20. With
  /// Feature::accept_direct the upper half is for accepted connections (the
  /// kernel allocates them there, and they hold no process fd), the lower half
  /// for everything else (listeners, connects, files, adopted fds).
  std::uint32_t fd_slots = 0;
  /// Operations in flight at most. 0: 4 x fd_slots, at least 4096. Both tables
  /// are allocated in slabs as they fill, so a large capacity costs nothing
  /// until it is used.
  std::uint32_t op_slots = 0;
  std::size_t buffer_size_bytes = 64 * 1024;     ///< each pool buffer
  std::uint32_t buffer_count = 256;              ///< pool buffers in all
  std::uint32_t recv_buffer_count = 128;         ///< of those, the shared receive buffers (provided-buffer ring)

  /// Splice pipes in the pool (made when first needed); a splice that finds
  /// none free waits for one.
  std::uint32_t pipe_count = 64;
  std::size_t pipe_size_bytes = 1 << 20;         ///< F_SETPIPE_SZ for each pipe (clamped by the kernel)
  bool sqpoll = false;                           ///< IORING_SETUP_SQPOLL

  /// ~Engine cancels what is in flight and waits up to this long for the
  /// kernel to hand it back; then it runs the remaining handlers itself
  /// (operation_canceled) and tears the ring down.
  std::chrono::milliseconds drain_timeout{10'000};
  /// RINGXFER_DISABLE adds to this. recv_bundle starts disabled (opt in by
  /// removing it): receive bundles let one busy socket take every shared
  /// receive buffer in one turn (features.hpp).
  FeatureSet disabled = FeatureSet().add(Feature::recv_bundle);
  bool read_environment = true;                  ///< honour RINGXFER_BACKEND / RINGXFER_DISABLE

  /// Test hook: pretend io_uring_setup fails with this errno (0 = off), as it
  /// does in a seccomp-filtered container or with kernel.io_uring_disabled=2.
  int simulate_uring_setup_errno = 0;
};

/// How Engine::connect() makes and connects its socket.
struct ConnectOptions {
  /// Give up after this long: the connect ends with std::errc::timed_out and
  /// its socket is closed. 0: no limit of ours (the kernel's SYN retries end
  /// it after about two minutes). On io_uring a linked IORING_OP_LINK_TIMEOUT
  /// (no extra syscall); on epoll a timer of the engine's timer heap.
  std::chrono::nanoseconds timeout{0};
  /// Called with the new socket's fd before connect(2): bind(2) a source
  /// address or port, SO_MARK, SO_BINDTODEVICE, TCP_NODELAY, IP_TOS ... An
  /// error returned from it ends the connect with that error (the handler
  /// runs from the loop; the socket is closed). The fd is the engine's: do not
  /// close it. It runs inside connect(), before connect() returns.
  InlineFunction<std::error_code(int fd), 64> before_connect;
};

/// How Engine::listen() makes its listening socket. Every listener gets
/// SO_REUSEADDR (a restarted server can bind at once despite TIME_WAIT).
///
/// Pass it by name or with designated initializers
/// (`engine.listen(addr, sock, {.reuse_port = true})`): a bare `{}` picks the
/// older `listen(address, out, int backlog)` overload with a backlog of 0.
struct ListenOptions {
  /// listen(2) backlog: connections the kernel completes and queues for
  /// accept. Capped by net.core.somaxconn.
  int backlog = 1024;
  /// SO_REUSEPORT: several sockets (in this process or others of the same
  /// user) listen on one address and the kernel spreads new connections over
  /// them (by a hash of the 4-tuple): one listener per thread, as nginx's
  /// `reuseport`. Every socket sharing the port must set it.
  bool reuse_port = false;
  /// IPV6_V6ONLY for an IPv6 address: 1 = IPv6 only, 0 = IPv4-mapped
  /// connections too, -1 = leave the kernel default (net.ipv6.bindv6only).
  /// Ignored for IPv4.
  int v6_only = -1;
  /// Called with the new socket's fd after the options above are set and
  /// before bind(2) and listen(2): set anything else here (SO_RCVBUF, which
  /// accepted sockets inherit; SO_BINDTODEVICE; TCP_DEFER_ACCEPT;
  /// TCP_FASTOPEN ...). An error returned from it ends listen() with that
  /// error (the socket is closed). The fd is the engine's: do not close it.
  InlineFunction<std::error_code(int fd), 64> before_listen;
};

}  // namespace ringxfer
