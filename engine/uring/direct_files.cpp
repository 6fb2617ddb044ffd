#include "uring/direct_files.hpp"

#include <sys/socket.h>

#include "uring/uring_setup.hpp"

namespace ringxfer::detail {

void setup_accept_direct(io_uring& ring, std::uint32_t table_slots, const FeatureSet& off, Capabilities& caps,
                         std::uint64_t& syscalls) noexcept {
  caps.accept_direct = false;
  caps.direct_first = 0;
  // Two halves of at least one slot each, and a registered table to split.
  if (off.has(Feature::accept_direct) || !caps.fixed_files || table_slots < 2) return;
  if (!kernel_version().at_least(6, 0)) return;  // IORING_FILE_INDEX_ALLOC, FILE_ALLOC_RANGE
  // Without FIXED_FD_INSTALL native_handle() could not give an fd for an
  // accepted connection: accept plain fds then.
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  bool install = probe != nullptr && io_uring_opcode_supported(probe, op_fixed_fd_install);
  if (probe != nullptr) io_uring_free_probe(probe);
  if (!install) return;
  // The upper half is the kernel's: a server's accepted connections and a
  // proxy's outgoing ones (engine slots) then have room alike.
  std::uint32_t first = table_slots / 2;
  ++syscalls;
  if (io_uring_register_file_alloc_range(&ring, first, table_slots - first) != 0) return;
  caps.accept_direct = true;
  caps.direct_first = first;
}

void prep_accept_direct(io_uring_sqe* sqe, int fd, bool multishot, int flags) noexcept {
  // A fixed-table entry is no process fd: the kernel refuses SOCK_CLOEXEC
  // for it (EINVAL). The fd native_handle() installs is O_CLOEXEC.
  flags &= ~SOCK_CLOEXEC;
  if (multishot) io_uring_prep_multishot_accept_direct(sqe, fd, nullptr, nullptr, flags);
  else io_uring_prep_accept_direct(sqe, fd, nullptr, nullptr, flags, IORING_FILE_INDEX_ALLOC - 1);
}

void prep_fixed_fd_install(io_uring_sqe* sqe, std::uint32_t slot) noexcept {
  // The kernel wants every field it does not use zero (off, addr, len,
  // buf_index, splice_fd_in, addr3); install_fd_flags (the rw_flags word)
  // zero keeps O_CLOEXEC.
  io_uring_prep_rw(op_fixed_fd_install, sqe, int(slot), nullptr, 0, 0);
  sqe->flags |= IOSQE_FIXED_FILE;
  sqe->rw_flags = 0;
}

}  // namespace ringxfer::detail
