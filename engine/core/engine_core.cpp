// The loop, op lifecycle, handles, cancel and close. Operation state machines
// are in op_stream.cpp, op_splice.cpp and op_misc.cpp.
#include "core/engine_core.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/backend_select.hpp"

namespace ringxfer::detail {

namespace {

constexpr std::size_t post_capacity = 1024;
constexpr std::size_t completion_batch = 256;

std::error_code errno_code() noexcept { return {errno, std::system_category()}; }

// Default sizes (EngineOptions fields left at 0) for a real server: a
// process cannot hold more fds than RLIMIT_NOFILE, and the io_uring fixed-file
// table may not be larger (io_uring_register refuses with EMFILE), so that
// limit sizes the FdTable. Slots and ops are allocated in slabs as they are
// used, so a large limit costs nothing until connections arrive.
constexpr std::uint32_t max_default_fd_slots = 1u << 20;
constexpr std::uint32_t ops_per_fd_slot = 4;  // a connection's recv, send, a timer, a splice

std::uint32_t default_fd_slots() noexcept {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return max_default_fd_slots;
  return std::uint32_t(std::clamp<rlim_t>(rl.rlim_cur, 64, max_default_fd_slots));
}

EngineOptions resolved(EngineOptions options) {
  std::string text;
  if (auto ec = apply_environment(options, text)) throw std::system_error(ec, "ringxfer: " + text);
  if (options.fd_slots == 0) options.fd_slots = default_fd_slots();
  if (options.op_slots == 0) options.op_slots = std::max<std::uint32_t>(4096, options.fd_slots * ops_per_fd_slot);
  if (options.recv_buffer_count >= options.buffer_count) options.recv_buffer_count = options.buffer_count / 2;
  if (options.cq_factor < 2) options.cq_factor = 2;  // CQ >= 2 x SQ
  return options;
}

}  // namespace

bool OpList::remove(Op* op) noexcept {
  Op* prev = nullptr;
  for (Op* cur = head_; cur != nullptr; prev = cur, cur = cur->next) {
    if (cur != op) continue;
    if (prev != nullptr) prev->next = cur->next; else head_ = cur->next;
    if (tail_ == cur) tail_ = prev;
    cur->next = nullptr;
    return true;
  }
  return false;
}

EngineCore::EngineCore(EngineOptions options)
    : options_(resolved(std::move(options))),
      fds_(options_.fd_slots),
      ops_(options_.op_slots),
      batch_(completion_batch),
      post_ring_(post_capacity) {
  features_.disabled = options_.disabled;
  backend_ = select_backend(options_, features_, stats_);
  caps_ = backend_->capabilities();
  fds_.set_use_fixed(caps_.fixed_files);
  if (caps_.accept_direct) fds_.set_direct_first(caps_.direct_first);

  pool_ = std::make_unique<BufferPool>(options_.buffer_count, options_.recv_buffer_count,
                                       options_.buffer_size_bytes);
  pool_->on_recv_release = [this](std::uint32_t id) { on_recv_buffer_released(id); };
  if (auto ec = backend_->attach_buffers(*pool_)) {
    throw std::system_error(ec, "ringxfer: receive buffers could not be set up");
  }
  caps_ = backend_->capabilities();  // attach_buffers settles fixed_buffers / buf_ring
  if (caps_.buf_ring) {
    recv_available_ = pool_->recv_count();
  } else {
    recv_free_.reserve(pool_->recv_count());
    for (std::uint32_t i = pool_->recv_count(); i > 0; --i) recv_free_.push_back(i - 1);
  }
  held_.reserve(pool_->recv_count());
  pipes_ = std::make_unique<PipePool>(options_.pipe_count, options_.pipe_size_bytes, caps_.nonblocking_fds);

  // What is actually on: the features the backend has, less the ones disabled.
  FeatureSet active;
  if (caps_.send_zc) active.add(Feature::send_zc);
  if (caps_.multishot_accept) active.add(Feature::multishot_accept);
  if (caps_.multishot_recv) active.add(Feature::multishot_recv);
  if (caps_.buf_ring) active.add(Feature::buf_ring);
  if (caps_.buf_ring && caps_.recv_bundle) active.add(Feature::recv_bundle);
  if (caps_.buf_ring && caps_.buf_ring_inc) active.add(Feature::buf_ring_inc);
  if (caps_.fixed_files) active.add(Feature::fixed_files);
  if (caps_.fixed_buffers) active.add(Feature::fixed_buffers);
  if (caps_.splice) active.add(Feature::splice);
  if (caps_.msg_ring) active.add(Feature::msg_ring);
  if (caps_.accept_direct) active.add(Feature::accept_direct);
  if (features_.setup_mode.find("defer_taskrun") != std::string::npos) active.add(Feature::defer_taskrun);
  features_.active = active;
  features_.buffers_registered = caps_.fixed_buffers;
}

EngineCore::~EngineCore() {
  // Invariant 1 holds at destruction too: every op still in flight is
  // cancelled and its handler runs (with operation_canceled) before we go.
  const std::error_code canceled = std::make_error_code(std::errc::operation_canceled);
  destroying_ = true;
  while (Op* op = starved_.pop()) fail_soon(op, canceled);
  while (Op* op = pipe_waiters_.pop()) fail_soon(op, canceled);
  for (std::uint32_t i = 0; i < ops_.allocated(); ++i) {
    Op& op = ops_.at(i);
    if (op.in_use && !op.handler_done) {
      op.cancel_requested = true;
      cancel_requests(&op);
    }
  }
  // Every fd goes too, each once nothing in flight names it: a zero-copy
  // notification comes only when its socket lets go of the pages.
  fds_.for_each_slot([this](std::uint32_t i) {
    if (fds_.at(i).holds_file() && !fds_.at(i).closing) retire_slot(i, nullptr);
  });
  // Wait for requests, not for zero-copy notifications: those name no memory
  // we free (the kernel holds its own references to the pages until the
  // socket lets go of them, which a peer that never reads may put off for
  // minutes), and they go with the ring.
  auto requests_in_flight = [this] {
    for (std::uint32_t i = 0; i < ops_.allocated(); ++i) {
      const Op& op = ops_.at(i);
      if (op.in_use && (!op.handler_done || op.inflight_tags != 0)) return true;
    }
    return !deferred_.empty();
  };
  auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
  while (requests_in_flight() && !fault() && std::chrono::steady_clock::now() < deadline) {
    run_once(std::chrono::milliseconds(20));
  }
  if (ops_.in_use() > 0) {
    // What is left cannot be drained: notifications still to come, a kernel
    // that refuses this thread (the one that ran the ring exited, or still
    // owns it), or one that did not answer in drain_timeout. Destroy the
    // backend first -- closing the ring makes the kernel cancel what it still
    // holds -- and only then end every op here: every handler still runs
    // once, and nothing touches the backend after it is gone.
    backend_.reset();
    abandon_all();
  }
  fds_.for_each_slot([this](std::uint32_t i) {
    if (fds_.at(i).holds_file()) close_slot_now(i);
  });
  backend_.reset();  // the ring goes before the memory registered with it
  // A Buffer lease may outlive the Engine: the pool then stays until the
  // last lease is dropped, and no longer calls back into the engine.
  if (pool_->outstanding() > 0) pool_.release()->orphan();
}

SlotUsage EngineCore::slot_usage() const noexcept {
  return {ops_.in_use(), ops_.capacity(), fds_.in_use(), fds_.capacity()};
}

void EngineCore::abandon_all() noexcept {
  run_deferred();
  for (std::uint32_t i = 0; i < ops_.allocated(); ++i) {
    Op& op = ops_.at(i);
    if (!op.in_use) continue;
    op.inflight_tags = 0;  // the backend is gone: no completion or notification will come
    op.pending_notifs = 0;
    if (!op.handler_done) finish(&op, std::make_error_code(std::errc::operation_canceled));
    else release_if_idle(&op);
  }
}

// ---------------------------------------------------------------- the loop --

std::size_t EngineCore::run_once(std::chrono::nanoseconds timeout) noexcept {
  std::size_t ran = run_posted() + run_deferred() + run_resumed();
  if (ran > 0) timeout = std::chrono::nanoseconds::zero();
  // Reap first, dispatch second: the backend copies a batch out and consumes
  // it before any handler runs, so handlers may start and cancel freely.
  std::size_t n = backend_->wait(batch_, timeout);
  for (std::size_t i = 0; i < n; ++i) dispatch(batch_[i]);
  // A wake from post() ends the wait: run what was posted in this same turn.
  return ran + n + run_deferred() + run_resumed() + run_posted();
}

std::error_code EngineCore::run() noexcept {
  while (!stop_.load(std::memory_order_relaxed) && !fault() &&
         (ops_.in_use() > 0 || post_pending_.load(std::memory_order_acquire))) {
    run_once(std::chrono::nanoseconds(-1));
  }
  stop_.store(false, std::memory_order_relaxed);
  return fault();
}

std::chrono::nanoseconds EngineCore::poll_timeout() const noexcept {
  if (fault()) return std::chrono::nanoseconds(-1);  // poll() would do nothing
  // Posted tasks and ops completing without the backend (fail_soon) run at
  // the next turn; neither makes the backend's fd readable.
  if (post_pending_.load(std::memory_order_acquire) || !deferred_.empty()) return std::chrono::nanoseconds::zero();
  return backend_->poll_timeout();
}

void EngineCore::stop() noexcept {
  stop_.store(true, std::memory_order_relaxed);
  backend_->wake();
}

std::error_code EngineCore::post(Task task, EngineCore* from) noexcept {
  {
    std::lock_guard lock(post_mutex_);
    if (post_count_ == post_ring_.size()) return make_error_code(error::post_queue_full);
    post_ring_[(post_head_ + post_count_) % post_ring_.size()] = std::move(task);
    ++post_count_;
    post_pending_.store(true, std::memory_order_release);
  }
  wake_from(from);
  return {};
}

void EngineCore::wake_from(EngineCore* from) noexcept {
  // The task is queued (the mutex publishes it); the wake-up is only a
  // doorbell. From another engine's thread it can ride on that engine's next
  // submission (IORING_OP_MSG_RING) instead of costing a write(2) here.
  if (from != nullptr && from != this && from->backend_ && from->backend_->wake_peer(*backend_)) {
    ++from->stats_.msg_ring_wakes;
    return;
  }
  backend_->wake();
}

// Runs the tasks queued when it starts, not the ones they post: a task that
// posts itself again runs once per call, so I/O and timers get their turn.
std::size_t EngineCore::run_posted() noexcept {
  if (!post_pending_.load(std::memory_order_acquire)) return 0;
  std::size_t batch = 0;
  {
    std::lock_guard lock(post_mutex_);
    batch = post_count_;
    if (batch == 0) post_pending_.store(false, std::memory_order_release);
  }
  // Only this thread takes tasks out: the batch is there to take.
  for (std::size_t i = 0; i < batch; ++i) {
    Task task;
    {
      std::lock_guard lock(post_mutex_);
      task = std::move(post_ring_[post_head_]);
      post_head_ = (post_head_ + 1) % post_ring_.size();
      if (--post_count_ == 0) post_pending_.store(false, std::memory_order_release);
    }
    task();  // outside the lock: a task may post again (it runs next turn)
  }
  return batch;
}

std::size_t EngineCore::run_deferred() noexcept {
  std::size_t ran = 0;
  while (Op* op = deferred_.pop()) {
    finish(op, op->deferred_error, op->done);
    ++ran;
  }
  return ran;
}

void EngineCore::dispatch(const Completion& c) noexcept {
  Op* op = c.op;
  if (c.flags & completion_notif) {
    on_zc_notification(op, c);
    return;
  }
  // A zero-copy send's result ends its request (the notification is counted
  // in pending_notifs); for everything else "more" keeps the request alive.
  if (!(c.flags & completion_more) || op->kind == OpKind::send_zc) {
    op->inflight_tags &= std::uint8_t(~(1u << c.tag));
  }
  switch (op->kind) {
    case OpKind::accept: on_accept(op, c); break;
    case OpKind::connect: on_connect(op, c); break;
    case OpKind::recv: on_recv(op, c); break;
    case OpKind::recv_into: on_recv_into(op, c); break;
    case OpKind::signals: on_signals(op, c); break;
    case OpKind::send:
    case OpKind::sendv:
    case OpKind::send_zc:
    case OpKind::write: on_out(op, c); break;
    case OpKind::splice: on_splice(op, c); break;
    case OpKind::read: on_read(op, c); break;
    case OpKind::timeout:
    case OpKind::wait_readable:
    case OpKind::shutdown:
    case OpKind::close:
    case OpKind::release: on_simple(op, c); break;
  }
}

// ----------------------------------------------------------- op lifecycle --

Op* EngineCore::new_op(OpKind kind, Handler&& handler) noexcept {
  Op* op = destroying_ ? nullptr : ops_.acquire();
  if (op == nullptr) {
    ++stats_.start_failures;
    return nullptr;
  }
  op->kind = kind;
  op->handler = std::move(handler);
  ++stats_.ops_started;
  if (kind == OpKind::splice) ++splices_running_;
  return op;
}

void EngineCore::submit(Op* op, Request& request, std::uint8_t tag) noexcept {
  pin_handles(op);
  request.op = op;
  request.tag = tag;
  op->inflight_tags |= std::uint8_t(1u << tag);
  backend_->submit(request);
}

void EngineCore::fail_soon(Op* op, std::error_code error) noexcept {
  op->deferred_error = error;
  deferred_.push(op);
}

void EngineCore::finish(Op* op, std::error_code error, std::size_t bytes) noexcept {
  Outcome outcome;
  outcome.error = error;
  outcome.bytes = bytes;
  finish(op, outcome);
}

void EngineCore::finish(Op* op, Outcome& outcome) noexcept {
  // read and write hand their buffer back with the result.
  if ((op->kind == OpKind::read || op->kind == OpKind::write) && op->buffer >= 0) {
    std::size_t size = op->kind == OpKind::read ? outcome.bytes : op->length;
    outcome.buffer = pool_->relend(std::uint32_t(op->buffer), const_cast<std::byte*>(op->data),
                                   op->buffer_capacity, size);
    op->buffer = -1;
  }
  // A recv ending while chunks are held hands them out first: no byte lost.
  if (op->held_count > 0) deliver_held(op, true);
  if (op->kind == OpKind::release) outcome.fd = std::exchange(op->released_fd, -1);
  op->handler_done = true;
  ++stats_.ops_completed;
  if (op->kind == OpKind::recv && fds_.exists(op->handle.slot) && fds_.at(op->handle.slot).receiver == op) {
    fds_.at(op->handle.slot).receiver = nullptr;  // the read side is free again
  }
  if (op->kind == OpKind::splice) --splices_running_;
  if (op->write_slot != invalid_slot) pass_write_turn(op);
  op->handler(outcome);
  release_if_idle(op);
}

void EngineCore::release_if_idle(Op* op) noexcept {
  if (!op->handler_done || op->inflight_tags != 0) return;
  // No request of this op can name its slots any more. (A zero-copy
  // notification names no file: the slot need not wait for it.)
  unpin_handles(op);
  if (op->pending_notifs != 0) return;
  if (op->buffer >= 0) {
    // A zero-copy buffer comes back only here, after its last notification.
    pool_->put_back(std::uint32_t(op->buffer));
    op->buffer = -1;
  }
  int pipe = op->pipe;
  bool dirty = op->in_pipe > 0;
  ops_.release(op);
  if (pipe >= 0) {
    pipes_->release(pipe, dirty);
    // One pipe back: the splice that waited longest goes on.
    if (Op* waiter = pipe_waiters_.pop()) begin_splice(waiter);
  }
}

bool EngineCore::take_buffer(Op* op, Buffer& buffer) noexcept {
  if (!buffer) {
    fail_soon(op, std::make_error_code(std::errc::invalid_argument));
    return false;
  }
  // The lease's own bytes, not the start of its pool buffer: a receive
  // chunk shares its buffer with other chunks.
  op->length = buffer.size();
  op->data = buffer.data();
  op->buffer_capacity = buffer.capacity();
  op->buffer = std::int32_t(pool_->detach(buffer));
  return true;
}

void EngineCore::cancel_requests(Op* op) noexcept {
  // An op still waiting for something core hands out (a receive buffer, a
  // pipe, its turn to write) has no request in the backend: it ends here.
  if (starved_.remove(op) || pipe_waiters_.remove(op) || drop_queued_writer(op)) {
    fail_soon(op, std::make_error_code(std::errc::operation_canceled));
    return;
  }
  // A paused recv with nothing in the kernel: end it from the loop (a
  // resumed one waiting in resumed_ sees cancel_requested there).
  if (op->kind == OpKind::recv && op->recv_paused && op->inflight_tags == 0 && !op->resume_queued) {
    fail_soon(op, std::make_error_code(std::errc::operation_canceled));
    return;
  }
  for (std::uint8_t tag = 0; tag < tag_count; ++tag) {
    if (!(op->inflight_tags & (1u << tag))) continue;
    Request r;
    r.opcode = Opcode::cancel;
    r.target_op = op;
    r.target_tag = tag;
    backend_->submit(r);
  }
}

bool EngineCore::cancel(OpId id) noexcept {
  Op* op = ops_.lookup(id);
  if (op == nullptr || op->handler_done) return false;
  if (op->deferred_error) return false;  // already completing
  op->cancel_requested = true;
  cancel_requests(op);
  return true;
}

bool EngineCore::closed_under(Op* op) noexcept { return slot_of(op->handle) == nullptr; }

// ---------------------------------------------------------------- handles --

std::error_code EngineCore::register_fd(int fd, bool is_socket, FdRef& out) noexcept {
  std::uint32_t slot = fds_.insert(fd, is_socket);
  if (slot == invalid_slot) return make_error_code(error::no_free_fd_slot);
  // A failed registration is not fatal: the slot is used with its plain fd.
  fds_.at(slot).registered = !backend_->attach_fd(slot, fd, is_socket);
  struct stat st {};
  fds_.at(slot).is_fifo = !is_socket && ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
  out = fds_.ref(slot);
  return {};
}

std::error_code EngineCore::register_direct(std::uint32_t slot, FdRef& out) noexcept {
  Op* reclaimed_from = nullptr;
  if (!fds_.insert_direct(slot, reclaimed_from)) return make_error_code(error::no_free_fd_slot);
  // The slot's previous close ran (the kernel reused the slot) but its
  // completion is still on the way: it must not free the slot again.
  if (reclaimed_from != nullptr) reclaimed_from->close_slot = invalid_slot;
  out = fds_.ref(slot);
  return {};
}

std::error_code EngineCore::adopt(int fd, bool is_socket, FdRef& out) noexcept {
  if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return errno_code();
  // epoll needs non-blocking fds; io_uring wants blocking ones (it polls
  // sockets itself, and splice must wait rather than return EAGAIN).
  int wanted = caps_.nonblocking_fds ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && ::fcntl(fd, F_SETFL, wanted) != 0) return errno_code();
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return register_fd(fd, is_socket, out);
}

