#pragma once
// Handles name a slot of the engine's FdTable plus the slot's generation at the
// time the handle was made. Closing a slot bumps its generation, so a handle
// kept past close() yields bad_file_descriptor instead of reaching whatever fd
// the kernel hands out next.
#include <compare>
#include <cstdint>

namespace ringxfer {

inline constexpr std::uint32_t invalid_slot = 0xffffffffu;

struct FdRef {
  std::uint32_t slot = invalid_slot;
  std::uint32_t generation = 0;
  constexpr bool valid() const noexcept { return slot != invalid_slot; }
  friend constexpr bool operator==(FdRef, FdRef) = default;
};

// A connected or listening socket owned by an Engine.
struct Socket : FdRef {};
// A regular file (or any non-socket fd: pipe, eventfd) owned by an Engine.
struct File : FdRef {};

// Names one started operation, for cancel(). Generation-checked like handles:
// cancelling an operation that has already completed is a no-op.
struct OpId {
  std::uint32_t slot = invalid_slot;
  std::uint32_t generation = 0;
  constexpr explicit operator bool() const noexcept { return slot != invalid_slot; }
  friend constexpr bool operator==(OpId, OpId) = default;
};

}  // namespace ringxfer
