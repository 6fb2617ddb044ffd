#pragma once
// EpollBackend: the epoll rival behind engine/backend.hpp. It imitates
// completions: try the syscall first; on EAGAIN park the request on its fd's
// FIFO for that direction and retry when edge-triggered epoll reports the fd
// ready. Each fd is registered once, at attach time (EPOLLIN|EPOLLOUT|
// EPOLLRDHUP|EPOLLET): no arm/disarm per operation.
//
// Layout of the implementation:
//   epoll_backend.cpp  setup, attach/detach, submit, wait, readiness, cancel, timers
//   socket_ops.cpp     one attempt per opcode: accept, connect, recv, send, splice, ...
//   zerocopy.cpp       MSG_ZEROCOPY sends, error-queue notifications, zombies
//   sigpipe_shield.*   no SIGPIPE from splice/sendfile into a dead socket
//
// Memory is bounded and grows in slabs: request nodes (up to 4 x op_slots)
// and fd states (up to 2 x fd_slots) are added a slab at a time as they are
// used, and the completion ring, timer heap and cancel index are resized with
// the node pool — never per request. Single-threaded, except wake().
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <sys/epoll.h>

#include "backend.hpp"
#include "epoll/completion_ring.hpp"
#include "epoll/fd_state.hpp"
#include "epoll/op_index.hpp"
#include "epoll/request_node.hpp"
#include "epoll/sigpipe_shield.hpp"
#include "epoll/timer_heap.hpp"

namespace ringxfer::detail {

class EpollBackend final : public Backend {
 public:
  EpollBackend(const EngineOptions& options, Stats& stats);
  ~EpollBackend() override;
  EpollBackend(const EpollBackend&) = delete;
  EpollBackend& operator=(const EpollBackend&) = delete;

  // Creates the epoll set and the wake eventfd, probes the kernel, fills in
  // the capabilities. On failure sets features.why.
  std::error_code open(const EngineOptions& options, Features& features);

  const Capabilities& capabilities() const noexcept override { return caps_; }
  std::error_code attach_fd(std::uint32_t slot, int fd, bool is_socket) noexcept override;
  void detach_fd(std::uint32_t slot, int fd) noexcept override;
  std::error_code attach_buffers(BufferPool& pool) noexcept override;
  void recycle_recv_buffer(std::uint32_t id) noexcept override;
  void submit(const Request& request) noexcept override;
  std::size_t wait(std::span<Completion> out, std::chrono::nanoseconds timeout) noexcept override;
  void wake() noexcept override;
  // The epoll fd itself: readable while an fd in the set has an event to
  // report (the wake eventfd among them); epoll_wait in wait() consumes it.
  int event_fd() noexcept override { return epoll_fd_; }
  std::chrono::nanoseconds poll_timeout() const noexcept override;

 private:
  enum Dir : std::uint8_t { read_dir = 0, write_dir = 1 };
  // What one attempt at a request achieved.
  enum class Progress : std::uint8_t {
    done,       // finished: its final completion is emitted (or it awaits a zc notification)
    blocked,    // would block: wait for the next edge on its fd
    throttled,  // a multishot burst paused because the completion ring is filling up
  };
  struct QueueRef {
    FdState* state = nullptr;  // nullptr: the fd cannot be waited on (file, pipe of the pool)
    Dir dir = read_dir;
  };

  // ---- epoll_backend.cpp ----
  // Runs one syscall: counts it, retries EINTR, returns the result or -errno.
  template <class F>
  long call(F&& syscall) noexcept {
    for (;;) {
      ++stats_.syscalls;
      const long r = static_cast<long>(syscall());
      if (r >= 0) return r;
      if (errno != EINTR) return -errno;
    }
  }
  void emit(const Request& request, std::int32_t result, std::uint32_t flags = 0,
            std::uint32_t buffer_id = 0) noexcept;
  static constexpr std::uint32_t flag_if(bool on, CompletionFlag flag) noexcept {
    return on ? static_cast<std::uint32_t>(flag) : 0u;
  }
  // Ring slots kept free for single-shot completions: one per node.
  bool room_for_burst() const noexcept { return ring_.free_slots() > nodes_.capacity(); }
  RequestNode* alloc_node() noexcept;  // from the pool; resizes what is sized by it
  void grow_for_nodes() noexcept;

  FdState* state_of(int fd) const noexcept {
    return fd >= 0 && static_cast<std::size_t>(fd) < by_fd_.size() ? by_fd_[fd] : nullptr;
  }
  FdState* pollable(int fd) const noexcept {
    FdState* s = state_of(fd);
    return s != nullptr && s->registered ? s : nullptr;
  }
  FdState* alloc_state() noexcept;
  void free_state(FdState& state) noexcept;
  static std::uint64_t key_of(const FdState& state) noexcept {
    return (std::uint64_t(state.generation) << 32) | state.index;
  }
  void forget(FdState& state) noexcept;  // detach: cancel, flush zero-copy, deregister, free

