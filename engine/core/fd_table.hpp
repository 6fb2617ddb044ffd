#pragma once
// FdTable: slot array with a free list (folly FdRegistry style). A slot holds
// the raw fd and, when the backend registered it, the same slot index in the
// io_uring fixed-file table (slot == fixed index, so no second lookup).
// Generations make handles safe: remove() bumps the slot's generation, so an
// old Socket/File no longer resolves.
#include <cstdint>
#include <memory>

#include "backend.hpp"
#include "ringxfer/handles.hpp"

namespace ringxfer::detail {

struct FdSlot {
  int fd = -1;
  std::uint32_t generation = 1;  // handles start at 1: a zeroed FdRef never resolves
  bool is_socket = false;
  bool registered = false;       // the backend attached it (fixed table / epoll set)
  std::uint32_t next_free = invalid_slot;
};

class FdTable {
 public:
  explicit FdTable(std::uint32_t slots);

  // A free slot for `fd`, or invalid_slot when the table is full.
  std::uint32_t insert(int fd, bool is_socket) noexcept;
  // The slot behind a handle, or nullptr if the handle is stale or empty.
  FdSlot* lookup(FdRef ref) noexcept;
  const FdSlot* lookup(FdRef ref) const noexcept;
  FdSlot& at(std::uint32_t slot) noexcept { return slots_[slot]; }
  FdRef ref(std::uint32_t slot) const noexcept { return {slot, slots_[slot].generation}; }
  // How a backend should name this slot's fd.
  Target target(std::uint32_t slot) const noexcept {
    const FdSlot& s = slots_[slot];
    return {s.fd, s.registered && use_fixed_ ? int(slot) : -1};
  }
  // Empties the slot and bumps its generation; the fd is the caller's to close.
  void remove(std::uint32_t slot) noexcept;
  std::uint32_t capacity() const noexcept { return capacity_; }
  void set_use_fixed(bool on) noexcept { use_fixed_ = on; }

 private:
  std::unique_ptr<FdSlot[]> slots_;
  std::uint32_t capacity_;
  std::uint32_t free_head_ = invalid_slot;
  bool use_fixed_ = false;
};

}  // namespace ringxfer::detail
