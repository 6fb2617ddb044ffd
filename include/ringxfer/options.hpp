#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "ringxfer/features.hpp"

namespace ringxfer {

struct EngineOptions {
  BackendKind backend = BackendKind::automatic;  // RINGXFER_BACKEND overrides, if set
  std::uint32_t ring_entries = 256;              // SQ size; the CQ gets cq_factor times as many
  std::uint32_t cq_factor = 4;                   // CQ >= 2 x SQ (DESIGN); 4 leaves room for multishot bursts
  // FdTable capacity (the registered-file table on io_uring). 0: the process's
  // RLIMIT_NOFILE soft limit (it cannot hold more fds; a server raises that
  // limit first, as nginx's worker_rlimit_nofile does), at most 2^20.
  std::uint32_t fd_slots = 0;
  // Operations in flight at most. 0: 4 x fd_slots, at least 4096. Both tables
  // are allocated in slabs as they fill, so a large capacity costs nothing
  // until it is used.
  std::uint32_t op_slots = 0;
  std::size_t buffer_size_bytes = 64 * 1024;     // each pool buffer
  std::uint32_t buffer_count = 256;              // pool buffers in all
  std::uint32_t recv_buffer_count = 128;         // of those, the shared receive buffers (provided-buffer ring)
  std::uint32_t pipe_count = 64;                 // splice pipes in the pool (made when first needed); a
                                                 // splice that finds none free waits for one
  std::size_t pipe_size_bytes = 1 << 20;         // F_SETPIPE_SZ for each pipe (clamped by the kernel)
  bool sqpoll = false;                           // IORING_SETUP_SQPOLL
  // ~Engine cancels what is in flight and waits up to this long for the
  // kernel to hand it back; then it runs the remaining handlers itself
  // (operation_canceled) and tears the ring down.
  std::chrono::milliseconds drain_timeout{10'000};
  // RINGXFER_DISABLE adds to this. recv_bundle starts disabled (opt in by
  // removing it): receive bundles let one busy socket take every shared
  // receive buffer in one turn (features.hpp).
  FeatureSet disabled = FeatureSet().add(Feature::recv_bundle);
  bool read_environment = true;                  // honour RINGXFER_BACKEND / RINGXFER_DISABLE
  // Test hook: pretend io_uring_setup fails with this errno (0 = off), as it
  // does in a seccomp'd container or with kernel.io_uring_disabled=2.
  int simulate_uring_setup_errno = 0;
};

}  // namespace ringxfer