std::error_code EngineCore::open(const char* path, int flags, unsigned mode, FdRef& out) noexcept {
  int fd = ::open(path, flags | O_CLOEXEC, mode);
  if (fd < 0) return errno_code();
  if (auto ec = adopt(fd, false, out)) {
    ::close(fd);
    return ec;
  }
  return {};
}

std::error_code EngineCore::listen(const Address& address, const ListenOptions& options, FdRef& out) noexcept {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_code();
  auto fail = [fd](std::error_code ec) {
    ::close(fd);
    return ec;
  };
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Options the caller asked for must hold: a listener silently without
  // SO_REUSEPORT would take every connection of the port group.
  if (options.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return fail(errno_code());
  }
  if (options.v6_only >= 0 && address.family() == AF_INET6) {
    int v6_only = options.v6_only != 0;
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6_only, sizeof v6_only) != 0) return fail(errno_code());
  }
  if (options.before_listen) {
    // A const options struct, but the hook is the caller's to run.
    auto& hook = const_cast<InlineFunction<std::error_code(int), 64>&>(options.before_listen);
    if (auto ec = hook(fd)) return fail(ec);
  }
  if (::bind(fd, address.data(), address.size()) != 0 || ::listen(fd, options.backlog) != 0) {
    return fail(errno_code());
  }
  if (auto ec = adopt(fd, true, out)) {
    ::close(fd);
    return ec;
  }
  return {};
}

