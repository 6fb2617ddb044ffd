#pragma once
// Ring setup with its fallback chain, and the probe that `ringxfer probe` and
// the backend share.
#include <liburing.h>

#include <string>

#include "backend.hpp"
#include "uring/uring_compat.hpp"

// liburing 2.3's headers predate these (kernel 6.2); the values are uapi.
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

namespace ringxfer::detail {

struct KernelVersion {
  int major = 0;
  int minor = 0;
  bool at_least(int ma, int mi) const noexcept { return major > ma || (major == ma && minor >= mi); }
};
KernelVersion kernel_version() noexcept;

// Sets up `ring` trying SINGLE_ISSUER|DEFER_TASKRUN, then COOP_TASKRUN, then
// plain (SQPOLL variants first when asked), each with SUBMIT_ALL and a CQ of
// cq_factor x SQ. Returns 0 or -errno of the last attempt; `mode` names the
// setup that worked.
int setup_ring(io_uring& ring, const EngineOptions& options, std::string& mode) noexcept;

// What a ring of this kernel offers natively, less what `disabled` turns off:
// opcodes from the probe; multishot accept (5.19) and recv (6.0) by kernel
// version, since the opcode probe cannot see flags. fixed_files, fixed_buffers
// and buf_ring are settled later by registering.
Capabilities native_capabilities(io_uring& ring, const FeatureSet& disabled) noexcept;

// The opcodes the engine uses, each with the kernel's yes or no.
void list_opcodes(io_uring& ring, Features& features);

// Does the kernel take an incremental provided-buffer ring (IOU_PBUF_RING_INC,
// 6.12)? A test registration on `ring` (group 1, unregistered again).
bool probe_buf_ring_inc(io_uring& ring) noexcept;

// "EPERM (kernel.io_uring_disabled=2)" and the like.
std::string describe_setup_error(int error);

}  // namespace ringxfer::detail
