#pragma once
// The one seam between engine/core and the backends (engine/uring,
// engine/epoll). It speaks in operations, not readiness: core hands a backend
// primitive Requests; the backend performs each one and reports Completions.
// io_uring turns a Request into an SQE; epoll imitates completions (try the
// syscall, on EAGAIN wait for readiness, retry).
//
// A backend declares what it does natively in Capabilities. Whatever it lacks
// (or the user disabled) core works around, once, in engine/core — a backend
// never receives a Request its Capabilities rule out.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <system_error>

#include "ringxfer/features.hpp"
#include "ringxfer/options.hpp"
#include "ringxfer/stats.hpp"

namespace ringxfer::detail {

struct Op;  // engine/core/op.hpp; opaque to backends
class BufferPool;

enum class Opcode : std::uint8_t {
  accept,     // fd: listener. result: new fd. multishot: one completion per connection.
              // direct (caps.accept_direct): result is the fixed-table index the kernel
              // allocated (in [caps.direct_first, table end)); the connection has no fd
  connect,    // fd, addr/len = sockaddr
  poll_in,    // fd: completes (result > 0) once the fd is readable, at eof or on an error;
              // lets core wait for data without holding a receive buffer
  recv,       // fd. use_buf_ring: backend picks a receive buffer (completion.buffer_id,
              // flag buffer); otherwise addr/len is the buffer (core remembers which)
  send,       // fd, addr/len, flags (MSG_*)
  sendmsg,    // fd, addr = struct msghdr* (gather; lives in the op), len = its total bytes, flags
  send_zc,    // fd, addr/len, buf_index (fixed buffer or -1). Two completions: the result
              // (flag more) and later the notification (flag notif, maybe zc_copied)
  splice,     // fd -> fd_out, offset/offset_out (-1 = none), len, flags (SPLICE_F_*)
  sendfile,   // fd (file) -> fd_out (socket), offset, len (epoll only: caps.sendfile)
  read,       // fd, offset (-1 = current), addr/len, buf_index
  write,      // fd, offset, addr/len, buf_index
  timeout,    // timespec: relative; result -ETIME when it fires
  link_timeout,  // timespec: relative; only right after a request with link = true (caps.linked_ops).
                 // Ends that request with -ECANCELED if it has not completed in time. Its own
                 // result: -ETIME when it fired, -ECANCELED (or -ENOENT) when the request won
  cancel,     // target_op/target_tag: the request to cancel. No completion of its own
  cancel_fd,  // fd: every request on this fd. No completion of its own
  shutdown,   // fd, flags = how
  close,      // fd: the raw fd (fixed slot already detached); or, fd.fd < 0, the
              // direct descriptor fd.fixed_slot (IORING_OP_CLOSE with file_index)
};

// A file descriptor as a backend should name it.
struct Target {
  int fd = -1;          // the raw fd (-1: a direct descriptor with no fd installed)
  int fixed_slot = -1;  // >= 0: registered in the backend's fixed-file table at this slot
};

// Relative time for Opcode::timeout; layout of struct __kernel_timespec. Lives
// in the Op, so its address is stable until the request completes.
struct Timespec {
  std::int64_t tv_sec = 0;
  long long tv_nsec = 0;
};

struct Request {
  Opcode opcode{};
  std::uint8_t tag = 0;        // which sub-request of the op; a completion echoes it
  bool multishot = false;      // accept, recv (only if caps say so)
  bool link = false;           // the next Request runs only if this one completes in full
  // Like link, but the next Request runs whatever this one's result (only
  // if caps.poll_first_splice; IOSQE_IO_HARDLINK).
  bool hardlink = false;
  // The first Request of a linked chain: how many Requests the chain has
  // (they must reach the kernel in one submit); 0 = a pair, or no link.
  std::uint8_t chain_length = 0;
  bool use_buf_ring = false;   // recv: the backend picks the buffer (only if caps.buf_ring)
  bool direct = false;         // accept: into the fixed table (only if caps.accept_direct)
  // write into a FIFO: run it where a broken pipe cannot signal the engine's
  // thread (io_uring: IOSQE_ASYNC, so io-wq issues it; epoll: SIGPIPE shield).
  bool fifo = false;
  std::int32_t buf_index = -1; // fixed-buffer index (send_zc/read/write), or recv buffer id
  std::int32_t flags = 0;      // MSG_* / SPLICE_F_* / shutdown how
  Target fd;
  Target fd_out;               // splice, sendfile
  std::int64_t offset = -1;
  std::int64_t offset_out = -1;
  void* addr = nullptr;
  std::uint32_t len = 0;
  const Timespec* timespec = nullptr;
  Op* op = nullptr;            // owner; nullptr = no completion wanted
  Op* target_op = nullptr;     // cancel
  std::uint8_t target_tag = 0; // cancel
};

enum CompletionFlag : std::uint32_t {
  completion_more = 1u << 0,      // more completions follow for this request
  completion_notif = 1u << 1,     // zero-copy notification: the buffer is free now
  completion_zc_copied = 1u << 2, // ... and the kernel copied instead of zero-copy
  completion_buffer = 1u << 3,    // buffer_id is valid (a receive buffer was used)
  // The backend keeps using receive buffer buffer_id for later receives
  // (incremental consumption): the bytes of this completion are only part of
  // it, and the buffer must not be recycled yet, however many leases drop.
  completion_buffer_more = 1u << 4,
};

struct Completion {
  Op* op = nullptr;
  std::uint8_t tag = 0;
  std::int32_t result = 0;  // >= 0 success (bytes, fd); < 0 is -errno
  std::uint32_t flags = 0;
  std::uint32_t buffer_id = 0;
  // Where the bytes start in receive buffer buffer_id. Non-zero only when
  // the backend packs several receives into one buffer (caps.buf_ring_inc).
  std::uint32_t buffer_offset = 0;
};

struct Capabilities {
  bool multishot_accept = false;
  bool multishot_recv = false;
  bool buf_ring = false;       // recv may leave the buffer choice to the backend
  // With buf_ring: one receive may fill several buffers; the backend reports
  // each buffer as its own completion (all but the last with flag more).
  bool recv_bundle = false;
  // With buf_ring: receives take only the bytes they need from a buffer, so
  // several completions share one (buffer_offset, completion_buffer_more).
  bool buf_ring_inc = false;
  bool fixed_files = false;    // attach_fd registers into a fixed table; Target.fixed_slot usable
  bool fixed_buffers = false;  // attach_buffers registered the pool; buf_index usable
  bool send_zc = false;        // native zero-copy send with notifications
  bool splice = false;         // Opcode::splice
  bool linked_ops = false;     // Request::link honoured
  // A splice from a socket may go as one chain of three: poll_in -(link)->
  // splice in -(hardlink)-> drain (Request::hardlink, chain_length 3).
  bool poll_first_splice = false;
  bool sendfile = false;       // Opcode::sendfile
  // accept may allocate fixed-table slots itself (IORING_FILE_INDEX_ALLOC):
  // slots [direct_first, fd_slots) are the kernel's, attach_fd takes only
  // slots below direct_first. install_fd() works.
  bool accept_direct = false;
  std::uint32_t direct_first = 0;
  // Core makes every fd it creates or adopts O_NONBLOCK (epoll needs it). io_uring
  // wants blocking fds: it polls sockets itself, and a splice on an O_NONBLOCK
  // pipe would hand -EAGAIN back instead of waiting.
  bool nonblocking_fds = false;
  // wake_peer() can wake another engine's backend without a syscall of its
  // own (io_uring: IORING_OP_MSG_RING with IORING_MSG_DATA on this ring).
  bool msg_ring = false;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const Capabilities& capabilities() const noexcept = 0;