std::error_code EngineCore::local_address(FdRef handle, Address& out) const noexcept {
  int fd = native_handle(handle);
  if (fd < 0) {
    return fds_.lookup(handle) == nullptr ? std::make_error_code(std::errc::bad_file_descriptor)
                                          : std::make_error_code(std::errc::operation_not_supported);
  }
  socklen_t len = sizeof(sockaddr_storage);
  if (::getsockname(fd, out.data(), &len) != 0) return errno_code();
  out.set_size(len);
  return {};
}

int EngineCore::native_handle(FdRef handle) const noexcept {
  const FdSlot* s = fds_.lookup(handle);
  if (s == nullptr) return -1;
  if (s->fd < 0 && s->direct) {
    // A direct descriptor has no process fd: install one for it, once, and
    // keep it with the slot (closed with it). The table and the backend are
    // the engine's own state, not the caller's: const_cast is the lazy cache.
    auto* self = const_cast<EngineCore*>(this);
    int fd = self->backend_->install_fd(handle.slot);
    if (fd >= 0) self->fds_.at(handle.slot).fd = fd;
    return fd;
  }
  return s->fd;
}

void EngineCore::close_slot_now(std::uint32_t slot) noexcept {
  FdSlot& s = fds_.at(slot);
  int fd = s.fd;
  if (s.registered && backend_) backend_->detach_fd(slot, fd);
  if (!s.closing) fds_.retire(slot);
  fds_.free(slot);
  if (fd >= 0) ::close(fd);  // a direct descriptor may have none
}

