// The epoll backend: setup, fd attach/detach, submit, wait, readiness
// dispatch, cancel and timers. The per-opcode syscalls are in socket_ops.cpp,
// MSG_ZEROCOPY in zerocopy.cpp.
#include "epoll/epoll_backend.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <new>
#include <string>

#include "core/buffer_pool.hpp"

namespace ringxfer::detail {

namespace {

constexpr std::uint64_t wake_key = ~std::uint64_t(0);
constexpr std::int64_t ns_per_s = 1'000'000'000;

std::int64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);  // vDSO: not a syscall
  return std::int64_t(ts.tv_sec) * ns_per_s + ts.tv_nsec;
}

std::uint8_t dir_bit(int dir) noexcept { return static_cast<std::uint8_t>(1u << dir); }

std::error_code errno_code(int e) noexcept { return {e, std::system_category()}; }

}  // namespace

std::unique_ptr<Backend> make_epoll_backend(const EngineOptions& options, Features& features,
                                            Stats& stats, std::error_code& error) {
  std::unique_ptr<EpollBackend> backend;
  try {
    backend = std::make_unique<EpollBackend>(options, stats);
    error = backend->open(options, features);
  } catch (const std::bad_alloc&) {
    error = make_error_code(std::errc::not_enough_memory);
    features.why = "epoll backend: out of memory";
  }
  if (error) return nullptr;
  return backend;
}

// ---- setup ---------------------------------------------------------------

EpollBackend::EpollBackend(const EngineOptions& options, Stats& stats)
    : stats_(stats),
      shield_(stats),
      // 4 nodes per op slot: an op has at most a couple of requests parked at
      // once (a transfer's two hops, a zc send awaiting its notification).
      // Nodes, states and what is sized by them grow in slabs as they are
      // used (see grow_for_nodes), up to these limits.
      nodes_(std::max<std::uint32_t>(64, options.op_slots * 4)),
      recv_buffer_count_(options.recv_buffer_count),
      ring_(0),
      recv_budget_(std::clamp<std::uint32_t>(options.recv_buffer_count / 4, 1, 32)),
      index_(0),
      timers_(0),
      // One state per FdTable slot, and as many again for zombies.
      states_(2 * std::max<std::uint32_t>(options.fd_slots, 16)),
      by_slot_(std::max<std::uint32_t>(options.fd_slots, 16), nullptr),
      events_(std::clamp<std::size_t>(options.ring_entries, 64, 1024)) {
  free_states_.reserve(states_.capacity());
  grow_for_nodes();
  by_fd_.reserve(4096);
  free_recv_ids_.reserve(options.recv_buffer_count);
}

EpollBackend::~EpollBackend() {
  close_zombies();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

std::error_code EpollBackend::open(const EngineOptions& options, Features& features) {
  auto fail = [&](const char* what) {
    const int e = errno;
    features.why = std::string("epoll backend: ") + what + ": " + std::strerror(e);
    return errno_code(e);
  };
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return fail("epoll_create1");
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return fail("eventfd");

  // epoll_pwait2 (5.11+) takes a timespec: timers fire on time instead of up
  // to a millisecond late. A seccomp filter may refuse it: then epoll_wait.
  timespec zero{};
  use_pwait2_ = ::epoll_pwait2(epoll_fd_, events_.data(), 1, &zero, nullptr) >= 0;

  // Edge-triggered and never read: each write() raises a new edge, so the
  // counter only needs resetting if it could saturate (2^64 - 2 wakes).
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = wake_key;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) < 0) return fail("epoll_ctl(eventfd)");

  FeatureSet off = options.disabled;
  for (int f = 0; f < feature_count; ++f) {
    if (features.disabled.has(static_cast<Feature>(f))) off.add(static_cast<Feature>(f));
  }
  caps_.multishot_accept = !off.has(Feature::multishot_accept);
  caps_.buf_ring = !off.has(Feature::buf_ring);  // we pick the buffer from our own free list
  // Multishot recv keeps reading into buffers only we can pick.
  caps_.multishot_recv = caps_.buf_ring && !off.has(Feature::multishot_recv);
  caps_.fixed_files = false;
  caps_.fixed_buffers = false;
  caps_.send_zc = !off.has(Feature::send_zc) && probe_zerocopy();
  caps_.splice = !off.has(Feature::splice);
  caps_.linked_ops = false;
  caps_.sendfile = true;
  caps_.nonblocking_fds = true;  // try-first needs EAGAIN, never a blocked loop
  return {};
}

