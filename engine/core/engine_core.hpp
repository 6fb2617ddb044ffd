#pragma once
// EngineCore: the backend-neutral engine. It owns the op slots, FdTable,
// BufferPool and PipePool, runs the loop (reap a batch, then dispatch) and the
// transfer state machines. Every fallback for a feature a backend lacks lives
// here, once, and is counted in Stats::fallbacks.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "backend.hpp"
#include "core/buffer_pool.hpp"
#include "core/fd_table.hpp"
#include "core/op.hpp"
#include "core/pipe_pool.hpp"

namespace ringxfer::detail {

// An intrusive FIFO of Ops linked through Op::next (an op is in one list at most).
class OpList {
 public:
  void push(Op* op) noexcept {
    op->next = nullptr;
    if (tail_ != nullptr) tail_->next = op; else head_ = op;
    tail_ = op;
  }
  Op* pop() noexcept {
    Op* op = head_;
    if (op != nullptr) {
      head_ = op->next;
      if (head_ == nullptr) tail_ = nullptr;
      op->next = nullptr;
    }
    return op;
  }
  bool remove(Op* op) noexcept;
  bool empty() const noexcept { return head_ == nullptr; }
  Op* head() const noexcept { return head_; }

 private:
  Op* head_ = nullptr;
  Op* tail_ = nullptr;
};

class EngineCore {
 public:
  explicit EngineCore(EngineOptions options);
  ~EngineCore();

  // ---- loop
  std::size_t run_once(std::chrono::nanoseconds timeout) noexcept;
  std::error_code run() noexcept;
  void stop() noexcept;
  bool stopped() const noexcept { return stop_.load(std::memory_order_relaxed) || fault(); }
  // The backend's sticky error (Backend::fault): the loop cannot go on.
  std::error_code fault() const noexcept { return backend_ ? backend_->fault() : std::error_code(); }
  // `from`: the engine whose thread calls (wake it through that engine's
  // ring where the backends allow), or nullptr.
  std::error_code post(Task task, EngineCore* from = nullptr) noexcept;
  void wake() noexcept { backend_->wake(); }
  int event_fd() noexcept { return backend_->event_fd(); }
  std::chrono::nanoseconds poll_timeout() const noexcept;
  void wake_from(EngineCore* from) noexcept;
  std::size_t in_flight() const noexcept { return std::size_t(stats_.ops_started - stats_.ops_completed); }
  SlotUsage slot_usage() const noexcept;

  // ---- handles
  std::error_code adopt(int fd, bool is_socket, FdRef& out) noexcept;
  std::error_code open(const char* path, int flags, unsigned mode, FdRef& out) noexcept;
  std::error_code listen(const Address& address, const ListenOptions& options, FdRef& out) noexcept;
  std::error_code local_address(FdRef handle, Address& out) const noexcept;
  int native_handle(FdRef handle) const noexcept;
  Buffer acquire_buffer() noexcept { return pool_->acquire(); }

  // ---- operations
  OpId start_accept(Socket listener, Handler handler) noexcept;
  OpId start_connect(const Address& address, ConnectOptions& options, Handler handler) noexcept;
  OpId start_recv(Socket socket, Handler handler) noexcept;
  OpId start_recv_into(Socket socket, std::span<std::byte> into, Handler handler, bool exactly) noexcept;
  OpId start_send(Socket socket, std::span<const std::byte> data, Handler handler, unsigned flags) noexcept;
  OpId start_signals(std::span<const int> signos, Handler handler) noexcept;
  OpId start_sendv(Socket socket, std::span<const std::span<const std::byte>> pieces, Handler handler,
                   unsigned flags) noexcept;
  OpId start_send_zc(Socket socket, Buffer buffer, Handler handler) noexcept;
  OpId start_splice(FdRef src, std::int64_t src_offset, FdRef dst, std::int64_t dst_offset,
                    std::size_t length, Handler handler, unsigned flags) noexcept;
  OpId start_read(FdRef handle, std::int64_t offset, Buffer buffer, Handler handler) noexcept;
  OpId start_write(FdRef handle, std::int64_t offset, Buffer buffer, Handler handler) noexcept;
  OpId start_timeout(std::chrono::nanoseconds after, Handler handler) noexcept;
  OpId start_shutdown(Socket socket, int how, Handler handler) noexcept;
  OpId start_wait_readable(Socket socket, Handler handler) noexcept;
  OpId start_close(FdRef handle, Handler handler) noexcept;
  OpId start_release(FdRef handle, Handler handler) noexcept;
  bool cancel(OpId id) noexcept;
  bool pause_recv(OpId id) noexcept;
  bool resume_recv(OpId id) noexcept;

