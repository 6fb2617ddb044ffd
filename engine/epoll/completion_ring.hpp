#pragma once
// The epoll backend's stand-in for a completion queue. Completions produced by
// syscalls (inside submit(), or while handling readiness) wait here until
// wait() copies them out; handlers therefore never run inside the call that
// started an operation.
//
// Preallocated. The producers that have no natural bound (multishot accept and
// recv) pause while the ring is more than half full (see
// EpollBackend::room_for_burst), so in practice it never fills. If it fills
// anyway, push() grows it: this is the one place overflow is handled, counted
// in Stats::cq_overflows like the kernel parking CQEs on its overflow list.
// Dropping a completion instead would break "every op completes exactly once".
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "backend.hpp"

namespace ringxfer::detail {

class CompletionRing {
 public:
  explicit CompletionRing(std::size_t min_capacity) { reserve(min_capacity); }

  // Grows to at least min_capacity (when the node pool grew a slab): not an
  // overflow, just more requests that may complete at once.
  void reserve(std::size_t min_capacity) {
    while (capacity() < min_capacity || capacity() < 16) grow();
  }

  std::size_t size() const noexcept { return static_cast<std::size_t>(tail_ - head_); }
  std::size_t capacity() const noexcept { return slots_.size(); }
  std::size_t free_slots() const noexcept { return capacity() - size(); }
  bool empty() const noexcept { return head_ == tail_; }

  // Returns false when the ring was full and had to grow (an overflow).
  bool push(const Completion& completion) {
    bool fitted = true;
    if (size() == capacity()) {
      grow();
      fitted = false;
    }
    slots_[tail_ & (capacity() - 1)] = completion;
    ++tail_;
    return fitted;
  }

  // Moves up to out.size() completions, oldest first, into `out`.
  std::size_t pop_into(std::span<Completion> out) noexcept {
    const std::size_t n = std::min(out.size(), size());
    for (std::size_t i = 0; i < n; ++i) out[i] = slots_[(head_ + i) & (capacity() - 1)];
    head_ += n;
    return n;
  }

 private:
  void grow() {
    std::vector<Completion> bigger(capacity() == 0 ? 16 : capacity() * 2);
    const std::size_t n = size();
    for (std::size_t i = 0; i < n; ++i) bigger[i] = slots_[(head_ + i) & (capacity() - 1)];
    slots_.swap(bigger);
    head_ = 0;
    tail_ = n;
  }

  std::vector<Completion> slots_;  // capacity is a power of two
  std::uint64_t head_ = 0;         // next to pop
  std::uint64_t tail_ = 0;         // next to fill
};

}  // namespace ringxfer::detail
