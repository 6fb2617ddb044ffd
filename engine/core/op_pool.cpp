#include <new>

#include "core/op.hpp"

namespace ringxfer::detail {

OpPool::OpPool(std::uint32_t capacity) : ops_(capacity) {}

bool OpPool::grow() noexcept {
  std::uint32_t first = ops_.size();
  if (!ops_.grow()) return false;
  for (std::uint32_t i = ops_.size(); i > first; --i) {
    Op& op = ops_[i - 1];
    op.index = i - 1;
    op.next = free_;
    free_ = &op;
  }
  return true;
}

Op* OpPool::acquire() noexcept {
  if (free_ == nullptr && !grow()) return nullptr;
  Op* op = free_;
  free_ = op->next;
  op->next = nullptr;
  op->in_use = true;
  ++in_use_;
  return op;
}

void OpPool::release(Op* op) noexcept {
  // Reset every per-kind field so a reused slot starts clean.
  std::uint32_t index = op->index;
  std::uint32_t generation = op->generation + 1;
  op->handler.reset();
  op->~Op();
  new (op) Op();
  op->index = index;
  op->generation = generation;
  op->next = free_;
  free_ = op;
  --in_use_;
}

Op* OpPool::lookup(OpId id) noexcept {
  if (id.slot >= ops_.size()) return nullptr;
  Op& op = ops_[id.slot];
  return (op.in_use && op.generation == id.generation) ? &op : nullptr;
}

}  // namespace ringxfer::detail
