#pragma once
/// @file
/// Counters an Engine keeps. Every syscall the engine makes on the I/O path is
/// counted, for both backends, so the perf harness can compare syscalls per byte.
#include <cstdint>
#include <iosfwd>

namespace ringxfer {

/// Engine counters (Engine::stats()); monotonic from construction.
struct Stats {
  std::uint64_t syscalls = 0;        ///< every syscall on the I/O path (io_uring_enter included)
  std::uint64_t enter_calls = 0;     ///< io_uring_enter (0 on epoll)
  std::uint64_t epoll_waits = 0;     ///< epoll_wait (0 on io_uring)
  std::uint64_t sqes = 0;            ///< SQEs submitted (io_uring)
  std::uint64_t cqes = 0;            ///< completions reaped (CQEs, or imitated ones on epoll)
  std::uint64_t ops_started = 0;     ///< engine operations started by the user
  std::uint64_t ops_completed = 0;   ///< engine operations completed (handler ran for the last time)
  std::uint64_t bytes_in = 0;        ///< bytes received or read
  std::uint64_t bytes_out = 0;       ///< bytes sent, written or spliced out
  std::uint64_t zc_sends = 0;        ///< zero-copy sends (each SQE or MSG_ZEROCOPY sendmsg)
  std::uint64_t zc_copied = 0;       ///< zero-copy notifications reporting the kernel copied
  std::uint64_t short_sends = 0;     ///< sends/splices that moved less than asked and were continued

  /// Operations that took a core fallback path: a feature missing or
  /// disabled, or zero-copy refused by the kernel (ENOBUFS/ENOMEM: sent by copy).
  std::uint64_t fallbacks = 0;
  std::uint64_t sq_full = 0;         ///< times the SQ was full and had to be flushed
  std::uint64_t cq_overflows = 0;    ///< CQ overflow events seen (completions were parked by the kernel)
  std::uint64_t recv_starved = 0;    ///< recv paused because no receive buffer was free
  std::uint64_t pipe_waits = 0;      ///< splices that waited for a free pipe of the pool
  std::uint64_t accept_pauses = 0;   ///< accept paused after EMFILE/ENFILE/ENOBUFS/ENOMEM or no fd slot
  std::uint64_t accepts_refused = 0; ///< connections closed at once: no fd slot for them
  std::uint64_t start_failures = 0;  ///< operations that could not start (empty OpId; see OpId::error)
  std::uint64_t sigpipe_syscalls = 0; ///< epoll: syscalls keeping splice/sendfile from raising SIGPIPE (in syscalls too)
  std::uint64_t msg_ring_wakes = 0;  ///< io_uring: other engines woken by an IORING_OP_MSG_RING SQE (no write(2))
};

/// How much of its capacity an Engine is using. Op and fd slots are allocated
/// in slabs as they are needed, up to the capacity (EngineOptions::op_slots,
/// fd_slots); a slot whose handle was closed is in use until its fd is closed.
struct SlotUsage {
  std::uint32_t op_slots_in_use = 0;     ///< operations in flight (plus closes)
  std::uint32_t op_slots_capacity = 0;   ///< EngineOptions::op_slots as resolved
  std::uint32_t fd_slots_in_use = 0;     ///< live handles plus slots still closing
  std::uint32_t fd_slots_capacity = 0;   ///< EngineOptions::fd_slots as resolved

  /// More operations that can start now.
  std::uint32_t op_slots_free() const noexcept { return op_slots_capacity - op_slots_in_use; }
  /// More handles (connections, files) that fit now.
  std::uint32_t fd_slots_free() const noexcept { return fd_slots_capacity - fd_slots_in_use; }
};

/// Every counter as "name value" lines.
std::ostream& operator<<(std::ostream& os, const Stats& s);

}  // namespace ringxfer
