#pragma once
/// @file
/// Engine: one per thread. It owns a backend (io_uring or epoll), an FdTable, a
/// BufferPool, a pipe pool and preallocated op slots. Only post(), wake() and
/// stop() may be called from other threads.
///
/// Threads. Construct the Engine on any thread and hand it to the thread that
/// runs it ("construct in main, run on a worker" works): the io_uring ring
/// starts disabled and is enabled, and its fd registered, by the first thread
/// that enters the kernel for it: the first run()/run_once()/poll() -- or,
/// before that, a close() of a handle, or starting more operations than the SQ
/// holds. From then on the Engine belongs to that thread on io_uring (the ring
/// is SINGLE_ISSUER, the registered ring fd is per thread): run()/run_once()/
/// poll() from another thread end with error::wrong_thread, and the engine is
/// stopped for good. Setup calls (adopt, listen, open) and starting operations
/// are fine from the constructing thread before the first run. epoll has no
/// such tie, but write for the io_uring rule. The Engine may be destroyed on
/// any thread, also after the thread that ran it has exited: what the kernel
/// can still complete is drained; if the kernel refuses this thread, the ring
/// is closed (the kernel cancels what it holds) and every op still in flight
/// completes with operation_canceled. Either way no handler is skipped.
///
/// Errors of the loop itself. An io_uring_enter or io_uring_register error
/// other than EINTR/EAGAIN/EBUSY is never retried in a loop: run() returns it,
/// run_once()/poll() give it through their error_code overloads (and return 0
/// at once from then on), error() keeps it and stopped() is true.
///
/// Every operation that starts completes exactly once (DESIGN invariant 1): its
/// handler runs with a result, an error, or std::errc::operation_canceled — also
/// when its handle is closed or the Engine is destroyed. Multishot operations
/// (accept, recv) call their handler once per result; the last call carries an
/// error (eof, operation_canceled, ...). Handlers never run inside the call that
/// starts the operation: they run from run()/run_once()/poll().
///
/// Handlers are stored inline in the op slot, never on the heap: a handler may
/// capture at most handler_capacity_bytes (64) bytes and must be nothrow move
/// constructible. A larger one is a compile error whose static_assert names
/// handler_capacity_bytes; capture a pointer to your state instead.
///
/// An operation that cannot start returns an empty OpId whose error() says why
/// (error::no_free_op_slot, error::shutting_down); its handler is never called.
/// The op and fd tables grow in slabs up to EngineOptions::op_slots and
/// fd_slots, whose defaults come from RLIMIT_NOFILE (see options.hpp).
///
/// Writes on one socket leave in the order they were started (DESIGN invariant
/// 9): send, sendv, send_zc, write, a splice into the socket and
/// shutdown(SHUT_WR) started one after another reach the peer in that order.
/// Core keeps a per-socket write queue: a write started while another is in
/// flight on the same socket waits for it (no extra syscall when none is).
///
/// Handles: a Socket or File goes stale the moment close() is called on it;
/// its fd is closed, and its slot reused, only after every request that may
/// still name it has completed (DESIGN invariant 8).
///
/// No operation raises SIGPIPE. Writing into a socket whose write side is dead
/// (peer reset, peer gone, our own shutdown) completes with broken_pipe or
/// connection_reset. Sends use MSG_NOSIGNAL; splice(2) and sendfile(2) have no
/// such flag, so on epoll the engine blocks SIGPIPE in its thread around them
/// and takes the signal they raised (Stats::sigpipe_syscalls; one
/// rt_sigprocmask pair per loop turn that splices). The process's signal
/// dispositions are never changed. On io_uring, a write into a pipe or FIFO
/// goes to the kernel's worker threads (IOSQE_ASYNC), where a broken pipe
/// raises no signal in the engine's thread.
///
/// Fairness: one loop turn runs the tasks that were posted when it began (a
/// task that posts itself runs again next turn, after I/O and timers), and on
/// epoll a multishot recv takes at most recv_buffer_count / 4 (<= 32) receive
/// buffers per socket per turn, so one flooding socket cannot starve others.
/// (On io_uring the kernel bounds a multishot recv per wake-up; receive
/// bundles, Feature::recv_bundle, do not, which is why they are opt-in.)
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
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