// ---- small helpers -------------------------------------------------------

void EpollBackend::emit(const Request& request, std::int32_t result, std::uint32_t flags,
                        std::uint32_t buffer_id) noexcept {
  if (request.op == nullptr) return;  // nobody wants this completion
  if (!ring_.push(Completion{request.op, request.tag, result, flags, buffer_id})) {
    ++stats_.cq_overflows;
  }
}

void EpollBackend::grow_for_nodes() noexcept {
  // Room for a result and a notification per node, plus a multishot recv
  // burst that uses every receive buffer; an index at most half full; a
  // timer slot per node. Done when the node pool grew, never per request.
  const std::size_t nodes = std::max<std::size_t>(nodes_.capacity(), 64);
  try {
    ring_.reserve(2 * nodes + recv_buffer_count_);
    index_.reserve(nodes);
    timers_.reserve(nodes);
    sized_for_nodes_ = nodes_.capacity();
  } catch (const std::bad_alloc&) {
    // Keep the old sizes: the ring grows on demand (counted as an overflow).
  }
}

RequestNode* EpollBackend::alloc_node() noexcept {
  RequestNode* node = nodes_.alloc();
  if (nodes_.capacity() != sized_for_nodes_) grow_for_nodes();
  return node;
}

FdState* EpollBackend::alloc_state() noexcept {
  if (free_states_.empty()) {
    const std::uint32_t first = states_.size();
    if (!states_.grow()) return nullptr;
    for (std::uint32_t i = states_.size(); i > first; --i) {
      states_[i - 1].index = i - 1;
      free_states_.push_back(i - 1);  // reserved for every state: no allocation
    }
  }
  FdState& s = states_[free_states_.back()];
  free_states_.pop_back();
  s.reset();
  s.in_use = true;
  return &s;
}

void EpollBackend::free_state(FdState& state) noexcept {
  state.reset();
  ++state.generation;  // events still carrying the old key are ignored
  free_states_.push_back(state.index);
}

// ---- fds and buffers -----------------------------------------------------

std::error_code EpollBackend::attach_fd(std::uint32_t slot, int fd, bool is_socket) noexcept {
  if (slot >= by_slot_.size() || fd < 0) return make_error_code(std::errc::invalid_argument);
  // A slot or fd attached again without a detach: drop the stale state first.
  if (by_slot_[slot] != nullptr) forget(*by_slot_[slot]);
  if (FdState* old = state_of(fd)) forget(*old);

  FdState* s = alloc_state();
  if (s == nullptr) return make_error_code(std::errc::no_buffer_space);
  s->fd = fd;
  s->slot = slot;
  s->is_socket = is_socket;

  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = key_of(*s);
  long rc = call([&] { return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev); });
  if (rc == -EEXIST) rc = call([&] { return ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev); });
  if (rc == 0) {
    s->registered = true;
  } else if (rc == -EPERM && !is_socket) {
    // A regular file (or directory): epoll cannot watch it, and read/write on
    // it never return EAGAIN, so its operations simply run synchronously.
    s->registered = false;
  } else {
    free_state(*s);
    return errno_code(static_cast<int>(-rc));
  }

  if (static_cast<std::size_t>(fd) >= by_fd_.size()) {
    try {
      by_fd_.resize(std::max<std::size_t>(static_cast<std::size_t>(fd) + 1, by_fd_.size() * 2),
                    nullptr);
    } catch (const std::bad_alloc&) {
      if (s->registered) call([&] { return ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); });
      free_state(*s);
      return make_error_code(std::errc::not_enough_memory);
    }
  }
  by_fd_[fd] = s;
  by_slot_[slot] = s;
  return {};
}

void EpollBackend::detach_fd(std::uint32_t slot, int fd) noexcept {
  FdState* s = slot < by_slot_.size() ? by_slot_[slot] : nullptr;
  if (s == nullptr || s->fd != fd) s = state_of(fd);
  if (s != nullptr) forget(*s);
}

