#pragma once
/// @file
/// Handles name a slot of the engine's FdTable plus the slot's generation at the
/// time the handle was made. Closing a slot bumps its generation, so a handle
/// kept past close() yields bad_file_descriptor instead of reaching whatever fd
/// the kernel hands out next.
///
/// Threads: handles are plain values that may be copied anywhere, but they are
/// used (passed to an Engine call) only on the thread that runs their Engine;
/// from another thread, post() a task that uses them.
#include <compare>
#include <cstdint>
#include <system_error>

#include "ringxfer/error.hpp"

namespace ringxfer {

/// The slot of an empty handle or OpId.
inline constexpr std::uint32_t invalid_slot = 0xffffffffu;

/// Any handle (Socket or File): a slot of the FdTable and its generation.
struct FdRef {
  std::uint32_t slot = invalid_slot;  ///< index in the engine's FdTable
  std::uint32_t generation = 0;       ///< the slot's generation when the handle was made

  /// False for a default-constructed handle (not for a stale one: the engine
  /// detects those).
  constexpr bool valid() const noexcept { return slot != invalid_slot; }
  /// Same slot and generation.
  friend constexpr bool operator==(FdRef, FdRef) = default;
};

/// A connected or listening socket owned by an Engine.
struct Socket : FdRef {};
/// A regular file (or any non-socket fd: pipe, eventfd) owned by an Engine.
struct File : FdRef {};

/// Names one started operation, for cancel(). Generation-checked like handles:
/// cancelling an operation that has already completed is a no-op.
///
/// An operation that could not start returns an empty OpId (false), and
/// error() says why: error::no_free_op_slot (every one of
/// EngineOptions::op_slots is in use) or error::shutting_down. Its handler is
/// never called.
struct OpId {
  std::uint32_t slot = invalid_slot;  ///< the op slot, or invalid_slot when the op did not start
  std::uint32_t generation = 0;  ///< for an empty OpId: the ringxfer::error that stopped it, or 0

  /// True if the operation started.
  constexpr explicit operator bool() const noexcept { return slot != invalid_slot; }
  /// Why an empty OpId did not start; {} for one that started.
  std::error_code error() const noexcept {
    if (slot != invalid_slot || generation == 0) return {};
    return make_error_code(static_cast<ringxfer::error>(generation));
  }
  /// The empty OpId the engine returns when an operation cannot start.
  static constexpr OpId not_started(ringxfer::error why) noexcept {
    return {invalid_slot, static_cast<std::uint32_t>(why)};
  }
  /// Same slot and generation.
  friend constexpr bool operator==(OpId, OpId) = default;
};

}  // namespace ringxfer