void EngineCore::pin_handles(Op* op) noexcept {
  const FdRef refs[2] = {op->handle, op->handle_out};
  for (int i = 0; i < 2; ++i) {
    if (op->pinned[i] != invalid_slot || !refs[i].valid()) continue;
    if (FdSlot* s = fds_.lookup(refs[i])) {
      ++s->pins;
      op->pinned[i] = refs[i].slot;
    }
  }
}

void EngineCore::unpin_handles(Op* op) noexcept {
  for (std::uint32_t& slot : op->pinned) {
    if (slot == invalid_slot) continue;
    FdSlot& s = fds_.at(slot);
    std::uint32_t freed = slot;
    slot = invalid_slot;
    if (--s.pins == 0 && s.closing) finalize_slot(freed);
  }
}

void EngineCore::retire_slot(std::uint32_t slot, Op* close_op) noexcept {
  FdSlot& s = fds_.at(slot);
  fds_.retire(slot);  // every handle is stale from here on
  s.close_op = close_op;
  if (s.pins == 0) finalize_slot(slot);
}

void EngineCore::finalize_slot(std::uint32_t slot) noexcept {
  // Nothing in flight names the slot: take it out of the backend (fixed-file
  // table, epoll set), then close the fd. The slot is free only once the fd
  // is closed, so a request queued before this point can never meet the
  // slot's next fd.
  FdSlot& s = fds_.at(slot);
  int fd = s.fd;
  if (s.direct) {
    finalize_direct_slot(slot);
    return;
  }
  if (s.registered && backend_) backend_->detach_fd(slot, fd);
  s.registered = false;
  if (Op* op = s.close_op; op != nullptr && op->kind == OpKind::release && backend_) {
    hand_over_slot(slot, op);
    return;
  }
  if (Op* op = s.close_op; op != nullptr && backend_) {
    op->close_slot = slot;
    Request r;
    r.opcode = Opcode::close;
    r.fd = Target{fd, -1};
    submit(op, r, tag_main);
    return;
  }
  ++stats_.syscalls;
  ::close(fd);  // an engine-internal close (a failed connect): no one waits for it
  fds_.free(slot);
}

