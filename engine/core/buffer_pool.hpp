#pragma once
// BufferPool: every buffer the engine uses, allocated once at start-up as one
// page-aligned region (so io_uring can register it as fixed buffers, one iovec
// per buffer: fixed-buffer index == pool index).
//
// Ids [0, recv_count) are the shared receive buffers: the backend hands them to
// recv (a provided-buffer ring on io_uring) and they come back through
// Backend::recycle_recv_buffer when the user drops the lease — or, when core
// picks receive buffers itself (no buf_ring), through core's own free list.
// Ids [recv_count, count) are leased by Engine::acquire_buffer().
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ringxfer/buffer.hpp"
#include "ringxfer/inline_function.hpp"

namespace ringxfer::detail {

class BufferPool {
 public:
  BufferPool(std::uint32_t count, std::uint32_t recv_count, std::size_t buffer_size_bytes);
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  std::uint32_t count() const noexcept { return count_; }
  std::uint32_t recv_count() const noexcept { return recv_count_; }
  std::size_t buffer_size() const noexcept { return buffer_size_; }
  std::byte* data(std::uint32_t index) const noexcept { return base_ + index * buffer_size_; }
  std::size_t total_bytes() const noexcept { return std::size_t(count_) * buffer_size_; }
  bool is_recv(std::uint32_t index) const noexcept { return index < recv_count_; }

  // A send-side buffer lease, or an empty Buffer when none is free.
  Buffer acquire() noexcept;
  // A lease on a buffer the engine holds (a receive buffer the kernel filled,
  // or a send buffer coming back from an operation) with `size` payload bytes.
  Buffer lease(std::uint32_t index, std::size_t size) noexcept;
  // Takes a buffer out of a lease without returning it to the pool (the engine
  // keeps it, e.g. for a zero-copy send until its notification).
  std::uint32_t detach(Buffer& buffer) noexcept;
  // Returns a leased buffer: send buffers to the free list; receive buffers
  // to on_recv_release (set by core).
  void release(std::uint32_t index) noexcept;
  // Returns a buffer an operation took with detach().
  void put_back(std::uint32_t index) noexcept;

  std::uint32_t free_send_buffers() const noexcept { return std::uint32_t(free_.size()); }
  // Buffers currently leased to the user or held by an operation.
  std::uint32_t outstanding() const noexcept { return outstanding_; }

  // The Engine is gone but leases are not: from now on a returned lease only
  // counts down, and the last one deletes the pool (and unmaps its memory).
  void orphan() noexcept;

  InlineFunction<void(std::uint32_t)> on_recv_release;

 private:
  std::uint32_t count_;
  std::uint32_t recv_count_;
  std::size_t buffer_size_;
  std::byte* base_ = nullptr;
  std::vector<std::uint32_t> free_;  // send-side free list, reserved up front
  std::uint32_t outstanding_ = 0;
  bool orphaned_ = false;
};

}  // namespace ringxfer::detail
