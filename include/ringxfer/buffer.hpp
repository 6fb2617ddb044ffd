#pragma once
/// @file
/// Buffer: a move-only lease on one buffer of the engine's BufferPool. The pool
/// is allocated (and, on io_uring, registered) once at start-up; a lease names
/// its buffer by index so fixed-buffer operations can use it directly. Dropping
/// the lease returns the buffer: to the free list, or — for a receive buffer —
/// to the provided-buffer ring the kernel picks from.
///
/// Threads: a Buffer is touched (its bytes read or written, moved, dropped)
/// only on the thread that runs its Engine: dropping one returns it to pool
/// free lists that are not locked. After the Engine is destroyed, one thread
/// at a time may drop its remaining leases.
///
/// A lease may outlive its Engine: dropping it afterwards only releases memory
/// (the pool stays until its last lease is gone).
///
/// Receive chunks. With incremental buffer consumption (Feature::buf_ring_inc)
/// the kernel packs small receives into one pool buffer: each recv result is a
/// lease on its own slice ("chunk") -- data() points into the pool buffer,
/// capacity() is the chunk's size, and several chunks share one index(). The
/// pool buffer goes back to the kernel once the kernel has moved past it and
/// every chunk on it is dropped, so a chunk's bytes never change while it is
/// held, whatever the order chunks are dropped in. Holding one small chunk
/// pins its whole pool buffer: copy what must live long.
#include <cstddef>
#include <cstdint>
#include <span>

namespace ringxfer {

namespace detail {
class BufferPool;
}

/// A move-only lease on one pool buffer (see the file comment).
class Buffer {
 public:
  /// An empty lease (operator bool is false).
  Buffer() noexcept = default;
  /// Takes the lease; `other` becomes empty.
  Buffer(Buffer&& other) noexcept { take(other); }
  /// Returns this lease's buffer, then takes `other`'s.
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { release(); }

  /// True while this holds a buffer.
  explicit operator bool() const noexcept { return pool_ != nullptr; }
  /// First byte of the buffer.
  std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_bytes_; }      ///< bytes of payload

  /// Bytes the buffer can hold (EngineOptions::buffer_size_bytes).
  std::size_t capacity() const noexcept { return capacity_bytes_; }
  /// Index in the pool (the fixed-buffer index; shared by the chunks of one buffer).
  std::uint32_t index() const noexcept { return index_; }

  /// The payload: data() .. data() + size().
  std::span<std::byte> bytes() const noexcept { return {data_, size_bytes_}; }
  /// The whole buffer: data() .. data() + capacity(), to fill before resize().
  std::span<std::byte> storage() const noexcept { return {data_, capacity_bytes_}; }
  /// Sets the payload length; n must not exceed capacity().
  void resize(std::size_t n) noexcept { size_bytes_ = n <= capacity_bytes_ ? n : capacity_bytes_; }
  /// Returns the buffer to its pool now.
  void release() noexcept;

 private:
  friend class detail::BufferPool;
  Buffer(detail::BufferPool* pool, std::uint32_t index, std::byte* data, std::size_t capacity,
         std::size_t size) noexcept
      : pool_(pool), index_(index), data_(data), capacity_bytes_(capacity), size_bytes_(size) {}
  void take(Buffer& other) noexcept {
    pool_ = other.pool_;
    index_ = other.index_;
    data_ = other.data_;
    capacity_bytes_ = other.capacity_bytes_;
    size_bytes_ = other.size_bytes_;
    other.pool_ = nullptr;
    other.data_ = nullptr;
    other.capacity_bytes_ = other.size_bytes_ = 0;
  }

  detail::BufferPool* pool_ = nullptr;
  std::uint32_t index_ = 0;
  std::byte* data_ = nullptr;
  std::size_t capacity_bytes_ = 0;
  std::size_t size_bytes_ = 0;
};

}  // namespace ringxfer