void EngineCore::finalize_direct_slot(std::uint32_t slot) noexcept {
  FdSlot& s = fds_.at(slot);
  if (s.fd >= 0) {  // the fd native_handle() installed
    ++stats_.syscalls;
    ::close(s.fd);
    s.fd = -1;
  }
  if (Op* op = s.close_op; op != nullptr && backend_) {
    // IORING_OP_CLOSE with file_index: the kernel empties the slot, no
    // io_uring_register. From the moment it runs the kernel may give the slot
    // to a new connection (FdTable::insert_direct reclaims it then).
    op->close_slot = slot;
    s.close_submitted = true;
    Request r;
    r.opcode = Opcode::close;
    r.fd = Target{-1, int(slot)};
    submit(op, r, tag_main);
    return;
  }
  // No one waits (engine-internal, destruction): empty it at once. Without
  // a backend the ring, and the file with it, is gone already.
  if (backend_) backend_->detach_fd(slot, -1);
  fds_.free(slot);
}

OpId EngineCore::start_close(FdRef handle, Handler handler) noexcept {
  FdSlot* s = slot_of(handle);
  Op* op = new_op(OpKind::close, std::move(handler));
  if (op == nullptr) {
    // No op slot for the close itself: the handle still goes stale and the
    // fd is still closed (when nothing names it any more); only the handler
    // cannot be called. The returned OpId says why.
    if (s != nullptr) {
      cancel_fd_requests(handle);
      retire_slot(handle.slot, nullptr);
    }
    return not_started();
  }
  if (s == nullptr) {
    fail_soon(op, std::make_error_code(std::errc::bad_file_descriptor));
    return id_of(op);
  }
  // 1. Every request on the fd completes with operation_canceled; writers
  //    still waiting for their turn end at once ...
  cancel_fd_requests(handle);
  // 2. ... the handle goes stale at once, and the fd is closed (by this op)
  //    when the last op that may name the slot has completed.
  retire_slot(handle.slot, op);
  return id_of(op);
}

