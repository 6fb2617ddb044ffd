#include "core/buffer_pool.hpp"

#include <sys/mman.h>

#include <cassert>
#include <new>

namespace ringxfer::detail {

BufferPool::BufferPool(std::uint32_t count, std::uint32_t recv_count, std::size_t buffer_size_bytes)
    : count_(count), recv_count_(recv_count < count ? recv_count : count), buffer_size_(buffer_size_bytes) {
  // mmap rather than new: page-aligned, and untouched pages cost nothing until used.
  void* p = ::mmap(nullptr, total_bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  base_ = static_cast<std::byte*>(p);
  recv_.resize(recv_count_);
  free_.reserve(count_ - recv_count_);
  for (std::uint32_t i = count_; i > recv_count_; --i) free_.push_back(i - 1);
}

BufferPool::~BufferPool() {
  assert(outstanding_ == 0 && "a Buffer lease outlived its Engine");
  ::munmap(base_, total_bytes());
}

Buffer BufferPool::acquire() noexcept {
  if (free_.empty()) return {};
  std::uint32_t index = free_.back();
  free_.pop_back();
  ++outstanding_;
  return Buffer(this, index, data(index), buffer_size_, 0);
}

Buffer BufferPool::lease_received(std::uint32_t id, std::size_t offset, std::size_t size,
                                  bool backend_keeps) noexcept {
  assert(is_recv(id) && offset + size <= buffer_size_);
  RecvState& r = recv_[id];
  ++r.shares;
  r.backend_keeps = backend_keeps;
  ++outstanding_;
  // The chunk's capacity is its own bytes: resize() or storage() must not
  // reach into the bytes of the chunks after it.
  return Buffer(this, id, data(id) + offset, size, size);
}

void BufferPool::received_nothing(std::uint32_t id, bool backend_keeps) noexcept {
  assert(is_recv(id));
  RecvState& r = recv_[id];
  r.backend_keeps = backend_keeps;
  if (r.shares == 0 && !backend_keeps) on_recv_release(id);
}

Buffer BufferPool::relend(std::uint32_t index, std::byte* bytes, std::size_t capacity, std::size_t size) noexcept {
  ++outstanding_;
  return Buffer(this, index, bytes, capacity, size <= capacity ? size : capacity);
}

std::uint32_t BufferPool::detach(Buffer& buffer) noexcept {
  assert(buffer.pool_ == this);
  std::uint32_t index = buffer.index_;
  buffer.pool_ = nullptr;
  buffer.data_ = nullptr;
  buffer.size_bytes_ = buffer.capacity_bytes_ = 0;
  --outstanding_;
  return index;
}

void BufferPool::release(std::uint32_t index) noexcept {
  --outstanding_;
  if (orphaned_) {
    if (outstanding_ == 0) delete this;
    return;
  }
  put_back(index);
}

void BufferPool::orphan() noexcept {
  orphaned_ = true;
  on_recv_release.reset();
  if (outstanding_ == 0) delete this;
}

void BufferPool::put_back(std::uint32_t index) noexcept {
  if (is_recv(index)) {
    RecvState& r = recv_[index];
    assert(r.shares > 0);
    if (--r.shares == 0 && !r.backend_keeps) on_recv_release(index);
  } else {
    free_.push_back(index);  // cannot reallocate: capacity is count - recv_count
  }
}

}  // namespace ringxfer::detail

namespace ringxfer {

void Buffer::release() noexcept {
  if (pool_ == nullptr) return;
  detail::BufferPool* pool = pool_;
  pool_ = nullptr;
  data_ = nullptr;
  size_bytes_ = capacity_bytes_ = 0;
  pool->release(index_);
}

}  // namespace ringxfer