  // FdTable slot `slot` now holds `fd`. On io_uring this fills the fixed-file
  // table slot; on epoll it registers the fd once (edge-triggered). A failure
  // is not fatal: core uses the plain fd (fixed_slot = -1) for this slot.
  virtual std::error_code attach_fd(std::uint32_t slot, int fd, bool is_socket) noexcept = 0;
  // Slot `slot` is being emptied (after a cancel_fd for it was submitted).
  virtual void detach_fd(std::uint32_t slot, int fd) noexcept = 0;
  // caps.accept_direct only, on the thread that runs the loop: a process fd
  // for the direct descriptor in `slot` (IORING_OP_FIXED_FD_INSTALL, waited
  // for: one io_uring_enter). The caller owns the fd. -1 on failure.
  virtual int install_fd(std::uint32_t slot) noexcept {
    (void)slot;
    return -1;
  }

  // The pool's memory exists: register it as fixed buffers if possible and set
  // up the receive buffers (ids [0, pool.recv_count())) as the backend's
  // provided buffers, all initially available.
  virtual std::error_code attach_buffers(BufferPool& pool) noexcept = 0;
  // Receive buffer `id` is free again: make it available to recv.
  virtual void recycle_recv_buffer(std::uint32_t id) noexcept = 0;

  // Queues one request. Never fails: a full queue is flushed inside, in one place.
  virtual void submit(const Request& request) noexcept = 0;
  // Submits what is queued, waits up to `timeout` (zero: do not wait;
  // negative: no limit) for at least one completion, copies a batch into `out`
  // and consumes it (reap first; core dispatches after). Returns the count.
  virtual std::size_t wait(std::span<Completion> out, std::chrono::nanoseconds timeout) noexcept = 0;
  // Thread-safe: make a wait() in progress (or the next one) return promptly.
  virtual void wake() noexcept = 0;
  // On this backend's thread: make `peer`'s wait() return, by a message
  // queued on this backend's ring (sent with its next submission) instead of
  // a write(2) to the peer's eventfd. False if this pair cannot (no
  // caps.msg_ring here, or `peer` is no ring that can take it yet): the
  // caller then uses peer.wake(). `peer` must stay alive until this backend
  // has entered the kernel once more (its next wait()).
  virtual bool wake_peer(Backend& peer) noexcept {
    (void)peer;
    return false;
  }