OpId EngineCore::start_release(FdRef handle, Handler handler) noexcept {
  FdSlot* s = slot_of(handle);
  Op* op = new_op(OpKind::release, std::move(handler));
  if (op == nullptr) return not_started();
  if (s == nullptr || !s->is_socket) {
    fail_soon(op, std::make_error_code(s == nullptr ? std::errc::bad_file_descriptor : std::errc::invalid_argument));
    return id_of(op);
  }
  // As close(): what is in flight on the socket ends first (operation_canceled;
  // a recv hands over every byte it took before its final call, a send says
  // how many of its bytes left), the handle goes stale at once, and the slot
  // is emptied once nothing names it -- then hand_over_slot() instead of a
  // close(2).
  cancel_fd_requests(handle);
  retire_slot(handle.slot, op);
  return id_of(op);
}

void EngineCore::hand_over_slot(std::uint32_t slot, Op* op) noexcept {
  // The backend let go of the fd (finalize_slot detached it): the slot is
  // free, and the fd, still open, is the handler's. From the loop, never
  // from inside start_release().
  op->released_fd = fds_.at(slot).fd;
  fds_.free(slot);
  fail_soon(op, {});
}

void EngineCore::cancel_fd_requests(FdRef handle) noexcept {
  FdSlot& s = fds_.at(handle.slot);
  Request cancel_all;
  cancel_all.opcode = Opcode::cancel_fd;
  cancel_all.fd = target_of(handle);
  backend_->submit(cancel_all);
  // A splice request is keyed by its pipe end, so cancel-by-fd can miss it,
  // and the second half of a linked pair is not findable before it is
  // issued: cancel splices that use this handle by op (the first half's
  // cancel breaks the link).
  for (std::uint32_t i = 0; splices_running_ > 0 && i < ops_.allocated(); ++i) {
    Op& o = ops_.at(i);
    if (o.in_use && o.kind == OpKind::splice && !o.handler_done && (o.handle == handle || o.handle_out == handle)) {
      o.cancel_requested = true;
      cancel_requests(&o);
    }
  }
  for (Op* o = starved_.head(); o != nullptr;) {
    Op* next = o->next;
    if (o->handle == handle) {
      starved_.remove(o);
      fail_soon(o, std::make_error_code(std::errc::operation_canceled));
    }
    o = next;
  }
  cancel_queued_writers(s);
  // A paused recv has no request for cancel-by-fd to find.
  if (Op* r = s.receiver; r != nullptr && r->handle == handle && r->recv_paused && r->inflight_tags == 0 &&
                          !r->deferred_error) {
    r->cancel_requested = true;
    cancel_requests(r);
  }
}