void EpollBackend::forget(FdState& s) noexcept {
  // Core submits cancel_fd before detaching; anything still queued (or queued
  // since) must complete too, because its fd is about to go away.
  cancel_queued(s);
  cancel_cross(s.fd);
  // May hand the socket to a zombie, which deregisters s.fd itself.
  if (s.registered && !s.zc_wait.empty()) flush_zerocopy(s);
  if (s.registered) {
    // Deregister explicitly rather than relying on close(): if another
    // process holds a dup of this socket, the registration would outlive it.
    const int fd = s.fd;
    call([&] { return ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); });
  }
  if (state_of(s.fd) == &s) by_fd_[s.fd] = nullptr;
  if (s.slot < by_slot_.size() && by_slot_[s.slot] == &s) by_slot_[s.slot] = nullptr;
  free_state(s);
}

std::error_code EpollBackend::attach_buffers(BufferPool& pool) noexcept {
  pool_ = &pool;
  free_recv_ids_.clear();
  try {
    free_recv_ids_.reserve(pool.recv_count());
  } catch (const std::bad_alloc&) {
    return make_error_code(std::errc::not_enough_memory);
  }
  // A stack: the most recently returned (cache-warm) buffer is reused first.
  for (std::uint32_t id = pool.recv_count(); id > 0; --id) free_recv_ids_.push_back(id - 1);
  return {};
}

void EpollBackend::recycle_recv_buffer(std::uint32_t id) noexcept {
  if (pool_ == nullptr || id >= pool_->recv_count()) return;
  if (free_recv_ids_.size() < free_recv_ids_.capacity()) free_recv_ids_.push_back(id);
}

// ---- submit --------------------------------------------------------------

EpollBackend::QueueRef EpollBackend::queue_for(const Request& r) const noexcept {
  switch (r.opcode) {
    case Opcode::accept:
    case Opcode::recv:
    case Opcode::poll_in:
    case Opcode::read:
      return {pollable(r.fd.fd), read_dir};
    case Opcode::connect:
    case Opcode::send:
    case Opcode::sendmsg:
    case Opcode::send_zc:
    case Opcode::write:
      return {pollable(r.fd.fd), write_dir};
    case Opcode::sendfile:
      return {pollable(r.fd_out.fd), write_dir};
    case Opcode::splice:
      // One end is always a pipe of core's pool (not attached). Core empties a
      // pipe before filling it and fills it before draining it, so a splice
      // only ever waits for its socket end: input readable, output writable.
      if (FdState* in = pollable(r.fd.fd)) return {in, read_dir};
      return {pollable(r.fd_out.fd), write_dir};
    default:
      return {};
  }
}

void EpollBackend::submit(const Request& request) noexcept {
  switch (request.opcode) {
    case Opcode::timeout:
      start_timer(request);
      return;
    case Opcode::cancel:
      cancel_op(request.target_op, request.target_tag);
      return;
    case Opcode::cancel_fd:
      cancel_fd_requests(request.fd.fd);
      return;
    case Opcode::close:
      run_close(request);
      return;
    case Opcode::shutdown: {
      const long rc = call([&] { return ::shutdown(request.fd.fd, request.flags); });
      emit(request, static_cast<std::int32_t>(rc));
      return;
    }
    default:
      break;
  }

  RequestNode* node = alloc_node();
  if (node == nullptr) {
    // More requests parked than 4 x op_slots: core breached its own bound.
    // Fail this one visibly rather than allocate without limit.
    emit(request, -ENOMEM);
    return;
  }
  node->request = request;
  const QueueRef q = queue_for(request);
  if (q.state != nullptr) {
    FdState& s = *q.state;
    // FIFO per fd and direction: never overtake a parked request. And when we
    // know the fd is not ready (an edge is still to come), do not spend a
    // syscall to learn it again.
    if (!s.queue[q.dir].empty() || hinted_not_ready(s, q.dir)) {
      park(node, q);
      return;
    }
    // A call that may raise SIGPIPE runs at the start of the next wait()
    // instead: there every such call of the turn shares one block/unblock
    // pair of the signal mask (no program code runs in between), where here
    // each would need its own. No extra turn: its completion would only be
    // reaped by that wait() anyway.
    if ((request.multishot && !room_for_burst()) || needs_shield(request)) {
      park(node, q);
      mark_runnable(s, q.dir);
      return;
    }
  }
  run_fresh(node, q);  // try first
  shield_.lower();     // program code runs next: its signal mask as it was
}

