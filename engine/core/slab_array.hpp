#pragma once
// SlabArray: an indexable array that grows a slab at a time up to a fixed
// capacity, so that a table sized for a real server (tens of thousands of
// connections) costs memory only as it fills. Elements never move: their
// addresses may be kept (ops are user_data, fd states are epoll keys).
// Growing allocates one slab — never one element per operation.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <algorithm>
#include <new>
#include <vector>

namespace ringxfer::detail {

template <class T, std::uint32_t SlabSize>
class SlabArray {
 public:
  explicit SlabArray(std::uint32_t capacity) : capacity_(capacity) {
    slabs_.reserve((std::size_t(capacity) + SlabSize - 1) / SlabSize);
  }

  T& operator[](std::uint32_t i) noexcept { return slabs_[i / SlabSize][i % SlabSize]; }
  const T& operator[](std::uint32_t i) const noexcept { return slabs_[i / SlabSize][i % SlabSize]; }
  std::uint32_t size() const noexcept { return size_; }          // elements that exist so far
  std::uint32_t capacity() const noexcept { return capacity_; }  // at most this many

  // Adds a slab; its elements are [old size(), size()). False when the array
  // is at capacity or memory is short.
  bool grow() noexcept {
    if (size_ >= capacity_) return false;
    T* slab = new (std::nothrow) T[SlabSize];
    if (slab == nullptr) return false;
    slabs_.emplace_back(slab);  // capacity reserved: no reallocation, no throw
    size_ += std::min<std::uint32_t>(SlabSize, capacity_ - size_);
    return true;
  }

 private:
  std::vector<std::unique_ptr<T[]>> slabs_;
  std::uint32_t capacity_;
  std::uint32_t size_ = 0;
};

}  // namespace ringxfer::detail
