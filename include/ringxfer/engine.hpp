#pragma once
// Engine: one per thread. It owns a backend (io_uring or epoll), an FdTable, a
// BufferPool, a pipe pool and preallocated op slots. Only post(), wake() and
// stop() may be called from other threads.
//
// Threads. Construct the Engine on any thread and hand it to the thread that
// runs it ("construct in main, run on a worker" works): the io_uring ring
// starts disabled and is enabled, and its fd registered, by the first thread
// that enters the kernel for it: the first run()/run_once()/poll() -- or,
// before that, a close() of a handle, or starting more operations than the SQ
// holds. From then on the Engine belongs to that thread on io_uring (the ring
// is SINGLE_ISSUER, the registered ring fd is per thread): run()/run_once()/
// poll() from another thread end with error::wrong_thread, and the engine is
// stopped for good. Setup calls (adopt, listen, open) and starting operations
// are fine from the constructing thread before the first run. epoll has no
// such tie, but write for the io_uring rule. The Engine may be destroyed on
// any thread, also after the thread that ran it has exited: what the kernel
// can still complete is drained; if the kernel refuses this thread, the ring
// is closed (the kernel cancels what it holds) and every op still in flight
// completes with operation_canceled. Either way no handler is skipped.
//
// Errors of the loop itself. An io_uring_enter or io_uring_register error
// other than EINTR/EAGAIN/EBUSY is never retried in a loop: run() returns it,
// run_once()/poll() give it through their error_code overloads (and return 0
// at once from then on), error() keeps it and stopped() is true.
//
// Every operation that starts completes exactly once (DESIGN invariant 1): its
// handler runs with a result, an error, or std::errc::operation_canceled — also
// when its handle is closed or the Engine is destroyed. Multishot operations
// (accept, recv) call their handler once per result; the last call carries an
// error (eof, operation_canceled, ...). Handlers never run inside the call that
// starts the operation: they run from run()/run_once()/poll().
//
// An operation that cannot start returns an empty OpId whose error() says why
// (error::no_free_op_slot, error::shutting_down); its handler is never called.
// The op and fd tables grow in slabs up to EngineOptions::op_slots and
// fd_slots, whose defaults come from RLIMIT_NOFILE (see options.hpp).
//
// Writes on one socket leave in the order they were started (DESIGN invariant
// 9): send, sendv, send_zc, write, a splice into the socket and
// shutdown(SHUT_WR) started one after another reach the peer in that order.
// Core keeps a per-socket write queue: a write started while another is in
// flight on the same socket waits for it (no extra syscall when none is).
//
// Handles: a Socket or File goes stale the moment close() is called on it;
// its fd is closed, and its slot reused, only after every request that may
// still name it has completed (DESIGN invariant 8).
//
// No operation raises SIGPIPE. Writing into a socket whose write side is dead
// (peer reset, peer gone, our own shutdown) completes with broken_pipe or
// connection_reset. Sends use MSG_NOSIGNAL; splice(2) and sendfile(2) have no
// such flag, so on epoll the engine blocks SIGPIPE in its thread around them
// and takes the signal they raised (Stats::sigpipe_syscalls; one
// rt_sigprocmask pair per loop turn that splices). The process's signal
// dispositions are never changed. On io_uring, a write into a pipe or FIFO
// goes to the kernel's worker threads (IOSQE_ASYNC), where a broken pipe
// raises no signal in the engine's thread.
//
// Fairness: one loop turn runs the tasks that were posted when it began (a
// task that posts itself runs again next turn, after I/O and timers), and on
// epoll a multishot recv takes at most recv_buffer_count / 4 (<= 32) receive
// buffers per socket per turn, so one flooding socket cannot starve others.
// (On io_uring the kernel bounds a multishot recv per wake-up; receive
// bundles, Feature::recv_bundle, do not, which is why they are opt-in.)
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <system_error>
#include <type_traits>
#include <utility>

