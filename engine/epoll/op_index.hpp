#pragma once
// OpIndex: finds a parked request by (Op*, tag) for Opcode::cancel in O(1).
// A scan of the parked requests would cost O(connections) per cancel — a
// server with 10k idle connections (each with a parked multishot recv) that
// cancels a timeout per request would pay that on every request.
//
// Open addressing with linear probing over a table at least twice the node
// count, so it never fills and probe runs stay short. Deletion shifts later
// entries back (no tombstones), so lookups never degrade over time. Several
// nodes may share a key (core may resubmit the same op/tag); find() returns
// the first one it meets, as io_uring's cancel does without CANCEL_ALL.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "request_node.hpp"

namespace ringxfer::detail {

class OpIndex {
 public:
  explicit OpIndex(std::size_t max_entries) { reserve(max_entries); }

  // Room for max_entries at most half full; rehashes when it grows (that is
  // when the node pool grew a slab, never per request).
  void reserve(std::size_t max_entries) {
    std::size_t size = 16;
    while (size < 2 * max_entries) size *= 2;
    if (size <= table_.size()) return;
    std::vector<RequestNode*> old(size, nullptr);
    old.swap(table_);
    mask_ = size - 1;
    for (RequestNode* node : old) {
      if (node != nullptr) insert(node);
    }
  }

  void insert(RequestNode* node) noexcept {
    std::size_t i = home(node->request.op, node->request.tag);
    while (table_[i] != nullptr) i = (i + 1) & mask_;
    table_[i] = node;
  }

  void erase(RequestNode* node) noexcept {
    std::size_t hole = home(node->request.op, node->request.tag);
    while (table_[hole] != node) {
      if (table_[hole] == nullptr) return;  // not present
      hole = (hole + 1) & mask_;
    }
    table_[hole] = nullptr;
    // Pull back each later entry of the run whose probe path crosses the hole.
    for (std::size_t j = (hole + 1) & mask_; table_[j] != nullptr; j = (j + 1) & mask_) {
      const RequestNode* moved = table_[j];
      const std::size_t k = home(moved->request.op, moved->request.tag);
      if (((hole - k) & mask_) < ((j - k) & mask_)) {
        table_[hole] = table_[j];
        table_[j] = nullptr;
        hole = j;
      }
    }
  }

  RequestNode* find(const Op* op, std::uint8_t tag) const noexcept {
    for (std::size_t i = home(op, tag); table_[i] != nullptr; i = (i + 1) & mask_) {
      if (table_[i]->request.op == op && table_[i]->request.tag == tag) return table_[i];
    }
    return nullptr;
  }

 private:
  std::size_t home(const Op* op, std::uint8_t tag) const noexcept {
    std::uint64_t key = (reinterpret_cast<std::uintptr_t>(op) >> 3) ^ (std::uint64_t(tag) << 56);
    key *= 0x9E3779B97F4A7C15ull;  // Fibonacci hashing: the high bits are well mixed
    return static_cast<std::size_t>(key >> 32) & mask_;
  }

  std::vector<RequestNode*> table_;
  std::size_t mask_ = 0;
};

}  // namespace ringxfer::detail