void EpollBackend::run_fresh(RequestNode* node, QueueRef q) noexcept {
  switch (attempt(*node, q.state)) {
    case Progress::done:
      retire(node);
      return;
    case Progress::blocked:
      if (q.state != nullptr) {
        park(node, q);
      } else {
        // Nothing to wait on (a pipe of the pool, or an fd whose attach
        // failed): report the EAGAIN rather than hang.
        emit(node->request, -EAGAIN);
        release(node);
      }
      return;
    case Progress::throttled:  // only returned when q.state != nullptr
      park(node, q);
      mark_runnable(*q.state, q.dir);
      return;
  }
}

void EpollBackend::park(RequestNode* node, QueueRef q) noexcept {
  node->owner = q.state;
  node->place = q.dir == read_dir ? NodePlace::read_queue : NodePlace::write_queue;
  q.state->queue[q.dir].push_back(node);
  index_.insert(node);
  node->indexed = true;
  const Opcode op = node->request.opcode;
  if (op == Opcode::splice || op == Opcode::sendfile) {
    cross_.push_back(node);
    node->cross_linked = true;
  }
}

void EpollBackend::unpark(RequestNode* node) noexcept {
  if (node->place == NodePlace::read_queue || node->place == NodePlace::write_queue) {
    const Dir dir = node->place == NodePlace::read_queue ? read_dir : write_dir;
    RequestList& q = node->owner->queue[dir];
    const bool was_head = q.front() == node;
    q.erase(node);
    // The next request may have been waiting only behind this one (its fd
    // may be ready with no edge to come): give it a try.
    if (was_head && !q.empty()) mark_runnable(*node->owner, dir);
  } else if (node->place == NodePlace::timer) {
    timers_.erase(node);
  }
  node->place = NodePlace::active;
}

void EpollBackend::release(RequestNode* node) noexcept {
  if (node->indexed) index_.erase(node);
  if (node->cross_linked) cross_.erase(node);
  nodes_.release(node);
}

void EpollBackend::retire(RequestNode* node) noexcept {
  if (node->place == NodePlace::read_queue || node->place == NodePlace::write_queue) {
    node->owner->queue[node->place == NodePlace::read_queue ? read_dir : write_dir].erase(node);
  }
  if (node->zc_awaiting) {
    // The result is out; the buffer stays the kernel's until the error queue
    // says otherwise. Not cancellable any more: leave the index.
    if (node->indexed) index_.erase(node);
    if (node->cross_linked) cross_.erase(node);
    node->indexed = node->cross_linked = false;
    node->place = NodePlace::zc_wait;
    node->owner->zc_wait.push_back(node);  // owner set by attempt_send_zc
    return;
  }
  release(node);
}

// Retries the parked requests of one direction, oldest first, until one would
// block: edge-triggered epoll will not report this readiness again.
void EpollBackend::drain(FdState& s, Dir dir) noexcept {
  RequestList& q = s.queue[dir];
  while (RequestNode* node = q.front()) {
    const Progress p = attempt(*node, &s);
    if (p == Progress::done) {
      retire(node);
      continue;
    }
    if (p == Progress::throttled) mark_runnable(s, dir);
    return;
  }
}

void EpollBackend::mark_runnable(FdState& s, Dir dir) noexcept {
  s.runnable_dirs |= dir_bit(dir);
  if (s.runnable_linked) return;
  s.runnable_linked = true;
  s.runnable_next = nullptr;
  if (runnable_tail_ != nullptr) runnable_tail_->runnable_next = &s; else runnable_head_ = &s;
  runnable_tail_ = &s;
}

void EpollBackend::run_runnable() noexcept {
  FdState* s = runnable_head_;
  runnable_head_ = runnable_tail_ = nullptr;  // drains may link states again: next turn
  while (s != nullptr) {
    FdState* next = s->runnable_next;
    s->runnable_next = nullptr;
    s->runnable_linked = false;
    const std::uint8_t dirs = s->runnable_dirs;
    s->runnable_dirs = 0;
    if (s->in_use && !s->zombie) {
      if (dirs & dir_bit(write_dir)) drain(*s, write_dir);
      if (dirs & dir_bit(read_dir)) drain(*s, read_dir);
    }
    s = next;
  }
}

// ---- timers, cancel, close -----------------------------------------------