/// What an operation produced; adapted to each handler's signature below.
struct Outcome {
  std::error_code error;  ///< {} on success
  std::size_t bytes = 0;  ///< bytes moved (send, splice, write ...)
  Socket socket;          ///< accept(), connect(): the new socket
  Buffer buffer;          ///< recv(), read(), write(): the buffer
  int fd = -1;  ///< release(): the fd handed over (-1 otherwise)
};

/// The most a handler (or a post()ed Task) may capture, in bytes.
///
/// Every operation keeps its handler inline in a preallocated op slot, so
/// starting an operation never allocates (DESIGN invariant 5). A handler whose
/// captures exceed this many bytes is a compile error (a static_assert that
/// names handler_capacity_bytes), never a silent fallback to the heap. Capture a
/// pointer (or a std::shared_ptr, 16 bytes) to your per-connection state
/// instead of the state itself; `this` plus a few values fit easily.
inline constexpr std::size_t handler_capacity_bytes = 64;
/// A length meaning "until the source ends" (splice(), Transfers).
inline constexpr std::size_t until_eof = ~std::size_t(0);
inline constexpr std::size_t max_gather = 8;  ///< pieces in one sendv

/// Flags for send() and sendv().
enum SendFlags : unsigned {
  /// MSG_MORE: more bytes follow at once (a response head before its body):
  /// the kernel holds a partial segment instead of sending it alone.
  send_more = 1u << 0,
};

/// Flags for splice().
enum SpliceFlags : unsigned {
  splice_pipe_only = 1u << 0,  ///< never sendfile(2): always through a pipe of the pool
  /// A stream source until_eof: end, with the bytes moved, once a read from
  /// the source comes back short (it has nothing more now) and the pipe is
  /// drained, rather than wait for more while holding the pipe. 0 bytes
  /// moved: the source ended. (Relays: a turn per burst, an idle direction
  /// holds no pipe; start it once the source is readable.)
  splice_until_idle = 1u << 1,
  /// Every pipe of the pool lent out: end at once with error::no_free_pipe
  /// (0 bytes moved) rather than wait for one (the caller copies instead).
  splice_no_wait = 1u << 2,
};
/// The type-erased form every operation's handler is stored in.
using Handler = InlineFunction<void(Outcome&), handler_capacity_bytes>;
/// A task for post(): runs once on the engine's thread.
using Task = InlineFunction<void(), handler_capacity_bytes>;

namespace detail {
class EngineCore;

/// Checked where the user's handler enters the API, so the message points at
/// the call rather than deep inside InlineFunction.
template <class F>
constexpr void check_handler() noexcept {
  static_assert(sizeof(std::decay_t<F>) <= handler_capacity_bytes,
                "handler captures too much: more than ringxfer::handler_capacity_bytes (64 bytes); "
                "capture a pointer to your state instead");
  static_assert(std::is_nothrow_move_constructible_v<std::decay_t<F>>,
                "handler must be nothrow move constructible");
}
}  // namespace detail

