#include "core/op.hpp"

namespace ringxfer::detail {

OpPool::OpPool(std::uint32_t count) : ops_(new Op[count]), count_(count) {
  for (std::uint32_t i = count; i > 0; --i) {
    Op& op = ops_[i - 1];
    op.index = i - 1;
    op.next = free_;
    free_ = &op;
  }
}

Op* OpPool::acquire() noexcept {
  Op* op = free_;
  if (op == nullptr) return nullptr;
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
  if (id.slot >= count_) return nullptr;
  Op& op = ops_[id.slot];
  return (op.in_use && op.generation == id.generation) ? &op : nullptr;
}

}  // namespace ringxfer::detail
