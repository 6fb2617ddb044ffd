#include "core/fd_table.hpp"

namespace ringxfer::detail {

FdTable::FdTable(std::uint32_t capacity) : slots_(capacity) {}

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
  s.fd = fd;
  s.is_socket = is_socket;
  s.registered = false;
  s.closing = false;
  s.pins = 0;
  s.close_op = nullptr;
  s.next_free = invalid_slot;
  ++in_use_;
  return slot;
}

FdSlot* FdTable::lookup(FdRef ref) noexcept {
  if (ref.slot >= slots_.size()) return nullptr;
  FdSlot& s = at(ref.slot);
  return (s.fd >= 0 && !s.closing && s.generation == ref.generation) ? &s : nullptr;
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
  s.close_op = nullptr;
  s.receiver = nullptr;
  s.writer = s.write_head = s.write_tail = nullptr;
  s.next_free = free_head_;
  free_head_ = slot;
  --in_use_;
}

}  // namespace ringxfer::detail