  QueueRef queue_for(const Request& request) const noexcept;
  // splice/sendfile into a socket and write to a pipe raise SIGPIPE when the
  // reader is gone (core sends with MSG_NOSIGNAL; its own pipes keep a reader).
  bool needs_shield(const Request& r) const noexcept {
    switch (r.opcode) {
      case Opcode::sendfile: return true;
      case Opcode::splice: return pollable(r.fd_out.fd) != nullptr;
      case Opcode::write: return pollable(r.fd.fd) != nullptr;
      default: return false;
    }
  }
  bool hinted_not_ready(const FdState& state, Dir dir) const noexcept {
    return dir == read_dir ? state.read_drained : state.write_full;
  }
  void park(RequestNode* node, QueueRef queue) noexcept;
  void unpark(RequestNode* node) noexcept;   // out of its queue or the timer heap
  void retire(RequestNode* node) noexcept;   // finished: to the zc wait list or the pool
  void release(RequestNode* node) noexcept;  // back to the pool
  void run_fresh(RequestNode* node, QueueRef queue) noexcept;
  void drain(FdState& state, Dir dir) noexcept;
  void mark_runnable(FdState& state, Dir dir) noexcept;
  void run_runnable() noexcept;

  void start_timer(const Request& request) noexcept;
  void expire_timers() noexcept;
  void cancel_op(const Op* op, std::uint8_t tag) noexcept;
  void cancel_fd_requests(int fd) noexcept;
  void cancel_queued(FdState& state) noexcept;  // both direction queues of one fd
  void cancel_cross(int fd) noexcept;           // splice/sendfile parked elsewhere naming fd
  void run_close(const Request& request) noexcept;

  void poll_events(std::int64_t timeout_ns) noexcept;
  void handle_event(const epoll_event& event) noexcept;

  // ---- socket_ops.cpp ----
  Progress attempt(RequestNode& node, FdState* state) noexcept;
  Progress attempt_accept(RequestNode& node, FdState* state) noexcept;
  Progress attempt_connect(RequestNode& node, FdState* state) noexcept;
  Progress attempt_recv(RequestNode& node, FdState* state) noexcept;
  Progress attempt_poll_in(RequestNode& node, FdState* state) noexcept;
  Progress attempt_send(RequestNode& node, FdState* state) noexcept;
  Progress attempt_splice(RequestNode& node) noexcept;
  Progress attempt_sendfile(RequestNode& node) noexcept;
  Progress attempt_read(RequestNode& node) noexcept;
  Progress attempt_write(RequestNode& node) noexcept;
  bool is_stream(FdState& state) noexcept;

  // ---- zerocopy.cpp ----
  static bool probe_zerocopy() noexcept;
  Progress attempt_send_zc(RequestNode& node, FdState* state) noexcept;
  Progress send_zc_by_copy(RequestNode& node, FdState* state) noexcept;
  bool enable_zerocopy(FdState& state) noexcept;
  bool read_error_queue(FdState& state) noexcept;  // true if a zc notification was read
  void acknowledge(FdState& state, std::uint32_t lo, std::uint32_t hi, bool copied) noexcept;
  void flush_zerocopy(FdState& state) noexcept;  // at detach, with notifications outstanding
  bool become_zombie(FdState& state) noexcept;
  void handle_zombie_event(FdState& zombie) noexcept;
  void on_user_close(int fd) noexcept;
  void close_zombies() noexcept;

  Stats& stats_;
  SigpipeShield shield_;  // raised by attempts; lowered before submit() and wait() return
  Capabilities caps_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool use_pwait2_ = false;  // epoll_pwait2: nanosecond timeouts (Linux 5.11+)

  NodePool nodes_;
  std::size_t sized_for_nodes_ = 0;  // nodes_.capacity() when ring/index/timers were last sized
  std::uint32_t recv_buffer_count_;
  CompletionRing ring_;
  // A multishot recv takes at most this many receive buffers per fd per loop
  // turn, then waits on the runnable list for the next turn: one flooding
  // socket cannot take every buffer or hold up the others (io_uring's kernel
  // loop stops a multishot recv after 32 retries in the same way).
  std::uint32_t recv_budget_;
  std::uint32_t turn_ = 0;     // wait() calls so far
  OpIndex index_;              // parked and timer nodes by (op, tag)
  TimerHeap timers_;
  CrossList cross_;            // parked splice/sendfile nodes (they name two fds)

  SlabArray<FdState, 256> states_;        // the pool; grows in slabs, never moves
  std::vector<std::uint32_t> free_states_;
  std::vector<FdState*> by_slot_;         // FdTable slot -> state
  std::vector<FdState*> by_fd_;           // raw fd -> state; grown at attach (setup, not hot path)
  std::uint32_t zombies_ = 0;

  FdState* runnable_head_ = nullptr;
  FdState* runnable_tail_ = nullptr;

  BufferPool* pool_ = nullptr;
  std::vector<std::uint32_t> free_recv_ids_;  // receive buffers we may hand to recv (a stack)

  std::vector<epoll_event> events_;  // one epoll_wait batch
  bool polled_last_turn_ = false;
  bool woken_ = false;
  std::atomic<bool> wake_pending_{false};  // an eventfd write is in flight; skip another
};

}  // namespace ringxfer::detail