void EpollBackend::start_timer(const Request& request) noexcept {
  RequestNode* node = alloc_node();
  if (node == nullptr) {
    emit(request, -ENOMEM);
    return;
  }
  node->request = request;
  std::int64_t relative_ns = 0;
  if (request.timespec != nullptr) {
    // Clamp to ~30 years so the sum cannot overflow.
    const std::int64_t sec = std::clamp<std::int64_t>(request.timespec->tv_sec, 0, ns_per_s);
    relative_ns = sec * ns_per_s + std::clamp<long long>(request.timespec->tv_nsec, 0, ns_per_s);
  }
  node->deadline_ns = now_ns() + relative_ns;
  node->place = NodePlace::timer;
  timers_.push(node);
  index_.insert(node);
  node->indexed = true;
}

void EpollBackend::expire_timers() noexcept {
  if (timers_.empty()) return;
  const std::int64_t now = now_ns();
  while (!timers_.empty() && timers_.top()->deadline_ns <= now) {
    RequestNode* node = timers_.top();
    timers_.pop();
    node->place = NodePlace::active;
    emit(node->request, -ETIME);  // like io_uring's IORING_OP_TIMEOUT
    release(node);
  }
}

void EpollBackend::cancel_op(const Op* op, std::uint8_t tag) noexcept {
  // Only parked and timer nodes are indexed. A request already completed (its
  // completion in the ring) or a zc send awaiting its notification is not
  // found: nothing to do, its completions arrive as they would.
  RequestNode* node = index_.find(op, tag);
  if (node == nullptr) return;
  unpark(node);
  emit(node->request, -ECANCELED);
  release(node);
}

void EpollBackend::cancel_fd_requests(int fd) noexcept {
  // Zero-copy notifications are not cancelled: the kernel still holds the
  // pages. They arrive later (or are flushed at detach, see zerocopy.cpp).
  if (FdState* s = state_of(fd)) cancel_queued(*s);
  cancel_cross(fd);
}

void EpollBackend::cancel_queued(FdState& s) noexcept {
  for (RequestList& q : s.queue) {
    while (RequestNode* node = q.front()) {
      q.erase(node);
      node->place = NodePlace::active;
      emit(node->request, -ECANCELED);
      release(node);
    }
  }
}

void EpollBackend::cancel_cross(int fd) noexcept {
  // A splice or sendfile parked on another fd's queue may name this fd as its
  // other end (sendfile from a file being closed, say).
  RequestNode* node = cross_.front();
  while (node != nullptr) {
    RequestNode* next = CrossList::next(node);
    if (node->request.fd.fd == fd || node->request.fd_out.fd == fd) {
      unpark(node);
      emit(node->request, -ECANCELED);
      release(node);
    }
    node = next;
  }
}

void EpollBackend::run_close(const Request& request) noexcept {
  const int fd = request.fd.fd;
  if (FdState* s = state_of(fd)) forget(*s);  // core detaches first; be safe if it did not
  ++stats_.syscalls;
  // Linux releases the fd even when close() reports EINTR: never retry.
  const int rc = ::close(fd);
  const int result = rc == 0 || errno == EINTR ? 0 : -errno;
  if (zombies_ > 0) on_user_close(fd);
  emit(request, result);
}

// ---- wait and readiness --------------------------------------------------

std::size_t EpollBackend::wait(std::span<Completion> out, std::chrono::nanoseconds timeout) noexcept {
  woken_ = false;
  ++turn_;  // a new turn: every fd's recv budget is whole again
  run_runnable();
  expire_timers();
  if (!ring_.empty()) {
    // Completions are ready, so do not block. Polling for readiness costs a
    // syscall that usually finds nothing (a ping-pong turn whose send completed
    // inside submit()), so skip it on every other such turn: readiness is still
    // looked at no less than every second turn, and no fd starves.
    if (polled_last_turn_) {
      polled_last_turn_ = false;
    } else {
      poll_events(0);
      polled_last_turn_ = true;
      expire_timers();
    }
  } else {
    const bool forever = timeout.count() < 0;
    const std::int64_t start = now_ns();
    const std::int64_t deadline =
        forever ? 0 : start + std::min<std::int64_t>(timeout.count(), INT64_MAX - start);
    std::int64_t now = start;
    for (;;) {
      std::int64_t wait_ns = forever ? -1 : std::max<std::int64_t>(deadline - now, 0);
      if (!timers_.empty()) {
        const std::int64_t until_timer = std::max<std::int64_t>(timers_.top()->deadline_ns - now, 0);
        wait_ns = wait_ns < 0 ? until_timer : std::min(wait_ns, until_timer);
      }
      poll_events(wait_ns);
      polled_last_turn_ = true;
      expire_timers();
      run_runnable();
      if (!ring_.empty() || woken_) break;
      now = now_ns();
      if (!forever && now >= deadline) break;
    }
  }
  shield_.lower();  // one block/unblock pair for every shielded call of this turn
  const std::size_t n = ring_.pop_into(out);
  stats_.cqes += n;
  return n;
}

