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
//
// Direct descriptors (io_uring accept into the fixed table, caps.accept_direct):
// slots [direct_first(), capacity()) are the kernel's to allocate. A connection
// accepted there takes the slot the kernel picked (insert_direct) and has no
// raw fd until native_handle() installs one. The free list holds only the
// engine's slots below direct_first(); the two ranges are stored apart, so a
// kernel range that starts high costs no memory below it.
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
  // A direct descriptor (the kernel allocated this slot): fd is -1 until
  // native_handle() installs a process fd for it.
  bool direct = false;
  // The close request for the slot is in the kernel (finalize): once it ran,
  // the kernel may hand the slot to a new connection even before its
  // completion reaches us.
  bool close_submitted = false;
  std::uint32_t pins = 0;        // ops that may still have requests naming this slot
  Op* close_op = nullptr;        // the user's close(), run once the pins are gone
  Op* receiver = nullptr;        // the recv() that owns the read side (engine.hpp), if any
  std::uint32_t next_free = invalid_slot;
  // Per-socket write queue (invariant 9): the op whose bytes are going out
  // now, and the ops started after it, in start order.
  Op* writer = nullptr;
  Op* write_head = nullptr;
  Op* write_tail = nullptr;

  bool holds_file() const noexcept { return fd >= 0 || direct; }
};

class FdTable {
 public:
  static constexpr std::uint32_t slab_slots = 1024;

  explicit FdTable(std::uint32_t capacity);

  // A free slot for `fd`, or invalid_slot when the table is full.
  std::uint32_t insert(int fd, bool is_socket) noexcept;
  // The kernel put a new socket in fixed slot `slot` (>= direct_first()).
  // If the slot still holds a descriptor whose close was submitted, that
  // close has run (the kernel reused the slot): the slot is freed first and
  // its close op, which must then not free it again, is stored in
  // `reclaimed_from`. False if `slot` is out of range, cannot be allocated, or
  // is held by a live descriptor (a kernel that breaks its own table).
  bool insert_direct(std::uint32_t slot, Op*& reclaimed_from) noexcept;
  // The slot behind a handle, or nullptr if the handle is stale or empty.
  FdSlot* lookup(FdRef ref) noexcept;
  const FdSlot* lookup(FdRef ref) const noexcept;
  FdSlot& at(std::uint32_t slot) noexcept {
    return slot < direct_first_ ? slots_[slot] : direct_[slot - direct_first_];
  }
  const FdSlot& at(std::uint32_t slot) const noexcept {
    return slot < direct_first_ ? slots_[slot] : direct_[slot - direct_first_];
  }
  // True if slot `slot` has been allocated (at() may be called).
  bool exists(std::uint32_t slot) const noexcept {
    return slot < direct_first_ ? slot < slots_.size() : slot - direct_first_ < direct_.size();
  }
  // Calls f(slot) for every allocated slot.
  template <class F>
  void for_each_slot(F&& f) {
    for (std::uint32_t i = 0; i < slots_.size(); ++i) f(i);
    for (std::uint32_t i = 0; i < direct_.size(); ++i) f(direct_first_ + i);
  }
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
  std::uint32_t capacity() const noexcept { return slots_.capacity() + direct_.capacity(); }
  std::uint32_t in_use() const noexcept { return in_use_; }
  // Direct slots in use, and whether every one the kernel may allocate is.
  std::uint32_t direct_in_use() const noexcept { return direct_in_use_; }
  bool direct_full() const noexcept { return direct_.capacity() > 0 && direct_in_use_ == direct_.capacity(); }
  std::uint32_t direct_first() const noexcept { return direct_first_; }
  void set_use_fixed(bool on) noexcept { use_fixed_ = on; }
  // Hands slots [first, capacity()) to the kernel. Before the first insert.
  void set_direct_first(std::uint32_t first) noexcept;

 private:
  // Marks a slot taken (insert, insert_direct): the fields a new handle starts with.
  void occupy(FdSlot& s, int fd, bool is_socket) noexcept;
  bool grow() noexcept;

  SlabArray<FdSlot, slab_slots> slots_;   // the engine's: [0, direct_first_)
  SlabArray<FdSlot, slab_slots> direct_;  // the kernel's: [direct_first_, capacity)
  std::uint32_t direct_first_;
  std::uint32_t in_use_ = 0;
  std::uint32_t direct_in_use_ = 0;
  std::uint32_t free_head_ = invalid_slot;
  bool use_fixed_ = false;
};

}  // namespace ringxfer::detail
