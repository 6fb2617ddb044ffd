#include <algorithm>
#include <new>

#include "core/op.hpp"

namespace ringxfer::detail {

OpPool::OpPool(std::uint32_t capacity) : capacity_(capacity) {
  slabs_.reserve((std::size_t(capacity) + slab_ops - 1) / slab_ops);
}

bool OpPool::grow() noexcept {
  if (allocated_ >= capacity_) return false;
  std::uint32_t n = std::min(slab_ops, capacity_ - allocated_);
  Op* slab = new (std::nothrow) Op[slab_ops];
  if (slab == nullptr) return false;
  slabs_.emplace_back(slab);  // capacity reserved: no reallocation, no throw
  for (std::uint32_t i = n; i > 0; --i) {
    Op& op = slab[i - 1];
    op.index = allocated_ + i - 1;
    op.next = free_;
    free_ = &op;
  }
  allocated_ += n;
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
  if (id.slot >= allocated_) return nullptr;
  Op& op = at(id.slot);
  return (op.in_use && op.generation == id.generation) ? &op : nullptr;
}

}  // namespace ringxfer::detail