void EpollBackend::poll_events(std::int64_t timeout_ns) noexcept {
  const int max_events = static_cast<int>(events_.size());
  int n;
  ++stats_.syscalls;
  ++stats_.epoll_waits;
  if (use_pwait2_) {
    timespec ts{};
    ts.tv_sec = timeout_ns / ns_per_s;
    ts.tv_nsec = timeout_ns % ns_per_s;
    n = ::epoll_pwait2(epoll_fd_, events_.data(), max_events, timeout_ns < 0 ? nullptr : &ts,
                       nullptr);
  } else {
    // Round up: waking a little late is harmless, waking early would spin.
    const std::int64_t ms = timeout_ns < 0 ? -1 : (timeout_ns + 999'999) / 1'000'000;
    n = ::epoll_wait(epoll_fd_, events_.data(), max_events,
                     static_cast<int>(std::min<std::int64_t>(ms, INT_MAX)));
  }
  if (n <= 0) return;  // timeout, or EINTR: wait() recomputes and tries again
  for (int i = 0; i < n; ++i) handle_event(events_[i]);
}

void EpollBackend::handle_event(const epoll_event& event) noexcept {
  if (event.data.u64 == wake_key) {
    woken_ = true;
    // Acquire pairs with wake()'s exchange: whatever the waker published
    // before waking (core's post queue) is visible once wait() returns.
    wake_pending_.exchange(false, std::memory_order_acq_rel);
    return;
  }
  const std::uint32_t index = static_cast<std::uint32_t>(event.data.u64);
  const std::uint32_t generation = static_cast<std::uint32_t>(event.data.u64 >> 32);
  if (index >= states_.size()) return;
  FdState& s = states_[index];
  if (!s.in_use || s.generation != generation) return;  // stale: the fd was detached
  if (s.zombie) {
    handle_zombie_event(s);
    return;
  }

  const std::uint32_t e = event.events;
  // EPOLLERR is raised both by a socket error and by a non-empty error queue
  // (zero-copy notifications). Only the first should make every parked
  // request retry (to report the error); a notification should not cost a
  // wasted recv on each parked reader. A TCP error also raises HUP, so a
  // notification arriving together with an error still retries everything.
  bool error_pending = false;
  bool zc_progress = false;
  if (e & EPOLLERR) {
    if (!s.zc_wait.empty()) {
      zc_progress = read_error_queue(s);
      error_pending = !zc_progress;
    } else {
      error_pending = true;
    }
  }
  if ((e & (EPOLLRDHUP | EPOLLHUP)) || error_pending) s.peer_closed = true;

  const bool writable = (e & (EPOLLOUT | EPOLLHUP)) || error_pending || (zc_progress && s.zc_nobufs);
  const bool readable = (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) || error_pending;
  if (writable) {
    s.write_full = false;
    s.zc_nobufs = false;
    drain(s, write_dir);
  }
  if (readable) {
    s.read_drained = false;
    drain(s, read_dir);
  }
}

std::chrono::nanoseconds EpollBackend::poll_timeout() const noexcept {
  using std::chrono::nanoseconds;
  // Completions made without the kernel (a try-first send that went through
  // inside submit(), a cancel) and fds with work left from a budgeted turn
  // make no fd readable: poll now.
  if (!ring_.empty() || runnable_head_ != nullptr) return nanoseconds::zero();
  // Timers live in this process: the outer loop wakes us for the next one.
  if (!timers_.empty()) return nanoseconds(std::max<std::int64_t>(timers_.top()->deadline_ns - now_ns(), 0));
  return nanoseconds(-1);
}

void EpollBackend::wake() noexcept {
  // Called from other threads. One eventfd write per wake-up is enough: skip
  // the syscall while an earlier one has not been consumed by wait().
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
  const std::uint64_t one = 1;
  while (::write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

}  // namespace ringxfer::detail
