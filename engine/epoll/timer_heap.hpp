#pragma once
// TimerHeap: Opcode::timeout requests ordered by deadline (a binary min-heap).
// Each node remembers its heap position, so a cancel removes it in O(log n).
// Capacity is reserved up front for every node, so push() never allocates.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "request_node.hpp"

namespace ringxfer::detail {

class TimerHeap {
 public:
  explicit TimerHeap(std::size_t capacity) { heap_.reserve(capacity); }
  // Room for one timer per node: push() then never allocates.
  void reserve(std::size_t capacity) { heap_.reserve(capacity); }

  bool empty() const noexcept { return heap_.empty(); }
  RequestNode* top() const noexcept { return heap_.front(); }

  void push(RequestNode* node) noexcept {
    node->heap_index = static_cast<std::uint32_t>(heap_.size());
    heap_.push_back(node);
    sift_up(heap_.size() - 1);
  }

  void erase(RequestNode* node) noexcept {
    const std::size_t i = node->heap_index;
    const std::size_t last = heap_.size() - 1;
    if (i != last) {
      place(i, heap_[last]);
      heap_.pop_back();
      sift_down(i);
      sift_up(i);
    } else {
      heap_.pop_back();
    }
  }

  void pop() noexcept { erase(heap_.front()); }

 private:
  void place(std::size_t i, RequestNode* node) noexcept {
    heap_[i] = node;
    node->heap_index = static_cast<std::uint32_t>(i);
  }
  void sift_up(std::size_t i) noexcept {
    RequestNode* node = heap_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (heap_[parent]->deadline_ns <= node->deadline_ns) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, node);
  }
  void sift_down(std::size_t i) noexcept {
    RequestNode* node = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap_[child + 1]->deadline_ns < heap_[child]->deadline_ns) ++child;
      if (node->deadline_ns <= heap_[child]->deadline_ns) break;
      place(i, heap_[child]);
      i = child;
    }
    place(i, node);
  }

  std::vector<RequestNode*> heap_;
};

}  // namespace ringxfer::detail