  const Stats& stats() const noexcept { return stats_; }
  const Features& features() const noexcept { return features_; }

 private:
  // ---- op lifecycle (engine_core.cpp)
  Op* new_op(OpKind kind, Handler&& handler) noexcept;
  static OpId id_of(const Op* op) noexcept { return {op->index, op->generation}; }
  // Why new_op() found no slot, as the empty OpId the caller gets.
  OpId not_started() const noexcept {
    return OpId::not_started(destroying_ ? error::shutting_down : error::no_free_op_slot);
  }
  void submit(Op* op, Request& request, std::uint8_t tag) noexcept;
  // Completes `op` with `error` from the loop, not from the starting call.
  void fail_soon(Op* op, std::error_code error) noexcept;
  // The handler's last call; the slot is freed once nothing is in flight.
  void finish(Op* op, Outcome& outcome) noexcept;
  void finish(Op* op, std::error_code error, std::size_t bytes = 0) noexcept;
  void release_if_idle(Op* op) noexcept;
  // Destruction with the backend gone: every op left ends with
  // operation_canceled (its handler runs once) and its slot is freed.
  void abandon_all() noexcept;
  // The op takes the buffer from the lease (it is the engine's until the op
  // ends). An empty lease fails the op with invalid_argument: returns false.
  bool take_buffer(Op* op, Buffer& buffer) noexcept;
  void cancel_requests(Op* op) noexcept;
  // close(): cancel every request and waiting op on the handle's fd.
  void cancel_fd_requests(FdRef handle) noexcept;
  // The slot behind a handle; nullptr if stale.
  FdSlot* slot_of(FdRef ref) noexcept { return fds_.lookup(ref); }
  Target target_of(FdRef ref) const noexcept { return fds_.target(ref.slot); }
  void close_slot_now(std::uint32_t slot) noexcept;  // synchronous: engine destruction only
  // The slot's handles go stale now; its fd is closed (by `close_op`, or
  // synchronously when there is none) once no op pins the slot any more.
  void retire_slot(std::uint32_t slot, Op* close_op) noexcept;
  void finalize_slot(std::uint32_t slot) noexcept;
  // release(): the emptied slot's fd goes to `op` instead of being closed.
  void hand_over_slot(std::uint32_t slot, Op* op) noexcept;
  void finalize_direct_slot(std::uint32_t slot) noexcept;  // finalize_slot for a direct descriptor
  // A connection the kernel accepted into fixed slot `slot` (caps.accept_direct).
  std::error_code register_direct(std::uint32_t slot, FdRef& out) noexcept;
  void pin_handles(Op* op) noexcept;    // at submit: the op's requests name these slots
  void unpin_handles(Op* op) noexcept;  // the op can no longer have a request naming them
  std::error_code register_fd(int fd, bool is_socket, FdRef& out) noexcept;
  void dispatch(const Completion& c) noexcept;
  std::size_t run_deferred() noexcept;
  std::size_t run_posted() noexcept;
  void on_recv_buffer_released(std::uint32_t id) noexcept;
  bool closed_under(Op* op) noexcept;  // the op's handle was closed while it ran
  // recv() claims its socket's read side until it ends (engine.hpp): true if
  // one runs on `handle` (a valid handle).
  bool receive_running(FdRef handle) const noexcept {
    const Op* r = fds_.at(handle.slot).receiver;  // handle is valid: its slot exists
    return r != nullptr && r->handle == handle;
  }

