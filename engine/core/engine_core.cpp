// The loop, op lifecycle, handles, cancel and close. Operation state machines
// are in op_stream.cpp, op_splice.cpp and op_misc.cpp.
#include "core/engine_core.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/backend_select.hpp"

namespace ringxfer::detail {

namespace {

constexpr std::size_t post_capacity = 1024;
constexpr std::size_t completion_batch = 256;
constexpr auto destroy_drain_limit = std::chrono::seconds(10);

std::error_code errno_code() noexcept { return {errno, std::system_category()}; }

EngineOptions resolved(EngineOptions options) {
  std::string text;
  if (auto ec = apply_environment(options, text)) throw std::system_error(ec, "ringxfer: " + text);
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
  pipes_ = std::make_unique<PipePool>(options_.pipe_count, options_.pipe_size_bytes, caps_.nonblocking_fds);

  // What is actually on: the features the backend has, less the ones disabled.
  FeatureSet active;
  if (caps_.send_zc) active.add(Feature::send_zc);
  if (caps_.multishot_accept) active.add(Feature::multishot_accept);
  if (caps_.multishot_recv) active.add(Feature::multishot_recv);
  if (caps_.buf_ring) active.add(Feature::buf_ring);
  if (caps_.fixed_files) active.add(Feature::fixed_files);
  if (caps_.fixed_buffers) active.add(Feature::fixed_buffers);
  if (caps_.splice) active.add(Feature::splice);
  if (features_.setup_mode.find("defer_taskrun") != std::string::npos) active.add(Feature::defer_taskrun);
  features_.active = active;
  features_.buffers_registered = caps_.fixed_buffers;
}

EngineCore::~EngineCore() {
  // Invariant 1 holds at destruction too: every op still in flight is
  // cancelled and its handler runs (with operation_canceled) before we go.
  destroying_ = true;
  while (Op* op = starved_.pop()) fail_soon(op, std::make_error_code(std::errc::operation_canceled));
  for (std::uint32_t i = 0; i < ops_.capacity(); ++i) {
    Op& op = ops_.at(i);
    if (op.in_use && !op.handler_done) {
      op.cancel_requested = true;
      cancel_requests(&op);
    }
  }
  auto deadline = std::chrono::steady_clock::now() + destroy_drain_limit;
  while (ops_.in_use() > 0 && !fault() && std::chrono::steady_clock::now() < deadline) {
    run_once(std::chrono::milliseconds(20));
  }
  if (ops_.in_use() > 0) {
    // The backend cannot drain them: the kernel refuses this thread (the one
    // that ran the ring exited, or still owns it) or never answered. Destroy
    // the backend first -- closing the ring makes the kernel cancel what it
    // still holds -- and only then end every op here.
    backend_.reset();
    abandon_all();
  }
  for (std::uint32_t i = 0; i < fds_.capacity(); ++i) {
    if (fds_.at(i).fd >= 0) close_slot_now(i);
  }
  backend_.reset();  // the ring goes before the memory registered with it
}

void EngineCore::abandon_all() noexcept {
  run_deferred();
  for (std::uint32_t i = 0; i < ops_.capacity(); ++i) {
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
  std::size_t ran = run_posted() + run_deferred();
  if (ran > 0) timeout = std::chrono::nanoseconds::zero();
  // Reap first, dispatch second: the backend copies a batch out and consumes
  // it before any handler runs, so handlers may start and cancel freely.
  std::size_t n = backend_->wait(batch_, timeout);
  for (std::size_t i = 0; i < n; ++i) dispatch(batch_[i]);
  // A wake from post() ends the wait: run what was posted in this same turn.
  return ran + n + run_deferred() + run_posted();
}

std::error_code EngineCore::run() noexcept {
  while (!stop_.load(std::memory_order_relaxed) && !fault() &&
         (ops_.in_use() > 0 || post_pending_.load(std::memory_order_acquire))) {
    run_once(std::chrono::nanoseconds(-1));
  }
  stop_.store(false, std::memory_order_relaxed);
  return fault();
}

void EngineCore::stop() noexcept {
  stop_.store(true, std::memory_order_relaxed);
  backend_->wake();
}

std::error_code EngineCore::post(Task task) noexcept {
  {
    std::lock_guard lock(post_mutex_);
    if (post_count_ == post_ring_.size()) return make_error_code(error::post_queue_full);
    post_ring_[(post_head_ + post_count_) % post_ring_.size()] = std::move(task);
    ++post_count_;
    post_pending_.store(true, std::memory_order_release);
  }
  backend_->wake();
  return {};
}

std::size_t EngineCore::run_posted() noexcept {
  if (!post_pending_.load(std::memory_order_acquire)) return 0;
  std::size_t ran = 0;
  for (;;) {
    Task task;
    {
      std::lock_guard lock(post_mutex_);
      if (post_count_ == 0) {
        post_pending_.store(false, std::memory_order_release);
        break;
      }
      task = std::move(post_ring_[post_head_]);
      post_head_ = (post_head_ + 1) % post_ring_.size();
      --post_count_;
    }
    task();  // outside the lock: a task may post again
    ++ran;
  }
  return ran;
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
    case OpKind::send:
    case OpKind::sendv:
    case OpKind::send_zc:
    case OpKind::write: on_out(op, c); break;
    case OpKind::splice: on_splice(op, c); break;
    case OpKind::read: on_read(op, c); break;
    case OpKind::timeout:
    case OpKind::shutdown:
    case OpKind::close: on_simple(op, c); break;
  }
}

// ----------------------------------------------------------- op lifecycle --

Op* EngineCore::new_op(OpKind kind, Handler&& handler) noexcept {
  if (destroying_) return nullptr;
  Op* op = ops_.acquire();
  if (op == nullptr) return nullptr;
  op->kind = kind;
  op->handler = std::move(handler);
  ++stats_.ops_started;
  if (kind == OpKind::splice) ++splices_running_;
  return op;
}

void EngineCore::submit(Op* op, Request& request, std::uint8_t tag) noexcept {
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
    outcome.buffer = pool_->lease(std::uint32_t(op->buffer), size);
    op->buffer = -1;
  }
  op->handler_done = true;
  ++stats_.ops_completed;
  if (op->kind == OpKind::splice) --splices_running_;
  op->handler(outcome);
  release_if_idle(op);
}

void EngineCore::release_if_idle(Op* op) noexcept {
  if (!op->handler_done || op->inflight_tags != 0 || op->pending_notifs != 0) return;
  if (op->buffer >= 0) {
    // A zero-copy buffer comes back only here, after its last notification.
    pool_->put_back(std::uint32_t(op->buffer));
    op->buffer = -1;
  }
  if (op->pipe >= 0) pipes_->release(op->pipe, op->in_pipe > 0);
  ops_.release(op);
}

bool EngineCore::take_buffer(Op* op, Buffer& buffer) noexcept {
  if (!buffer) {
    fail_soon(op, std::make_error_code(std::errc::invalid_argument));
    return false;
  }
  op->length = buffer.size();
  op->buffer = std::int32_t(pool_->detach(buffer));
  op->data = pool_->data(std::uint32_t(op->buffer));
  return true;
}

void EngineCore::cancel_requests(Op* op) noexcept {
  if (starved_.remove(op)) {
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

std::error_code EngineCore::listen(const Address& address, int backlog, FdRef& out) noexcept {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_code();
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, address.data(), address.size()) != 0 || ::listen(fd, backlog) != 0) {
    auto ec = errno_code();
    ::close(fd);
    return ec;
  }
  if (auto ec = adopt(fd, true, out)) {
    ::close(fd);
    return ec;
  }
  return {};
}

std::error_code EngineCore::local_address(FdRef handle, Address& out) const noexcept {
  const FdSlot* s = fds_.lookup(handle);
  if (s == nullptr) return std::make_error_code(std::errc::bad_file_descriptor);
  socklen_t len = sizeof(sockaddr_storage);
  if (::getsockname(s->fd, out.data(), &len) != 0) return errno_code();
  out.set_size(len);
  return {};
}

int EngineCore::native_handle(FdRef handle) const noexcept {
  const FdSlot* s = fds_.lookup(handle);
  return s == nullptr ? -1 : s->fd;
}

void EngineCore::close_slot_now(std::uint32_t slot) noexcept {
  FdSlot& s = fds_.at(slot);
  int fd = s.fd;
  if (s.registered && backend_) backend_->detach_fd(slot, fd);
  fds_.remove(slot);
  ::close(fd);
}

OpId EngineCore::start_close(FdRef handle, Handler handler) noexcept {
  Op* op = new_op(OpKind::close, std::move(handler));
  if (op == nullptr) return {};
  FdSlot* s = slot_of(handle);
  if (s == nullptr) {
    fail_soon(op, std::make_error_code(std::errc::bad_file_descriptor));
    return id_of(op);
  }
  int fd = s->fd;
  // 1. Every request on the fd completes with operation_canceled ...
  Request cancel_all;
  cancel_all.opcode = Opcode::cancel_fd;
  cancel_all.fd = target_of(handle);
  backend_->submit(cancel_all);
  // A splice request is keyed by its pipe end, so cancel-by-fd can miss it:
  // cancel splices that use this handle by op.
  for (std::uint32_t i = 0; splices_running_ > 0 && i < ops_.capacity(); ++i) {
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
  // 2. ... the handle goes stale at once (generation bump) ...
  if (s->registered) backend_->detach_fd(handle.slot, fd);
  fds_.remove(handle.slot);
  // 3. ... and the fd itself is closed as an operation.
  Request r;
  r.opcode = Opcode::close;
  r.fd = Target{fd, -1};
  submit(op, r, tag_main);
  return id_of(op);
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
