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
//
// A receive buffer may be shared: with incremental consumption the backend
// packs many small receives into one buffer, each handed out as its own
// lease on a slice of it (a "chunk"). Such a buffer goes back to the backend
// only when (a) the backend has moved past it (a completion without
// completion_buffer_more) and (b) every lease on it -- the user's, or an
// operation's that took one -- is dropped. Until both hold, no byte of it is
// written again, so a chunk stays valid however long it is held and in
// whatever order chunks are dropped.
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
  // A lease on `size` received bytes at `offset` of receive buffer `id`.
  // `backend_keeps`: the backend goes on filling this buffer (see above).
  Buffer lease_received(std::uint32_t id, std::size_t offset, std::size_t size, bool backend_keeps) noexcept;
  // A receive completion named buffer `id` but delivered no bytes.
  void received_nothing(std::uint32_t id, bool backend_keeps) noexcept;
  // Gives a buffer an operation holds (it took it with detach()) back to the
  // user as a lease: the same bytes (data, capacity) the operation took.
  Buffer relend(std::uint32_t index, std::byte* data, std::size_t capacity, std::size_t size) noexcept;
  // Takes a buffer out of a lease without returning it to the pool (the engine
  // keeps it, e.g. for a zero-copy send until its notification). For a
  // receive buffer the operation now holds the lease's share of it.
  std::uint32_t detach(Buffer& buffer) noexcept;
  // Returns a leased buffer: send buffers to the free list; a receive
  // buffer's share, and the buffer itself to on_recv_release (set by core)
  // once the backend is done with it and no share is left.
  void release(std::uint32_t index) noexcept;
  // Returns a buffer an operation took with detach().
  void put_back(std::uint32_t index) noexcept;
  // Leases and operations holding a share of receive buffer `id`.
  std::uint32_t recv_shares(std::uint32_t id) const noexcept { return recv_[id].shares; }

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
  struct RecvState {
    std::uint32_t shares = 0;    // leases and operations holding a part of it
    bool backend_keeps = false;  // the backend will fill more of it
  };
  std::vector<RecvState> recv_;      // one per receive buffer
  std::uint32_t outstanding_ = 0;
  bool orphaned_ = false;
};

}  // namespace ringxfer::detail