  // ---- per-socket write queue (invariant 9; engine_core.cpp)
  // True if `op` may start writing to `socket` now; false if it was queued
  // behind the socket's current writer (it starts when that one finishes).
  bool take_write_turn(Op* op, FdRef socket) noexcept;
  void pass_write_turn(Op* op) noexcept;      // at finish: the next writer starts
  void start_writer(Op* op) noexcept;         // its turn came: the first request
  bool drop_queued_writer(Op* op) noexcept;   // cancelled while queued
  void cancel_queued_writers(FdSlot& slot) noexcept;  // the socket is being closed

  // ---- stream ops (op_stream.cpp)
  void submit_accept(Op* op) noexcept;
  void pause_accept(Op* op) noexcept;  // EMFILE and the like: retry after a pause
  void on_accept(Op* op, const Completion& c) noexcept;
  void on_connect(Op* op, const Completion& c) noexcept;
  void submit_recv(Op* op) noexcept;
  void on_recv(Op* op, const Completion& c) noexcept;
  // pause()/resume() of a multishot recv (op_stream.cpp). Chunks that arrive
  // between pause() and the end of its request are held, in order, and
  // handed out after resume() (or before the op's final call).
  void hold_chunk(Op* op, Buffer chunk, std::size_t bytes) noexcept;
  void deliver_held(Op* op, bool all) noexcept;
  void continue_recv(Op* op) noexcept;  // after a pause's request ended or a resume
  std::size_t run_resumed() noexcept;
  void submit_recv_into(Op* op) noexcept;
  void on_recv_into(Op* op, const Completion& c) noexcept;
  // ---- signals (op_signals.cpp)
  void submit_signal_wait(Op* op) noexcept;
  void on_signals(Op* op, const Completion& c) noexcept;
  void end_signals(Op* op, std::error_code error) noexcept;
  void submit_out_chunk(Op* op) noexcept;  // send, send_zc, write: the rest of the bytes
  void on_out(Op* op, const Completion& c) noexcept;
  void on_zc_notification(Op* op, const Completion& c) noexcept;

  // ---- splice (op_splice.cpp)
  void splice_step(Op* op) noexcept;
  void on_splice(Op* op, const Completion& c) noexcept;
  void splice_done(Op* op) noexcept;
  void begin_splice(Op* op) noexcept;  // takes a pipe (or waits for one), then steps

  // ---- the rest (op_misc.cpp)
  void on_read(Op* op, const Completion& c) noexcept;
  void on_simple(Op* op, const Completion& c) noexcept;  // timeout, shutdown, close
  void submit_shutdown(Op* op) noexcept;

  EngineOptions options_;
  Stats stats_;
  Features features_;
  std::unique_ptr<Backend> backend_;
  Capabilities caps_;
  FdTable fds_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<PipePool> pipes_;
  OpPool ops_;
  std::vector<Completion> batch_;
  OpList deferred_;            // ops completing without the backend (fail_soon)
  OpList starved_;             // recv ops waiting for a receive buffer
  OpList pipe_waiters_;        // splices waiting for a pipe of the pool (FIFO)
  OpList resumed_;             // resumed recvs with held chunks to hand out
  // Receive chunks held for paused recvs, in arrival order. Each holds a
  // distinct receive buffer, so recv_count entries are reserved: no growth.
  struct HeldChunk {
    Op* op;
    Buffer buffer;  // the chunk's lease, taken when it arrived
    std::uint32_t bytes;
  };
  std::vector<HeldChunk> held_;
  std::vector<std::uint32_t> recv_free_;  // receive buffers, when core picks them (no buf_ring)
  // Receive buffers the backend holds for recv (buf_ring): a recv that ran
  // dry re-arms at once if buffers came back before its -ENOBUFS was seen.
  std::uint32_t recv_available_ = 0;
  // Splice ops whose handler has not run: close() looks for splices using
  // the closed handle only when there are any.
  std::uint32_t splices_running_ = 0;
  bool destroying_ = false;

  // post(): a bounded ring guarded by a mutex; the loop drains it.
  std::mutex post_mutex_;
  std::vector<Task> post_ring_;
  std::size_t post_head_ = 0;
  std::size_t post_count_ = 0;
  std::atomic<bool> post_pending_{false};
  std::atomic<bool> stop_{false};
};

}  // namespace ringxfer::detail