/// The event loop and every operation: one per thread. See the file comment
/// (engine.hpp) for the rules on threads, errors, completion and write order.
class Engine {
 public:
  /// Throws std::system_error if no backend can start (construction is not the
  /// I/O path; nothing after it throws).
  explicit Engine(EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // ---- the loop -----------------------------------------------------------
  /// Runs until stop() or until no operation is in flight and nothing is
  /// posted: returns {}; or until the backend fails (see "Errors" above):
  /// returns that error.
  std::error_code run();
  /// One loop turn: submit, wait up to `timeout` for at least one completion,
  /// dispatch. Returns the number of handlers run; `error` is set if the
  /// backend failed (the engine is then stopped for good).
  std::size_t run_once(std::chrono::milliseconds timeout, std::error_code& error);
  /// run_once() for callers that read a failure from error() instead.
  std::size_t run_once(std::chrono::milliseconds timeout);
  /// One loop turn that does not wait.
  std::size_t poll(std::error_code& error);
  /// poll() for callers that read a failure from error() instead.
  std::size_t poll();
  /// Makes run() return after the current turn. Thread-safe.
  void stop() noexcept;
  /// True after stop() until run() returns, and for good after a backend error.
  bool stopped() const noexcept;
  /// The backend error that stopped the engine for good; {} while it works.
  std::error_code error() const noexcept;
  /// Thread-safe: queue `task` to run on the engine's thread and wake it. The
  /// queue is bounded; a full queue returns error::post_queue_full.
  std::error_code post(Task task) noexcept;
  /// Thread-safe: make a blocked run_once() return.
  void wake() noexcept;

  // ---- embedding in another event loop --------------------------------------
  // (Boost.Asio, libuv, a hand-written epoll loop; ringxfer/asio.hpp does
  // this for Asio.) The outer loop owns the waiting; the engine does no
  // blocking wait of its own:
  //
  //   for (;;) {
  //     wait until event_fd() is readable, for at most poll_timeout()
  //     (zero: do not wait; negative: no limit);
  //     poll();   // reaps and runs handlers, clears event_fd()
  //   }
  //
  // Ask poll_timeout() after every poll() and after starting operations from
  // outside a handler: some work announces itself through no fd.

  /// A file descriptor that turns readable (POLLIN) when poll() has
  /// completions to reap, including those of post() and wake(). io_uring: an
  /// eventfd registered with the ring (io_uring_register_eventfd), which the
  /// kernel also signals for DEFER_TASKRUN task work waiting for the next
  /// enter; epoll: the epoll fd. poll() clears it (before it reaps, so a
  /// signal that arrives meanwhile is kept). The fd stays the engine's: do
  /// not close or read it. Set up by the first call, which must come from the
  /// thread that runs the engine or before any thread ran it (io_uring: a
  /// SINGLE_ISSUER ring takes registrations only from its thread); returns -1
  /// if it cannot be set up. On io_uring each poll() then costs one read(2)
  /// of the eventfd more.
  int event_fd() noexcept;
  /// How long an outer loop may wait for event_fd() before it calls poll():
  /// zero when poll() has work that no fd announces (posted tasks, ops that
  /// completed without the kernel, requests queued but not yet submitted,
  /// a kernel batch left unfinished); on epoll the time to the engine's next
  /// timer (timers live in the process there); otherwise negative (wait for
  /// event_fd() alone). Cheap: no syscall.
  std::chrono::nanoseconds poll_timeout() const noexcept;
  /// Like post(), called on the thread that runs `from` (another Engine of
  /// this process): when both engines use io_uring and Feature::msg_ring is
  /// on, the wake-up is an IORING_OP_MSG_RING (IORING_MSG_DATA) SQE queued on
  /// `from`'s ring and sent with its next submission -- no write(2) to this
  /// engine's eventfd. Otherwise (epoll, msg_ring off, this ring not running
  /// yet) it is post(). The task itself always travels through the bounded
  /// post queue; the message is only the doorbell.
  ///
  /// Lifetime: this Engine must stay alive until `from` has entered the
  /// kernel once more (its next loop turn), since a refused message falls
  /// back to this engine's eventfd. ringxfer::Workers guarantees it.
  std::error_code post_from(Engine& from, Task task) noexcept;
  /// wake() through `from`'s ring, as post_from(); on the thread that runs `from`.
  void wake_from(Engine& from) noexcept;
  /// Operations started and not yet completed.
  std::size_t in_flight() const noexcept;
  /// Op and fd slots in use and their capacity (how many more connections and
  /// operations fit).
  SlotUsage slot_usage() const noexcept;

  // ---- handles (setup; synchronous) ----------------------------------------
  /// Takes ownership of `fd` and registers it (also the receiving end of a
  /// socket another Engine gave up with release()). The engine sets the fd's mode to
  /// what its backend needs: O_NONBLOCK on epoll; blocking on io_uring, which
  /// polls sockets itself (an O_NONBLOCK pipe or socket would make io_uring
  /// splice hand EAGAIN back instead of waiting). On error the fd stays yours.
  std::error_code adopt(int fd, Socket& out) noexcept;
  /// Takes ownership of a non-socket fd (file, pipe, eventfd), as for a Socket.
  std::error_code adopt(int fd, File& out) noexcept;
  /// open(2) of `path` (relative to the working directory) into a File; flags
  /// and mode as for open(2).
  std::error_code open(const char* path, int flags, File& out, unsigned mode = 0644) noexcept;
  /// A listening TCP socket with SO_REUSEADDR (mode as for adopt()).
  std::error_code listen(const Address& address, Socket& out, int backlog = 1024) noexcept;
  /// A listening TCP socket made as `options` say (backlog, SO_REUSEPORT,
  /// IPV6_V6ONLY, a hook for any other option before bind(2)); SO_REUSEADDR
  /// always. The fd's mode is set as for adopt(). On error nothing is left
  /// open and `out` is unchanged.
  std::error_code listen(const Address& address, Socket& out, const ListenOptions& options) noexcept;
  /// local_address() of an accepted socket costs what native_handle() does.
  std::error_code local_address(FdRef handle, Address& out) const noexcept;
  /// The fd behind a handle, or -1 if the handle is stale. For setsockopt and
  /// the like; the engine still owns it. With Feature::accept_direct an accepted
  /// socket lives only in io_uring's fixed-file table: the first call installs
  /// an fd for it (IORING_OP_FIXED_FD_INSTALL: one io_uring_enter, waited for),
  /// which then stays until close (one close(2) more). Call it from the thread
  /// that runs the engine (elsewhere it gives -1 for such a socket). Options
  /// set on the listener before accept() (TCP_NODELAY, buffer sizes) are
  /// inherited by accepted sockets and cost nothing per connection; or disable
  /// accept_direct when every connection needs its fd.
  int native_handle(FdRef handle) const noexcept;
  /// A buffer from the pool for send_zc/read/write; empty when none is free.
  Buffer acquire_buffer() noexcept;

  // ---- operations ----------------------------------------------------------
  /// Multishot: handler(ec, Socket) for each accepted connection.
  template <class F>
  OpId accept(Socket listener, F&& handler) {
    detail::check_handler<F>();
    return start_accept(listener, [h = std::forward<F>(handler)](Outcome& o) mutable {
      h(o.error, o.socket);
    });
  }
  /// Creates a socket and connects it: handler(ec, Socket).
  template <class F>
  OpId connect(const Address& address, F&& handler) {
    return connect(address, ConnectOptions{}, std::forward<F>(handler));
  }
  /// Creates a socket, runs options.before_connect on it, and connects it
  /// within options.timeout: handler(ec, Socket). A timeout ends with
  /// std::errc::timed_out, cancel() or engine destruction with
  /// operation_canceled; on any error the socket is closed by the engine.
  template <class F>
  OpId connect(const Address& address, ConnectOptions options, F&& handler) {
    detail::check_handler<F>();
    return start_connect(address, options, [h = std::forward<F>(handler)](Outcome& o) mutable {
      h(o.error, o.socket);
    });
  }
  /// Multishot receive into the shared receive buffers: handler(ec, Buffer) for
  /// each chunk; ends with error::eof when the peer closes. Dropping the Buffer
  /// gives it back to the ring.
  /// A recv takes every byte that arrives, so it claims the socket's read side
  /// until its handler's last call: a recv(), read() or splice() from that
  /// socket started meanwhile fails at once with error::receive_in_progress
  /// (on both backends; it could never be given bytes in a defined order).
  /// Reads started before the recv are not affected. Cancel the recv first to
  /// switch to read() or splice().
  template <class F>
  OpId recv(Socket socket, F&& handler) {
    detail::check_handler<F>();
    return start_recv(socket, [h = std::forward<F>(handler)](Outcome& o) mutable {
      h(o.error, std::move(o.buffer));
    });
  }
  /// Single-shot receive into the caller's own memory: at most into.size()
  /// bytes, whatever the socket has (at least 1): handler(ec, bytes).
  ///
  /// `into` must stay valid until the handler runs. The handler never sees 0
  /// bytes with success: the end of the stream is error::eof (0 bytes); an
  /// empty `into` fails with std::errc::invalid_argument. Like read(), it
  /// fails with error::receive_in_progress while a multishot recv() runs on
  /// the socket (cancel that first; bytes it has not taken stay in the
  /// socket). Cancel or close: operation_canceled. No pool buffer is used.
  template <class F>
  OpId recv_some(Socket socket, std::span<std::byte> into, F&& handler) {
    detail::check_handler<F>();
    return start_recv_into(socket, into, adapt_bytes(std::forward<F>(handler)), false);
  }
  /// Receives until `into` is full (continuing after short receives):
  /// handler(ec, bytes) with bytes == into.size() on success. If the stream
  /// ends first: error::eof when no byte came, error::transfer_incomplete
  /// with the bytes received so far otherwise; an error or cancel also
  /// reports the bytes already in `into`. Otherwise as recv_some().
  template <class F>
  OpId recv_exactly(Socket socket, std::span<std::byte> into, F&& handler) {
    detail::check_handler<F>();
    return start_recv_into(socket, into, adapt_bytes(std::forward<F>(handler)), true);
  }
  /// Multishot signal handling through a signalfd(2) on both backends:
  /// handler(ec, signo) once for each delivery of one of `signos`; cancel()
  /// (or ~Engine) ends it with operation_canceled, and its signalfd is closed.
  /// Invalid numbers, SIGKILL and SIGSTOP give std::errc::invalid_argument.
  ///
  /// Process-wide implications, as with any signalfd: a signal reaches a
  /// signalfd only while it is blocked, so signals() blocks `signos` in the
  /// calling thread (call it on the thread that runs the Engine), and leaves
  /// them blocked when it ends (unblocking would deliver pending ones with
  /// their default action, which for most is to end the process). Every
  /// other thread of the process must block them too -- best done in main()
  /// before any thread starts (threads inherit the mask), e.g. with
  /// pthread_sigmask -- or the kernel may hand a process-directed signal
  /// (kill(1), ^C, systemd's SIGTERM) to a thread that does not block it,
  /// where its default action or a sigaction handler runs instead. The
  /// signal's disposition is never changed. Process-directed signals and
  /// signals sent to the engine's thread (pthread_kill) are both seen; under
  /// SQPOLL only process-directed ones are (the kernel's poller thread checks
  /// the signalfd, and sees its own and the process's pending signals only).
  template <class F>
  OpId signals(std::initializer_list<int> signos, F&& handler) {
    detail::check_handler<F>();
    return start_signals(std::span<const int>(signos.begin(), signos.size()),
                         [h = std::forward<F>(handler)](Outcome& o) mutable { h(o.error, int(o.bytes)); });
  }
  /// Sends all of `data` (continuing after short sends): handler(ec, bytes_sent).
  /// `data` must stay valid until the handler runs.
  template <class F>
  OpId send(Socket socket, std::span<const std::byte> data, F&& handler, unsigned flags = 0) {
    detail::check_handler<F>();
    return start_send(socket, data, adapt_bytes(std::forward<F>(handler)), flags);
  }
  /// Gather send: all bytes of up to max_gather pieces in order, in as few
  /// syscalls as the kernel allows (sendmsg), continuing after short sends:
  /// handler(ec, bytes_sent). More pieces than max_gather: invalid_argument.
  template <class F>
  OpId sendv(Socket socket, std::span<const std::span<const std::byte>> pieces, F&& handler,
             unsigned flags = 0) {
    detail::check_handler<F>();
    return start_sendv(socket, pieces, adapt_bytes(std::forward<F>(handler)), flags);
  }
  /// (send_zc, read and write take a pool Buffer; an empty one gives
  /// std::errc::invalid_argument.)
  /// Zero-copy send of a pool buffer: handler(ec, bytes_sent) runs at the send
  /// result; the buffer belongs to the engine until the kernel's notification
  /// and then returns to the pool by itself.
  template <class F>
  OpId send_zc(Socket socket, Buffer buffer, F&& handler) {
    detail::check_handler<F>();
    return start_send_zc(socket, std::move(buffer), adapt_bytes(std::forward<F>(handler)));
  }
  /// Moves `length` bytes from src (at src_offset, or -1 for a stream) to dst
  /// (at dst_offset, or -1) through a pipe from the engine's pipe pool:
  /// handler(ec, bytes_moved). A source that ends early gives
  /// error::transfer_incomplete with the bytes moved so far; with
  /// length == until_eof the end of the source is the normal end.
  /// Strategy: splice through a pipe; on epoll a file -> socket move with an
  /// offset uses sendfile(2); without splice, a copy through a pool buffer.
  /// flags: splice_pipe_only makes a file -> socket move go through a pipe
  /// even where the backend would use sendfile(2) (to compare the two).
  template <class F>
  OpId splice(FdRef src, std::int64_t src_offset, FdRef dst, std::int64_t dst_offset,
              std::size_t length, F&& handler, unsigned flags = 0) {
    detail::check_handler<F>();
    return start_splice(src, src_offset, dst, dst_offset, length,
                        adapt_bytes(std::forward<F>(handler)), flags);
  }
  /// One read into `buffer` (fixed buffer where registered): handler(ec, Buffer)
  /// with the buffer's size set to the bytes read (0 at end of file).
  template <class F>
  OpId read(FdRef handle, std::int64_t offset, Buffer buffer, F&& handler) {
    detail::check_handler<F>();
    return start_read(handle, offset, std::move(buffer), adapt_buffer(std::forward<F>(handler)));
  }
  /// Writes all of buffer.bytes() at `offset` (-1: current position / stream):
  /// handler(ec, Buffer) gives the buffer back; handler(ec, Buffer, bytes)
  /// also gets the bytes written (fewer than the buffer's after an error).
  template <class F>
  OpId write(FdRef handle, std::int64_t offset, Buffer buffer, F&& handler) {
    detail::check_handler<F>();
    if constexpr (std::is_invocable_v<F&, std::error_code, Buffer, std::size_t>) {
      return start_write(handle, offset, std::move(buffer),
                         [h = std::forward<F>(handler)](Outcome& o) mutable {
                           h(o.error, std::move(o.buffer), o.bytes);
                         });
    } else {
      return start_write(handle, offset, std::move(buffer), adapt_buffer(std::forward<F>(handler)));
    }
  }
  /// handler(ec): {} when the time passed, operation_canceled when cancelled.
  template <class F>
  OpId timeout(std::chrono::nanoseconds after, F&& handler) {
    detail::check_handler<F>();
    return start_timeout(after, adapt_error(std::forward<F>(handler)));
  }
  /// Waits until `socket` has something to read (bytes, the end of the
  /// stream, or an error), holding no buffer: handler(ec). For a reader that
  /// takes a buffer only when there is something to put in it (a relay
  /// among many idle connections).
  template <class F>
  OpId wait_readable(Socket socket, F&& handler) {
    return start_wait_readable(socket, adapt_error(std::forward<F>(handler)));
  }
  /// shutdown(2) of `how` (SHUT_WR after the writes before it): handler(ec).
  template <class F>
  OpId shutdown(Socket socket, int how, F&& handler) {
    detail::check_handler<F>();
    return start_shutdown(socket, how, adapt_error(std::forward<F>(handler)));
  }
  /// Cancels the handle's pending operations (they complete with
  /// operation_canceled), makes the handle stale at once, then closes the fd
  /// once nothing in flight names it; the handler runs when the fd is closed.
  /// If no op slot is free for the close itself, the handle still goes stale
  /// and the fd is still closed, but the handler cannot run: the empty OpId's
  /// error() is error::no_free_op_slot.
  template <class F>
  OpId close(FdRef handle, F&& handler) {
    detail::check_handler<F>();
    return start_close(handle, adapt_error(std::forward<F>(handler)));
  }
  /// Takes `socket` out of this engine without closing it, to move it to
  /// another Engine (adopt()) or to hand it to other code: handler(ec, int fd).
  ///
  /// The rule for operations in flight: release() cancels them first, as
  /// close() does. Each completes with operation_canceled before the
  /// handler runs: a recv() delivers every byte it took from the kernel
  /// before its final call (bytes not yet received stay in the socket for
  /// the next owner), a send() reports the bytes that left (send the rest
  /// from the new owner), and writes still queued behind it report 0. So
  /// nothing is lost or reordered if the caller carries that state over. The
  /// handle goes stale at once; the handler runs once nothing in flight
  /// names the socket, with the fd -- still open, no longer registered here
  /// (fixed-file table entry emptied, epoll registration removed) -- now the
  /// caller's: adopt it or close it. On error (stale handle: bad_file_
  /// descriptor; not a socket: invalid_argument; the Engine destroyed
  /// first: operation_canceled) the fd is -1 and nothing is yours.
  ///
  /// Not for a socket with send_zc() notifications outstanding on the epoll
  /// backend: its MSG_ZEROCOPY counter stays with this engine.
  template <class F>
  OpId release(Socket socket, F&& handler) {
    return start_release(socket, [h = std::forward<F>(handler)](Outcome& o) mutable { h(o.error, o.fd); });
  }
  /// Asks an operation to finish early; it completes with operation_canceled
  /// (unless it completes first). Returns false if `id` is no longer in flight.
  bool cancel(OpId id) noexcept;
  /// Pauses a multishot recv() without losing a byte: its request is taken
  /// back from the kernel, so bytes that arrive meanwhile stay in the socket
  /// (TCP flow control then slows the peer down), and its handler is not
  /// called while paused. Chunks the kernel had already received when
  /// pause() was called are held and handed out, in order, after resume().
  /// The recv keeps the socket's read side (recv_some() and read() still get
  /// receive_in_progress). cancel() and close() end a paused recv as usual
  /// (held chunks first, then operation_canceled). Callable from any handler
  /// on the engine's thread, also the recv's own. Returns false if `recv` is
  /// not a recv() in flight; true otherwise (also when already paused).
  bool pause(OpId recv) noexcept;
  /// Resumes a paused recv: held chunks first, then new data, then its end
  /// (eof, an error) if the peer closed meanwhile -- all from the loop, never
  /// inside resume(). Returns false if `recv` is not a paused recv in flight.
  bool resume(OpId recv) noexcept;

  /// The engine's counters (read on its thread, or after it stopped).
  const Stats& stats() const noexcept;
  /// The backend in use, why, and which io_uring features are active.
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
  OpId start_wait_readable(Socket socket, Handler handler) noexcept;
  OpId start_shutdown(Socket socket, int how, Handler handler) noexcept;
  OpId start_close(FdRef handle, Handler handler) noexcept;
  OpId start_release(Socket socket, Handler handler) noexcept;

  std::unique_ptr<detail::EngineCore> core_;
};

}  // namespace ringxfer
