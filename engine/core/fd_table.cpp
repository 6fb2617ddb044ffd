#include "core/fd_table.hpp"

namespace ringxfer::detail {

FdTable::FdTable(std::uint32_t slots) : slots_(new FdSlot[slots]), capacity_(slots) {
  for (std::uint32_t i = slots; i > 0; --i) {
    slots_[i - 1].next_free = free_head_;
    free_head_ = i - 1;
  }
}

std::uint32_t FdTable::insert(int fd, bool is_socket) noexcept {
  if (free_head_ == invalid_slot) return invalid_slot;
  std::uint32_t slot = free_head_;
  FdSlot& s = slots_[slot];
  free_head_ = s.next_free;
  s.fd = fd;
  s.is_socket = is_socket;
  s.registered = false;
  s.next_free = invalid_slot;
  return slot;
}

FdSlot* FdTable::lookup(FdRef ref) noexcept {
  if (ref.slot >= capacity_) return nullptr;
  FdSlot& s = slots_[ref.slot];
  return (s.fd >= 0 && s.generation == ref.generation) ? &s : nullptr;
}

const FdSlot* FdTable::lookup(FdRef ref) const noexcept {
  return const_cast<FdTable*>(this)->lookup(ref);
}

void FdTable::remove(std::uint32_t slot) noexcept {
  FdSlot& s = slots_[slot];
  s.fd = -1;
  s.registered = false;
  ++s.generation;
  s.next_free = free_head_;
  free_head_ = slot;
}

}  // namespace ringxfer::detail