#include "ringxfer/address.hpp"
#include "ringxfer/buffer.hpp"
#include "ringxfer/error.hpp"
#include "ringxfer/features.hpp"
#include "ringxfer/handles.hpp"
#include "ringxfer/inline_function.hpp"
#include "ringxfer/options.hpp"
#include "ringxfer/stats.hpp"

namespace ringxfer {

// What an operation produced; adapted to each handler's signature below.
struct Outcome {
  std::error_code error;
  std::size_t bytes = 0;
  Socket socket;
  Buffer buffer;
};

inline constexpr std::size_t handler_capacity_bytes = 64;
inline constexpr std::size_t until_eof = ~std::size_t(0);
inline constexpr std::size_t max_gather = 8;  // pieces in one sendv

// Flags for send() and sendv().
enum SendFlags : unsigned {
  // MSG_MORE: more bytes follow at once (a response head before its body):
  // the kernel holds a partial segment instead of sending it alone.
  send_more = 1u << 0,
};

// Flags for splice().
enum SpliceFlags : unsigned {
  splice_pipe_only = 1u << 0,  // never sendfile(2): always through a pipe of the pool
};
using Handler = InlineFunction<void(Outcome&), handler_capacity_bytes>;
using Task = InlineFunction<void(), handler_capacity_bytes>;

namespace detail {
class EngineCore;
}

class Engine {
 public:
  // Throws std::system_error if no backend can start (construction is not the
  // I/O path; nothing after it throws).
  explicit Engine(EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // ---- the loop -----------------------------------------------------------
  // Runs until stop() or until no operation is in flight and nothing is
  // posted: returns {}; or until the backend fails (see "Errors" above):
  // returns that error.
  std::error_code run();
  // One loop turn: submit, wait up to `timeout` for at least one completion,
  // dispatch. Returns the number of handlers run; `error` is set if the
  // backend failed (the engine is then stopped for good).
  std::size_t run_once(std::chrono::milliseconds timeout, std::error_code& error);
  std::size_t run_once(std::chrono::milliseconds timeout);
  // One loop turn that does not wait.
  std::size_t poll(std::error_code& error);
  std::size_t poll();
  void stop() noexcept;
  // True after stop() until run() returns, and for good after a backend error.
  bool stopped() const noexcept;
  // The backend error that stopped the engine for good; {} while it works.
  std::error_code error() const noexcept;
  // Thread-safe: queue `task` to run on the engine's thread and wake it. The
  // queue is bounded; a full queue returns error::post_queue_full.
  std::error_code post(Task task) noexcept;
  // Thread-safe: make a blocked run_once() return.
  void wake() noexcept;
  // Operations started and not yet completed.
  std::size_t in_flight() const noexcept;
  // Op and fd slots in use and their capacity (how many more connections and
  // operations fit).
  SlotUsage slot_usage() const noexcept;

  // ---- handles (setup; synchronous) ----------------------------------------
  // Takes ownership of `fd` and registers it. The engine sets the fd's mode to
  // what its backend needs: O_NONBLOCK on epoll; blocking on io_uring, which
  // polls sockets itself (an O_NONBLOCK pipe or socket would make io_uring
  // splice hand EAGAIN back instead of waiting). On error the fd stays yours.
  std::error_code adopt(int fd, Socket& out) noexcept;
  std::error_code adopt(int fd, File& out) noexcept;
  std::error_code open(const char* path, int flags, File& out, unsigned mode = 0644) noexcept;
  // A listening TCP socket with SO_REUSEADDR (mode as for adopt()).
  std::error_code listen(const Address& address, Socket& out, int backlog = 1024) noexcept;
  std::error_code local_address(FdRef handle, Address& out) const noexcept;
  // The fd behind a handle, or -1 if the handle is stale. For setsockopt and
  // the like; the engine still owns it.
  int native_handle(FdRef handle) const noexcept;
  // A buffer from the pool for send_zc/read/write; empty when none is free.
  Buffer acquire_buffer() noexcept;

  // ---- operations ----------------------------------------------------------
  // Multishot: handler(ec, Socket) for each accepted connection.
  template <class F>
  OpId accept(Socket listener, F&& handler) {
    return start_accept(listener, [h = std::forward<F>(handler)](Outcome& o) mutable {
      h(o.error, o.socket);
    });
  }
  // Creates a socket and connects it: handler(ec, Socket).
  template <class F>
  OpId connect(const Address& address, F&& handler) {
    return start_connect(address, [h = std::forward<F>(handler)](Outcome& o) mutable {
      h(o.error, o.socket);
    });
  }
  // Multishot receive into the shared receive buffers: handler(ec, Buffer) for
  // each chunk; ends with error::eof when the peer closes. Dropping the Buffer
  // gives it back to the ring.
  // A recv takes every byte that arrives, so it claims the socket's read side
  // until its handler's last call: a recv(), read() or splice() from that
  // socket started meanwhile fails at once with error::receive_in_progress
  // (on both backends; it could never be given bytes in a defined order).
  // Reads started before the recv are not affected. Cancel the recv first to
  // switch to read() or splice().
  template <class F>
  OpId recv(Socket socket, F&& handler) {
    return start_recv(socket, [h = std::forward<F>(handler)](Outcome& o) mutable {
      h(o.error, std::move(o.buffer));
    });
  }
  // Sends all of `data` (continuing after short sends): handler(ec, bytes_sent).
  // `data` must stay valid until the handler runs.
  template <class F>
  OpId send(Socket socket, std::span<const std::byte> data, F&& handler, unsigned flags = 0) {
    return start_send(socket, data, adapt_bytes(std::forward<F>(handler)), flags);
  }
  // Gather send: all bytes of up to max_gather pieces in order, in as few
  // syscalls as the kernel allows (sendmsg), continuing after short sends:
  // handler(ec, bytes_sent). More pieces than max_gather: invalid_argument.
  template <class F>
  OpId sendv(Socket socket, std::span<const std::span<const std::byte>> pieces, F&& handler,
             unsigned flags = 0) {
    return start_sendv(socket, pieces, adapt_bytes(std::forward<F>(handler)), flags);
  }
  // (send_zc, read and write take a pool Buffer; an empty one gives
  // std::errc::invalid_argument.)
  // Zero-copy send of a pool buffer: handler(ec, bytes_sent) runs at the send
  // result; the buffer belongs to the engine until the kernel's notification
  // and then returns to the pool by itself.
  template <class F>
  OpId send_zc(Socket socket, Buffer buffer, F&& handler) {
    return start_send_zc(socket, std::move(buffer), adapt_bytes(std::forward<F>(handler)));
  }
  // Moves `length` bytes from src (at src_offset, or -1 for a stream) to dst
  // (at dst_offset, or -1) through a pipe from the engine's pipe pool:
  // handler(ec, bytes_moved). A source that ends early gives
  // error::transfer_incomplete with the bytes moved so far; with
  // length == until_eof the end of the source is the normal end.
  // Strategy: splice through a pipe; on epoll a file -> socket move with an
  // offset uses sendfile(2); without splice, a copy through a pool buffer.
  // flags: splice_pipe_only makes a file -> socket move go through a pipe
  // even where the backend would use sendfile(2) (to compare the two).
  template <class F>
  OpId splice(FdRef src, std::int64_t src_offset, FdRef dst, std::int64_t dst_offset,
              std::size_t length, F&& handler, unsigned flags = 0) {
    return start_splice(src, src_offset, dst, dst_offset, length,
                        adapt_bytes(std::forward<F>(handler)), flags);
  }
  // One read into `buffer` (fixed buffer where registered): handler(ec, Buffer)
  // with the buffer's size set to the bytes read (0 at end of file).
  template <class F>
  OpId read(FdRef handle, std::int64_t offset, Buffer buffer, F&& handler) {
    return start_read(handle, offset, std::move(buffer), adapt_buffer(std::forward<F>(handler)));
  }
  // Writes all of buffer.bytes() at `offset` (-1: current position / stream):
  // handler(ec, Buffer) gives the buffer back; handler(ec, Buffer, bytes)
  // also gets the bytes written (fewer than the buffer's after an error).
  template <class F>
  OpId write(FdRef handle, std::int64_t offset, Buffer buffer, F&& handler) {
    if constexpr (std::is_invocable_v<F&, std::error_code, Buffer, std::size_t>) {
      return start_write(handle, offset, std::move(buffer),
                         [h = std::forward<F>(handler)](Outcome& o) mutable {
                           h(o.error, std::move(o.buffer), o.bytes);
                         });
    } else {
      return start_write(handle, offset, std::move(buffer), adapt_buffer(std::forward<F>(handler)));
    }
  }
  // handler(ec): {} when the time passed, operation_canceled when cancelled.
  template <class F>
  OpId timeout(std::chrono::nanoseconds after, F&& handler) {
    return start_timeout(after, adapt_error(std::forward<F>(handler)));
  }
  template <class F>
  OpId shutdown(Socket socket, int how, F&& handler) {
    return start_shutdown(socket, how, adapt_error(std::forward<F>(handler)));
  }
  // Cancels the handle's pending operations (they complete with
  // operation_canceled), makes the handle stale at once, then closes the fd
  // once nothing in flight names it; the handler runs when the fd is closed.
  // If no op slot is free for the close itself, the handle still goes stale
  // and the fd is still closed, but the handler cannot run: the empty OpId's
  // error() is error::no_free_op_slot.
  template <class F>
  OpId close(FdRef handle, F&& handler) {
    return start_close(handle, adapt_error(std::forward<F>(handler)));
  }
  // Asks an operation to finish early; it completes with operation_canceled
  // (unless it completes first). Returns false if `id` is no longer in flight.
  bool cancel(OpId id) noexcept;

  const Stats& stats() const noexcept;
  const Features& features() const noexcept;

 private:
  template <class F>
  static Handler adapt_bytes(F&& f) {
    return [h = std::forward<F>(f)](Outcome& o) mutable { h(o.error, o.bytes); };
  }
  template <class F>
  static Handler adapt_buffer(F&& f) {
    return [h = std::forward<F>(f)](Outcome& o) mutable { h(o.error, std::move(o.buffer)); };
  }
  template <class F>
  static Handler adapt_error(F&& f) {
    return [h = std::forward<F>(f)](Outcome& o) mutable { h(o.error); };
  }

  OpId start_accept(Socket listener, Handler handler) noexcept;
  OpId start_connect(const Address& address, Handler handler) noexcept;
  OpId start_recv(Socket socket, Handler handler) noexcept;
  OpId start_send(Socket socket, std::span<const std::byte> data, Handler handler, unsigned flags) noexcept;
  OpId start_sendv(Socket socket, std::span<const std::span<const std::byte>> pieces, Handler handler,
                   unsigned flags) noexcept;
  OpId start_send_zc(Socket socket, Buffer buffer, Handler handler) noexcept;
  OpId start_splice(FdRef src, std::int64_t src_offset, FdRef dst, std::int64_t dst_offset,
                    std::size_t length, Handler handler, unsigned flags) noexcept;
  OpId start_read(FdRef handle, std::int64_t offset, Buffer buffer, Handler handler) noexcept;
  OpId start_write(FdRef handle, std::int64_t offset, Buffer buffer, Handler handler) noexcept;
  OpId start_timeout(std::chrono::nanoseconds after, Handler handler) noexcept;
  OpId start_shutdown(Socket socket, int how, Handler handler) noexcept;
  OpId start_close(FdRef handle, Handler handler) noexcept;

  std::unique_ptr<detail::EngineCore> core_;
};

}  // namespace ringxfer
