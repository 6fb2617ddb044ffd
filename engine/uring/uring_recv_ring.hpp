#pragma once
// RecvRing: the pool's receive buffers as an io_uring provided-buffer ring
// (group 0), and the bookkeeping that turns a receive CQE back into the
// bytes it names:
//   - plain: one CQE, one whole buffer (the kernel moves past it);
//   - bundle (IORING_RECVSEND_BUNDLE, 6.10): one CQE fills several buffers,
//     consecutive in the ring from the one the CQE names. The ring is shared
//     by every socket, so "consecutive" is kept here: next_[id] is the buffer
//     added to the ring right after id. It stays valid while id's bytes are
//     out: id is added again only after the CQE naming it was split;
//   - incremental (IOU_PBUF_RING_INC, 6.12): the kernel takes only the bytes
//     a receive needs and keeps the rest of the buffer for the next one
//     (IORING_CQE_F_BUF_MORE), so a 64-byte message does not use up a 64 KiB
//     buffer. Where the next receive starts (offset_[id]) is the sum of the
//     earlier CQEs naming id: the kernel commits a buffer's bytes and posts
//     their CQE under the ring lock, so CQEs naming one buffer come in the
//     order its bytes were filled.
// Each piece -- (buffer, offset, bytes, is the kernel done with the buffer) --
// becomes one Completion for core, which leases it as a chunk.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "uring/uring_compat.hpp"

namespace ringxfer::detail {

class BufferPool;

struct RecvPiece {
  std::uint32_t buffer_id = 0;
  std::uint32_t offset = 0;
  std::int32_t result = 0;     // bytes in this buffer (or the CQE's result if it has no bytes)
  bool kernel_keeps = false;   // the kernel fills more of this buffer later
  bool last = false;           // the CQE's last piece
};

class RecvRing {
 public:
  RecvRing() = default;
  RecvRing(const RecvRing&) = delete;
  RecvRing& operator=(const RecvRing&) = delete;
  ~RecvRing();

  // Registers every receive buffer of `pool` as group 0, incremental if
  // `want_inc` and the kernel takes it (a registration with IOU_PBUF_RING_INC
  // is the probe: older kernels refuse the flag with EINVAL). Counts its
  // syscalls in `syscalls`. False if no ring could be registered.
  bool setup(io_uring& ring, BufferPool& pool, bool want_inc, std::uint64_t& syscalls) noexcept;
  bool ready() const noexcept { return br_ != nullptr; }
  bool incremental() const noexcept { return inc_; }

  // Buffer `id` is free again: give it back to the kernel, whole.
  void add(std::uint32_t id) noexcept;

  // How many pieces a CQE with buffer `id` and `result` splits into.
  std::uint32_t piece_count(std::uint32_t id, std::int32_t result) const noexcept;
  // Splits it, in order, into emit(const RecvPiece&). `kernel_more` is the
  // CQE's IORING_CQE_F_BUF_MORE.
  template <class Emit>
  void split(std::uint32_t id, std::int32_t result, bool kernel_more, Emit&& emit) noexcept;

 private:
  io_uring_buf_ring* br_ = nullptr;
  std::size_t br_bytes_ = 0;
  unsigned mask_ = 0;
  bool inc_ = false;
  BufferPool* pool_ = nullptr;
  std::uint32_t buffer_bytes_ = 0;
  std::vector<std::uint16_t> next_;    // the buffer added after this one
  std::vector<std::uint32_t> offset_;  // incremental: bytes of it the kernel has filled
  std::uint32_t last_added_ = 0;
  bool added_any_ = false;
};

template <class Emit>
void RecvRing::split(std::uint32_t id, std::int32_t result, bool kernel_more, Emit&& emit) noexcept {
  RecvPiece p;
  p.buffer_id = id;
  if (result <= 0) {
    // No bytes. An incremental ring never moves past a buffer for zero
    // bytes (whatever the flag says: kernels before 6.17 leave BUF_MORE
    // off here): the buffer is still the kernel's. A plain ring's is done.
    p.offset = inc_ ? offset_[id] : 0;
    p.result = result;
    p.kernel_keeps = inc_;
    p.last = true;
    emit(p);
    return;
  }
  std::uint32_t left = std::uint32_t(result);
  for (;;) {
    std::uint32_t start = inc_ ? offset_[id] : 0;
    std::uint32_t room = buffer_bytes_ - start;
    std::uint32_t take = left < room ? left : room;
    left -= take;
    p.buffer_id = id;
    p.offset = start;
    p.result = std::int32_t(take);
    p.last = left == 0;
    if (inc_) {
      // The kernel moves on from a buffer once it is full; the CQE's flag
      // says the same of the last one (trust the flag: recycling a buffer
      // the kernel still fills would hand its bytes out twice).
      p.kernel_keeps = p.last ? kernel_more : false;
      offset_[id] = start + take;
    } else {
      p.kernel_keeps = false;
    }
    std::uint32_t following = next_[id];
    emit(p);
    if (left == 0) return;
    id = following;
  }
}

}  // namespace ringxfer::detail
