#include "core/fd_table.hpp"

namespace ringxfer::detail {

FdTable::FdTable(std::uint32_t capacity) : slots_(capacity), direct_(0), direct_first_(capacity) {}

void FdTable::set_direct_first(std::uint32_t first) noexcept {
  std::uint32_t total = capacity();
  if (first > total) first = total;
  slots_ = SlabArray<FdSlot, slab_slots>(first);
  direct_ = SlabArray<FdSlot, slab_slots>(total - first);
  direct_first_ = first;
  free_head_ = invalid_slot;
}

bool FdTable::grow() noexcept {
  std::uint32_t first = slots_.size();
  if (!slots_.grow()) return false;
  // Lowest index first out of the free list.
  for (std::uint32_t i = slots_.size(); i > first; --i) {
    slots_[i - 1].next_free = free_head_;
    free_head_ = i - 1;
  }
  return true;
}

std::uint32_t FdTable::insert(int fd, bool is_socket) noexcept {
  if (free_head_ == invalid_slot && !grow()) return invalid_slot;
  std::uint32_t slot = free_head_;
  FdSlot& s = at(slot);
  free_head_ = s.next_free;
  occupy(s, fd, is_socket);
  return slot;
}

void FdTable::occupy(FdSlot& s, int fd, bool is_socket) noexcept {
  s.fd = fd;
  s.is_socket = is_socket;
  s.registered = false;
  s.closing = false;
  s.close_submitted = false;
  s.pins = 0;
  s.close_op = nullptr;
  s.next_free = invalid_slot;
  ++in_use_;
}

bool FdTable::insert_direct(std::uint32_t slot, Op*& reclaimed_from) noexcept {
  reclaimed_from = nullptr;
  if (slot < direct_first_ || slot - direct_first_ >= direct_.capacity()) return false;
  // The kernel picks from its whole range: allocate the slabs up to this one
  // (a slab at a time, as insert() does).
  while (slot - direct_first_ >= direct_.size()) {
    if (!direct_.grow()) return false;
  }
  FdSlot& s = at(slot);
  if (s.holds_file()) {
    // Only a descriptor whose close the kernel already ran can be in a slot
    // the kernel hands out again.
    if (!s.close_submitted) return false;
    reclaimed_from = s.close_op;
    free(slot);
  }
  occupy(s, -1, true);  // no process fd: the kernel's fixed-table entry
  s.direct = true;
  s.is_fifo = false;
  s.registered = true;
  ++direct_in_use_;
  return true;
}

FdSlot* FdTable::lookup(FdRef ref) noexcept {
  if (!exists(ref.slot)) return nullptr;
  FdSlot& s = at(ref.slot);
  return (s.holds_file() && !s.closing && s.generation == ref.generation) ? &s : nullptr;
}

const FdSlot* FdTable::lookup(FdRef ref) const noexcept {
  return const_cast<FdTable*>(this)->lookup(ref);
}

void FdTable::retire(std::uint32_t slot) noexcept {
  FdSlot& s = at(slot);
  s.closing = true;
  ++s.generation;
}

void FdTable::free(std::uint32_t slot) noexcept {
  FdSlot& s = at(slot);
  s.fd = -1;
  s.registered = false;
  s.closing = false;
  s.close_submitted = false;
  s.close_op = nullptr;
  s.receiver = nullptr;
  s.writer = s.write_head = s.write_tail = nullptr;
  --in_use_;
  if (s.direct) {
    // The kernel's slot: it allocates it again, not the free list.
    s.direct = false;
    --direct_in_use_;
    return;
  }
  s.next_free = free_head_;
  free_head_ = slot;
}

}  // namespace ringxfer::detail
