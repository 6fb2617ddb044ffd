#pragma once
// What Debian's liburing 2.3 headers lack of the kernel's io_uring uapi, for
// the receive path: bundles (6.10) and incremental buffer consumption (6.12).
// Each value is the kernel's (include/uapi/linux/io_uring.h) and is defined
// only where the header does not have it. Using one says nothing about the
// running kernel: the backend probes for each (uring_recv_ring.cpp).
#include <liburing.h>

// sqe->ioprio for send/recv: take several provided buffers at once.
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)
#endif
// io_uring_params.features: the kernel accepts IORING_RECVSEND_BUNDLE.
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif
// cqe->flags: the kernel is not done with this buffer (incremental rings).
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif
// io_uring_buf_reg.flags (an enum in newer headers, hence the constant).
inline constexpr unsigned ringxfer_pbuf_ring_inc = 2;  // IOU_PBUF_RING_INC

namespace ringxfer::detail {

// liburing 2.3 calls io_uring_buf_reg's flags field `pad`; newer headers
// call it `flags`. Same offset, same width.
template <class Reg>
void set_buf_reg_flags(Reg& reg, unsigned flags) noexcept {
  if constexpr (requires { reg.flags; }) reg.flags = static_cast<decltype(reg.flags)>(flags);
  else reg.pad = static_cast<decltype(reg.pad)>(flags);
}

}  // namespace ringxfer::detail