// ------------------------------------------------- per-socket write queue --

bool EngineCore::take_write_turn(Op* op, FdRef socket) noexcept {
  FdSlot* s = slot_of(socket);
  if (s == nullptr || !s->is_socket) return true;  // a file, or stale (the op fails by itself)
  op->write_slot = socket.slot;
  if (s->writer == nullptr) {
    s->writer = op;  // the common case: nobody writing, no extra work
    op->writing = true;
    return true;
  }
  op->write_next = nullptr;
  if (s->write_tail != nullptr) s->write_tail->write_next = op; else s->write_head = op;
  s->write_tail = op;
  return false;
}

void EngineCore::pass_write_turn(Op* op) noexcept {
  FdSlot& s = fds_.at(op->write_slot);
  op->write_slot = invalid_slot;
  if (!op->writing) return;
  op->writing = false;
  s.writer = nullptr;
  Op* next = s.write_head;
  if (next == nullptr) return;
  s.write_head = next->write_next;
  if (s.write_head == nullptr) s.write_tail = nullptr;
  next->write_next = nullptr;
  s.writer = next;
  next->writing = true;
  start_writer(next);
}

void EngineCore::start_writer(Op* op) noexcept {
  switch (op->kind) {
    case OpKind::splice: begin_splice(op); break;
    case OpKind::shutdown: submit_shutdown(op); break;
    default: submit_out_chunk(op); break;  // send, sendv, send_zc, write
  }
}

