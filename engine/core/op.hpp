#pragma once
// Op: one in-flight engine operation. Ops live in engine-owned slots, have a
// stable address (user_data is the Op* with the sub-request tag in its low
// bits), and are never copied or moved. Nothing is allocated per operation.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <sys/socket.h>
#include <sys/uio.h>

#include "backend.hpp"
#include "core/slab_array.hpp"
#include "ringxfer/address.hpp"
#include "ringxfer/engine.hpp"

namespace ringxfer::detail {

enum class OpKind : std::uint8_t {
  accept, connect, recv, recv_into, signals, send, sendv, send_zc, splice, read, write, timeout, shutdown, close,
  wait_readable,
  release,  // close() without the close(2): the fd goes to the handler (Engine::release)
};

// Sub-request tags: which part of an operation a completion belongs to.
enum Tag : std::uint8_t {
  tag_main = 0,        // the operation itself (and its continuations)
  tag_splice_in = 1,   // splice: source -> pipe
  tag_splice_out = 2,  // splice: pipe -> sink
  tag_copy_in = 3,     // splice fallback: read into a pool buffer
  tag_copy_out = 4,    // splice fallback: send/write from the pool buffer
  tag_pause = 5,       // accept: the timer that ends a pause (EMFILE and the like)
  tag_poll = 6,        // splice from a socket: wait until it is readable (poll-first)
  tag_deadline = 7,    // connect: its timeout (a linked LINK_TIMEOUT, or a plain timer)
  tag_count = 8
};

inline constexpr std::size_t op_alignment = 64;  // low 6 bits of an Op* carry the tag
static_assert(tag_count <= op_alignment);

struct alignas(op_alignment) Op {
  Op() = default;
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;

  // ---- identity and bookkeeping
  OpKind kind{};
  std::uint8_t inflight_tags = 0;   // bit per tag submitted and not finally completed
  bool cancel_requested = false;
  bool handler_done = false;        // the user's handler ran its final call
  bool in_use = false;
  std::uint32_t index = 0;          // slot index
  std::uint32_t generation = 1;
  std::error_code deferred_error;   // for completions delivered without the backend
  Op* next = nullptr;               // free list / deferred list / starved list
  // FdTable slots this op pinned (handle, handle_out): they are not reused
  // until the op can no longer have a request naming them (invariant 8).
  std::uint32_t pinned[2] = {invalid_slot, invalid_slot};
  std::uint32_t close_slot = invalid_slot;  // close: the slot freed when the fd is closed
  int released_fd = -1;             // release: the fd handed to the handler (-1 until then)
  // Per-socket write queue (invariant 9): the next writer on the same socket,
  // and the slot whose writer this op is (or is queued to become).
  Op* write_next = nullptr;
  std::uint32_t write_slot = invalid_slot;
  bool writing = false;             // the op is its socket's current writer

  // ---- what it works on
  FdRef handle;                     // source / socket / file
  FdRef handle_out;                 // splice sink
  Handler handler;

  // ---- per-kind state (small enough that a union is not worth its risks)
  const std::byte* data = nullptr;  // send: user memory
  std::size_t length = 0;           // bytes asked for
  std::size_t done = 0;             // bytes moved so far
  std::int64_t offset = -1;         // source offset (or -1)
  std::int64_t offset_out = -1;     // sink offset (or -1)
  std::int32_t buffer = -1;         // pool buffer the op holds (send_zc, read, write, copy fallback)
  std::size_t buffer_capacity = 0;  // ... and the bytes of it the lease gave (at data; a receive
                                    // chunk is only part of its pool buffer)
  std::uint32_t pending_notifs = 0; // send_zc notifications still to come
  std::int32_t pipe = -1;           // splice: pipe pool index
  std::size_t in_pipe = 0;          // splice: bytes sitting in the pipe
  std::size_t chunk = 0;            // splice fallback: bytes in the copy buffer not yet written
  std::size_t chunk_done = 0;
  bool source_eof = false;
  bool paused = false;              // accept: waiting for tag_pause before re-arming
  bool pipe_only = false;           // splice: never sendfile (SpliceFlags::splice_pipe_only)
  bool until_idle = false;          // splice: end once the source has no more now (splice_until_idle)
  bool pipe_no_wait = false;        // splice: no free pipe is no_free_pipe at once (splice_no_wait)
  bool went_short = false;          // splice, until_idle: a read came back short of its chunk
  std::size_t asked_in = 0;         // splice: bytes the read into the pipe (or copy buffer) asked for
  bool send_more = false;           // send, sendv: MSG_MORE (SendFlags::send_more)
  bool zc_by_copy = false;          // send_zc: the kernel refused to pin (ENOBUFS/ENOMEM): plain send
  bool exactly = false;             // recv_into: fill the whole span (recv_exactly)
  bool recv_paused = false;         // recv: pause()d; no handler call until resume()
  bool pause_cancel = false;        // recv: pause() cancelled the request; its -ECANCELED is no end
  bool resume_queued = false;       // recv: in EngineCore::resumed_, held chunks to deliver
  std::uint32_t held_count = 0;     // recv: chunks received while paused, in EngineCore::held_
  bool timed_out = false;           // connect: its deadline fired
  bool linked_deadline = false;     // connect: the deadline is a LINK_TIMEOUT (the kernel cancels)
  std::int32_t connect_result = 0;  // connect: the connect request's result, kept until the deadline is back
  bool polling = false;             // recv (core picks buffers): a poll_in is in flight
  bool readable = false;            // recv (core picks buffers): poll_in said data is there
  std::error_code first_error;      // splice: an error seen while other parts were in flight
  Timespec timespec;
  Address address;                  // connect
  iovec pieces[max_gather];         // sendv: what the user gave
  std::uint32_t piece_count = 0;
  iovec pending[max_gather];        // sendv: what is left, for the next sendmsg
  msghdr message{};                 // sendv: names `pending`; read by the kernel after submit
};

// Op slots with a free list, allocated in slabs of slab_ops as they are
// needed, up to capacity() (never per operation); an op's address never
// changes.
class OpPool {
 public:
  static constexpr std::uint32_t slab_ops = 256;

  explicit OpPool(std::uint32_t capacity);
  // nullptr when all capacity() ops are in use (or a slab cannot be had).
  Op* acquire() noexcept;
  void release(Op* op) noexcept;
  // The op behind an id, or nullptr if it finished (generation moved on).
  Op* lookup(OpId id) noexcept;
  Op& at(std::uint32_t index) noexcept { return ops_[index]; }
  std::uint32_t allocated() const noexcept { return ops_.size(); }  // slots that exist so far
  std::uint32_t capacity() const noexcept { return ops_.capacity(); }
  std::uint32_t in_use() const noexcept { return in_use_; }

 private:
  bool grow() noexcept;

  SlabArray<Op, slab_ops> ops_;
  std::uint32_t in_use_ = 0;
  Op* free_ = nullptr;
};

inline std::uint64_t encode_user_data(const Op* op, std::uint8_t tag) noexcept {
  return reinterpret_cast<std::uintptr_t>(op) | tag;
}

}  // namespace ringxfer::detail
