#pragma once
/// @file
/// Errors are std::error_code (DESIGN invariant 6). Kernel results map to
/// std::system_category (compare against std::errc::...); the few conditions the
/// engine itself reports use ringxfer::error.
#include <system_error>

namespace ringxfer {

/// Conditions the engine itself reports (category "ringxfer").
enum class error : int {
  eof = 1,             ///< the peer closed its side; a recv stream ends with this
  no_free_op_slot,     ///< every op slot is in use (EngineOptions::op_slots)
  no_free_fd_slot,     ///< every FdTable slot is in use (EngineOptions::fd_slots)
  no_free_buffer,      ///< the BufferPool has no free buffer
  no_free_pipe,        ///< every splice pipe is in use (EngineOptions::pipe_count)
  post_queue_full,     ///< post() from another thread found the bounded queue full
  transfer_incomplete, ///< the source ended before the requested length was moved
  shutting_down,       ///< the Engine is being destroyed: no new operation starts
  receive_in_progress, ///< a recv() runs on this socket: it takes every byte, no other read may start
  wrong_thread,        ///< io_uring refused a thread other than the one that first ran the Engine
};

/// The category of ringxfer::error codes (name "ringxfer").
const std::error_category& error_category() noexcept;

/// Makes ringxfer::error usable as a std::error_code.
inline std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// A negative kernel result (-errno) as an error_code; 0 or positive is success.
inline std::error_code from_result(int result) noexcept {
  return result < 0 ? std::error_code(-result, std::system_category()) : std::error_code();
}

}  // namespace ringxfer

/// @cond
template <>
struct std::is_error_code_enum<ringxfer::error> : std::true_type {};
/// @endcond
