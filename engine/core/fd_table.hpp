#pragma once
// FdTable: slot array with a free list (folly FdRegistry style). A slot holds
// the raw fd and, when the backend registered it, the same slot index in the
// io_uring fixed-file table (slot == fixed index, so no second lookup).
//
// A slot's life (DESIGN invariant 8):
//   insert()  -> live: handles with the slot's generation resolve;
//   retire()  -> closing: the generation moves on, so every handle is stale at
//                once, but the fd and its fixed-table entry stay, because
//                requests already queued or issued may still name them (the
//                kernel resolves a fixed file when a request is issued, which
//                can be long after it was queued). Ops pin the slots they name;
//   free()    -> once the last pin is gone and the fd is closed: back on the
//                free list, ready for the next fd.
//
// Slots are allocated in slabs of slab_slots as the table fills, up to
// capacity(); a slot's address never changes.
#include <cstdint>
#include "backend.hpp"
#include "core/slab_array.hpp"
#include "ringxfer/handles.hpp"

namespace ringxfer::detail {

struct Op;

struct FdSlot {
  int fd = -1;
  std::uint32_t generation = 1;  // handles start at 1: a zeroed FdRef never resolves
  bool is_socket = false;
  bool is_fifo = false;          // a pipe or FIFO (a write into it may raise SIGPIPE)
  bool registered = false;       // the backend attached it (fixed table / epoll set)
  bool closing = false;          // retired: handles are stale, the fd is not closed yet
  std::uint32_t pins = 0;        // ops that may still have requests naming this slot
  Op* close_op = nullptr;        // the user's close(), run once the pins are gone
  Op* receiver = nullptr;        // the recv() that owns the read side (engine.hpp), if any
  std::uint32_t next_free = invalid_slot;
  // Per-socket write queue (invariant 9): the op whose bytes are going out
  // now, and the ops started after it, in start order.
  Op* writer = nullptr;
  Op* write_head = nullptr;
  Op* write_tail = nullptr;
};

class FdTable {
 public:
  static constexpr std::uint32_t slab_slots = 1024;

  explicit FdTable(std::uint32_t capacity);

  // A free slot for `fd`, or invalid_slot when the table is full.
  std::uint32_t insert(int fd, bool is_socket) noexcept;
  // The slot behind a handle, or nullptr if the handle is stale or empty.
  FdSlot* lookup(FdRef ref) noexcept;
  const FdSlot* lookup(FdRef ref) const noexcept;
  FdSlot& at(std::uint32_t slot) noexcept { return slots_[slot]; }
  const FdSlot& at(std::uint32_t slot) const noexcept { return slots_[slot]; }
  FdRef ref(std::uint32_t slot) const noexcept { return {slot, at(slot).generation}; }
  // How a backend should name this slot's fd (also while it is closing).
  Target target(std::uint32_t slot) const noexcept {
    const FdSlot& s = at(slot);
    return {s.fd, s.registered && use_fixed_ ? int(slot) : -1};
  }
  // Makes every handle to the slot stale; the fd stays until free().
  void retire(std::uint32_t slot) noexcept;
  // Empties the slot (its fd is closed by now) and puts it on the free list.
  void free(std::uint32_t slot) noexcept;
  // Slots that exist so far (a multiple of slab_slots, at most capacity()).
  std::uint32_t allocated() const noexcept { return slots_.size(); }
  std::uint32_t capacity() const noexcept { return slots_.capacity(); }
  std::uint32_t in_use() const noexcept { return in_use_; }
  void set_use_fixed(bool on) noexcept { use_fixed_ = on; }

 private:
  bool grow() noexcept;

  SlabArray<FdSlot, slab_slots> slots_;
  std::uint32_t in_use_ = 0;
  std::uint32_t free_head_ = invalid_slot;
  bool use_fixed_ = false;
};

}  // namespace ringxfer::detail
