#pragma once
// Direct descriptors: connections accepted straight into the fixed-file table
// (IORING_FILE_INDEX_ALLOC), so that accepting and closing a connection cost
// no io_uring_register call, and the one way back to a process fd
// (IORING_OP_FIXED_FD_INSTALL) for native_handle().
//
// The table is split: slots [0, direct_first) are the engine's (attach_fd
// fills them with IORING_REGISTER_FILES_UPDATE), slots [direct_first, end) are
// the kernel's allocation range (IORING_REGISTER_FILE_ALLOC_RANGE), and the
// index the kernel picks for a connection is its FdTable slot.
#include <liburing.h>

#include <cstdint>

#include "backend.hpp"

namespace ringxfer::detail {

// Kernel 6.8 uapi; liburing 2.3's enum stops at IORING_OP_SENDMSG_ZC (48).
inline constexpr std::uint8_t op_fixed_fd_install = 54;

// Turns caps.accept_direct on if the kernel can do all of it (multishot or
// single accept direct with allocation: 6.0; FIXED_FD_INSTALL: 6.8, found by
// the opcode probe) and the allocation range registers; sets
// caps.direct_first. Needs the sparse fixed table of `table_slots` in place.
// Costs one io_uring_register (counted in `syscalls`).
void setup_accept_direct(io_uring& ring, std::uint32_t table_slots, const FeatureSet& disabled,
                         Capabilities& caps, std::uint64_t& syscalls) noexcept;

// The accept SQE for `request` (listener `fd`, already named as fixed or not
// by the caller), into a kernel-allocated slot.
void prep_accept_direct(io_uring_sqe* sqe, int fd, bool multishot, int flags) noexcept;

// IORING_OP_FIXED_FD_INSTALL for fixed slot `slot`: the CQE's result is a new
// process fd (O_CLOEXEC) for the same file.
void prep_fixed_fd_install(io_uring_sqe* sqe, std::uint32_t slot) noexcept;

}  // namespace ringxfer::detail