bool EngineCore::drop_queued_writer(Op* op) noexcept {
  if (op->write_slot == invalid_slot || op->writing) return false;
  FdSlot& s = fds_.at(op->write_slot);
  Op* prev = nullptr;
  for (Op* cur = s.write_head; cur != nullptr; prev = cur, cur = cur->write_next) {
    if (cur != op) continue;
    if (prev != nullptr) prev->write_next = cur->write_next; else s.write_head = cur->write_next;
    if (s.write_tail == cur) s.write_tail = prev;
    cur->write_next = nullptr;
    op->write_slot = invalid_slot;
    return true;
  }
  return false;
}

void EngineCore::cancel_queued_writers(FdSlot& s) noexcept {
  while (Op* op = s.write_head) {
    s.write_head = op->write_next;
    op->write_next = nullptr;
    op->write_slot = invalid_slot;
    fail_soon(op, std::make_error_code(std::errc::operation_canceled));
  }
  s.write_tail = nullptr;
}

void EngineCore::on_recv_buffer_released(std::uint32_t id) noexcept {
  if (!backend_) return;  // abandon_all(): the backend is gone, so is its ring
  if (caps_.buf_ring) {
    backend_->recycle_recv_buffer(id);
    ++recv_available_;
  } else {
    recv_free_.push_back(id);  // capacity reserved for every receive buffer
  }
  // One buffer back: one starved receiver may go on.
  if (Op* op = starved_.pop()) submit_recv(op);
}

}  // namespace ringxfer::detail