  // Embedding in another event loop (Engine::event_fd, Engine::poll_timeout).
  // A file descriptor that turns readable (POLLIN) when wait() has something
  // to reap, including a wake(); set up on the first call (on the engine's
  // thread, or before any thread ran it); -1 if it cannot be. From then on
  // every wait() clears its readiness before it reaps, so a signal that
  // arrives during the wait leaves it readable again (never lost).
  virtual int event_fd() noexcept = 0;
  // Zero if a wait(0) would find work the event fd does not announce
  // (completions already in user space, requests not yet submitted, a
  // kernel batch left unfinished); the time to the backend's next
  // in-process timer; or negative: only the event fd brings more.
  virtual std::chrono::nanoseconds poll_timeout() const noexcept = 0;

  // Sticky: set when the kernel refused the backend in a way that retrying
  // cannot mend (an io_uring_enter or io_uring_register error other than
  // EINTR/EAGAIN/EBUSY, e.g. error::wrong_thread). From then on wait() returns
  // 0 at once and submit() drops its request; core stops, and only destroying
  // the backend (which makes the kernel cancel what it still holds) ends the
  // ops in flight.
  std::error_code fault() const noexcept { return fault_; }

 protected:
  std::error_code fault_;
};

// Factories. On failure they return nullptr with `error` set and
// `features.io_uring_error` / `features.why` filled in.
std::unique_ptr<Backend> make_uring_backend(const EngineOptions& options, Features& features,
                                            Stats& stats, std::error_code& error);
std::unique_ptr<Backend> make_epoll_backend(const EngineOptions& options, Features& features,
                                            Stats& stats, std::error_code& error);

// Fills the io_uring part of `features` (usable or why not, setup flags,
// opcodes, registered ring fd) with a short-lived ring. engine/uring.
void probe_uring(const EngineOptions& options, Features& features);

}  // namespace ringxfer::detail
