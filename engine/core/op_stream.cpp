// Stream operations: accept, connect, recv, and the "all bytes out" machine
// shared by send, send_zc and write (short results continue where they stopped).
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "core/engine_core.hpp"

namespace ringxfer::detail {

namespace {

const std::error_code canceled = std::make_error_code(std::errc::operation_canceled);

bool retryable(int result) noexcept {
  return result == -EINTR || result == -EAGAIN || result == -ECONNABORTED;
}

// One request moves at most this much; larger lengths continue as short sends.
constexpr std::size_t max_request_bytes = std::size_t(INT_MAX) & ~std::size_t(4095);

}  // namespace

// ------------------------------------------------------------------ accept --

OpId EngineCore::start_accept(Socket listener, Handler handler) noexcept {
  Op* op = new_op(OpKind::accept, std::move(handler));
  if (op == nullptr) return not_started();
  op->handle = listener;
  if (slot_of(listener) == nullptr) {
    fail_soon(op, std::make_error_code(std::errc::bad_file_descriptor));
    return id_of(op);
  }
  if (!caps_.multishot_accept) ++stats_.fallbacks;
  submit_accept(op);
  return id_of(op);
}

void EngineCore::submit_accept(Op* op) noexcept {
  if (closed_under(op)) {
    finish(op, canceled);
    return;
  }
  Request r;
  r.opcode = Opcode::accept;
  r.fd = target_of(op->handle);
  r.multishot = caps_.multishot_accept;
  r.direct = caps_.accept_direct;
  r.flags = SOCK_CLOEXEC | (caps_.nonblocking_fds ? SOCK_NONBLOCK : 0);
  submit(op, r, tag_main);
}

namespace {

// Accept errors that say "not now" rather than "never": out of fds (process
// or system), of kernel memory, or of engine fd slots. The accept loop pauses
// and re-arms itself instead of ending, as nginx does on EMFILE.
bool transient_accept_error(int result) noexcept {
  return result == -EMFILE || result == -ENFILE || result == -ENOBUFS || result == -ENOMEM;
}

// How long an accept pauses after such an error: long enough not to spin
// while fds are short, short enough that a server recovers promptly.
constexpr std::int64_t accept_pause_ns = 100'000'000;

}  // namespace

void EngineCore::pause_accept(Op* op) noexcept {
  if (op->paused) return;
  op->paused = true;
  ++stats_.accept_pauses;
  // A multishot accept still armed would keep taking connections we cannot
  // hold: stop it; the timer re-arms it.
  if (op->inflight_tags & (1u << tag_main)) {
    Request c;
    c.opcode = Opcode::cancel;
    c.target_op = op;
    c.target_tag = tag_main;
    backend_->submit(c);
  }
  op->timespec.tv_sec = accept_pause_ns / 1'000'000'000;
  op->timespec.tv_nsec = accept_pause_ns % 1'000'000'000;
  Request t;
  t.opcode = Opcode::timeout;
  t.timespec = &op->timespec;
  submit(op, t, tag_pause);
}

void EngineCore::on_accept(Op* op, const Completion& c) noexcept {
  bool more = c.flags & completion_more;
  if (c.tag == tag_pause) {
    op->paused = false;
  } else if (c.result >= 0) {
    FdRef ref;
    if (caps_.accept_direct) {
      if (register_direct(std::uint32_t(c.result), ref)) {
        // Not a slot the table can take (out of memory for its slab; a
        // kernel that breaks its own table): close the direct descriptor, no
        // one else will -- unless the slot names a live one of ours.
        ++stats_.accepts_refused;
        std::uint32_t slot = std::uint32_t(c.result);
        if (!fds_.exists(slot) || !fds_.at(slot).holds_file()) {
          Request close;
          close.opcode = Opcode::close;
          close.fd = Target{-1, c.result};
          backend_->submit(close);
        }
      } else {
        Outcome outcome;
        outcome.socket = Socket{ref};
        op->handler(outcome);
        // Every slot the kernel may allocate is taken: the next connection
        // would be accepted only to be dropped (ENFILE). Leave it in the
        // backlog instead, as with EMFILE.
        if (fds_.direct_full() && !op->cancel_requested) pause_accept(op);
      }
    } else if (std::error_code ec = register_fd(c.result, true, ref)) {
      // No fd slot for it: the connection is refused (closed), and the
      // accept pauses until slots may have come back.
      ++stats_.syscalls;
      ::close(c.result);
      ++stats_.accepts_refused;
      pause_accept(op);
    } else {
      Outcome outcome;
      outcome.socket = Socket{ref};
      op->handler(outcome);
    }
    if (more) return;
  } else if (more) {
    return;  // an error the multishot survives
  } else if (c.result != -ECANCELED && !op->cancel_requested) {
    if (transient_accept_error(c.result)) {
      pause_accept(op);
    } else if (!retryable(c.result)) {
      op->first_error = from_result(c.result);
      op->cancel_requested = true;
      cancel_requests(op);  // the pause timer, if one runs
    }
  }
  // Whatever ended, go on only when nothing of this op is in flight.
  if (op->inflight_tags != 0 || op->paused) return;
  if (op->cancel_requested || closed_under(op)) finish(op, op->first_error ? op->first_error : canceled);
  else submit_accept(op);  // single-shot (fallback), the kernel ended the multishot, or a pause ended
}

// ----------------------------------------------------------------- connect --

OpId EngineCore::start_connect(const Address& address, ConnectOptions& options, Handler handler) noexcept {
  Op* op = new_op(OpKind::connect, std::move(handler));
  if (op == nullptr) return not_started();
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC | (caps_.nonblocking_fds ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) {
    fail_soon(op, std::error_code(errno, std::system_category()));
    return id_of(op);
  }
  // The caller's socket options (bind, SO_MARK, ...) go on before connect.
  if (options.before_connect) {
    if (std::error_code ec = options.before_connect(fd)) {
      ::close(fd);
      fail_soon(op, ec);
      return id_of(op);
    }
  }
  FdRef ref;
  if (auto ec = register_fd(fd, true, ref)) {
    ::close(fd);
    fail_soon(op, ec);
    return id_of(op);
  }
  op->handle = ref;
  op->address = address;  // the kernel reads it after submit: it lives in the op
  const bool deadline = options.timeout.count() > 0;
  Request r;
  r.opcode = Opcode::connect;
  r.fd = target_of(ref);
  r.addr = op->address.data();
  r.len = op->address.size();
  // io_uring: LINK_TIMEOUT, so the kernel ends the connect itself; without
  // linked requests (epoll) a plain timer whose firing cancels the connect.
  op->linked_deadline = deadline && caps_.linked_ops;
  r.link = op->linked_deadline;
  submit(op, r, tag_main);
  if (deadline) {
    op->timespec.tv_sec = options.timeout.count() / 1'000'000'000;
    op->timespec.tv_nsec = options.timeout.count() % 1'000'000'000;
    Request t;
    t.opcode = op->linked_deadline ? Opcode::link_timeout : Opcode::timeout;
    t.timespec = &op->timespec;
    submit(op, t, tag_deadline);
  }
  return id_of(op);
}

void EngineCore::on_connect(Op* op, const Completion& c) noexcept {
  const bool main_in_flight = op->inflight_tags & (1u << tag_main);
  if (c.tag == tag_deadline) {
    if (c.result == -ETIME) {
      op->timed_out = true;
      // A plain timer: end the connect ourselves (a LINK_TIMEOUT already did).
      if (!op->linked_deadline && main_in_flight) {
        Request cancel;
        cancel.opcode = Opcode::cancel;
        cancel.target_op = op;
        cancel.target_tag = tag_main;
        backend_->submit(cancel);
      }
    }
  } else {
    op->connect_result = c.result;
    // Connected or failed first: the timer has nothing left to end.
    if (!op->linked_deadline && (op->inflight_tags & (1u << tag_deadline))) {
      Request cancel;
      cancel.opcode = Opcode::cancel;
      cancel.target_op = op;
      cancel.target_tag = tag_deadline;
      backend_->submit(cancel);
    }
  }
  // The handler runs once the connect and its deadline are both back.
  if (op->inflight_tags != 0) return;
  Outcome outcome;
  const int result = op->connect_result;
  if (result == 0 && !op->cancel_requested) {
    outcome.socket = Socket{op->handle};
  } else {
    if (op->cancel_requested || result == 0) outcome.error = canceled;
    else if (op->timed_out && result == -ECANCELED) outcome.error = std::make_error_code(std::errc::timed_out);
    else if (result == -ECANCELED) outcome.error = canceled;
    else outcome.error = from_result(result);
    // The socket is the engine's to close; it goes once this op lets go.
    if (!closed_under(op)) retire_slot(op->handle.slot, nullptr);
  }
  finish(op, outcome);
}

// -------------------------------------------------------------------- recv --

OpId EngineCore::start_recv(Socket socket, Handler handler) noexcept {
  Op* op = new_op(OpKind::recv, std::move(handler));
  if (op == nullptr) return not_started();
  op->handle = socket;
  if (slot_of(socket) == nullptr) {
    fail_soon(op, std::make_error_code(std::errc::bad_file_descriptor));
    return id_of(op);
  }
  if (receive_running(socket)) {
    fail_soon(op, make_error_code(error::receive_in_progress));
    return id_of(op);
  }
  fds_.at(socket.slot).receiver = op;
  if (!caps_.multishot_recv || !caps_.buf_ring) ++stats_.fallbacks;
  submit_recv(op);
  return id_of(op);
}

void EngineCore::submit_recv(Op* op) noexcept {
  if (op->cancel_requested || closed_under(op)) {
    finish(op, canceled);
    return;
  }
  if (op->recv_paused) return;  // resume() goes on from here
  Request r;
  r.opcode = Opcode::recv;
  r.fd = target_of(op->handle);
  r.len = std::uint32_t(pool_->buffer_size());
  if (caps_.buf_ring) {
    r.use_buf_ring = true;
    r.multishot = caps_.multishot_recv;
  } else {
    // Core picks the buffer. First wait until the socket is readable, holding
    // no buffer: otherwise idle connections would hold every receive buffer
    // and the busy ones could never receive (thousands of connections share
    // a few hundred buffers).
    if (!op->readable) {
      Request poll;
      poll.opcode = Opcode::poll_in;
      poll.fd = r.fd;
      op->polling = true;
      submit(op, poll, tag_main);
      return;
    }
    // None free: wait for one (bounded memory: a slow consumer pauses its
    // receivers instead of growing a queue).
    if (recv_free_.empty()) {
      ++stats_.recv_starved;
      starved_.push(op);
      return;
    }
    std::uint32_t id = recv_free_.back();
    recv_free_.pop_back();
    op->readable = false;  // after this recv, poll again
    r.addr = pool_->data(id);
    op->buffer = std::int32_t(id);  // the op holds it until the completion
  }
  submit(op, r, tag_main);
}

void EngineCore::on_recv(Op* op, const Completion& c) noexcept {
  bool more = c.flags & completion_more;
  // A final completion of the request pause() cancelled: whatever it says,
  // that cancel has nothing left to end.
  const bool paused_end = op->pause_cancel && !more && !op->cancel_requested;
  if (!more) op->pause_cancel = false;
  if (op->polling) {
    op->polling = false;
    if (paused_end && c.result == -ECANCELED) {
      continue_recv(op);
    } else if (c.result >= 0 || (c.result != -ECANCELED && !op->cancel_requested)) {
      op->readable = true;  // the recv that follows reports data, eof or the error
      submit_recv(op);
    } else {
      finish(op, canceled);
    }
    return;
  }
  // Which receive buffer holds the data: the backend's pick (buf_ring), or
  // the one core picked and parked in the op.
  // With incremental consumption (caps.buf_ring_inc) the bytes are a slice
  // of the buffer, and the backend may keep filling it (buffer_more): then
  // it stays in the ring and in recv_available_.
  std::int32_t id = -1;
  std::uint32_t offset = 0;
  bool backend_keeps = false;
  if (caps_.buf_ring) {
    if (c.flags & completion_buffer) {
      id = std::int32_t(c.buffer_id);
      offset = c.buffer_offset;
      backend_keeps = c.flags & completion_buffer_more;
      if (!backend_keeps) --recv_available_;
    }
  } else {
    id = op->buffer;
    op->buffer = -1;
  }
  bool has_buffer = id >= 0;
  if (c.result > 0 && has_buffer) {
    stats_.bytes_in += std::uint64_t(c.result);
    Buffer chunk = pool_->lease_received(std::uint32_t(id), offset, std::size_t(c.result), backend_keeps);
    if (op->recv_paused || op->held_count > 0) {
      // Paused (or chunks held before this one still to hand out): keep it,
      // in order, for resume().
      hold_chunk(op, std::move(chunk), std::size_t(c.result));
      if (!more && op->inflight_tags == 0) continue_recv(op);
      return;
    }
    Outcome outcome;
    outcome.bytes = std::size_t(c.result);
    outcome.buffer = std::move(chunk);
    op->handler(outcome);
    if (!more && op->inflight_tags == 0) submit_recv(op);
    return;
  }
  // No payload: an unused buffer goes straight back (unless the backend
  // still fills it).
  if (has_buffer) pool_->received_nothing(std::uint32_t(id), backend_keeps);
  if (more) return;
  if (op->recv_paused && !op->cancel_requested && !closed_under(op)) {
    // The request ended while paused: by pause()'s cancel, a dry buffer
    // ring, or the stream's end or an error, which resume() reports after
    // the held chunks.
    if (c.result == 0) op->first_error = make_error_code(error::eof);
    else if (c.result < 0 && c.result != -ECANCELED && c.result != -ENOBUFS && !retryable(c.result))
      op->first_error = from_result(c.result);
    return;
  }
  if (paused_end && c.result == -ECANCELED && !closed_under(op)) {
    continue_recv(op);  // resumed before the cancel came back
    return;
  }
  // The ring ran dry. A recv whose socket was closed meanwhile (its cancel
  // may reach the kernel after this: SQPOLL) ends here; it must not wait in
  // starved_ for buffers that its own consumer may be holding.
  if (c.result == -ENOBUFS && !op->cancel_requested && !closed_under(op)) {
    // The provided-buffer ring ran dry. Handlers earlier in this batch may
    // already have given buffers back (reap first, dispatch second): then go
    // on at once; otherwise resume when a buffer comes back.
    if (recv_available_ > 0) {
      submit_recv(op);
    } else {
      ++stats_.recv_starved;
      starved_.push(op);
    }
    return;
  }
  if (c.result == 0) finish(op, make_error_code(error::eof));
  else if (c.result == -ECANCELED || op->cancel_requested || closed_under(op)) finish(op, canceled);
  else if (retryable(c.result)) submit_recv(op);
  else finish(op, from_result(c.result));
}

// ------------------------------------------------------------ pause, resume --

bool EngineCore::pause_recv(OpId id) noexcept {
  Op* op = ops_.lookup(id);
  if (op == nullptr || op->kind != OpKind::recv || op->handler_done || op->deferred_error) return false;
  if (op->recv_paused) return true;
  op->recv_paused = true;
  // Waiting for a receive buffer: it simply stops waiting.
  if (starved_.remove(op)) return true;
  // Take the request back; the bytes it has not taken stay in the socket.
  if ((op->inflight_tags & (1u << tag_main)) && !op->pause_cancel) {
    op->pause_cancel = true;
    Request r;
    r.opcode = Opcode::cancel;
    r.target_op = op;
    r.target_tag = tag_main;
    backend_->submit(r);
  }
  return true;
}

bool EngineCore::resume_recv(OpId id) noexcept {
  Op* op = ops_.lookup(id);
  if (op == nullptr || op->kind != OpKind::recv || op->handler_done || !op->recv_paused) return false;
  op->recv_paused = false;
  if (op->deferred_error) return true;  // already ending (cancel, close)
  continue_recv(op);
  return true;
}

void EngineCore::continue_recv(Op* op) noexcept {
  if (op->recv_paused || op->resume_queued) return;
  if (op->held_count > 0 || op->first_error || op->cancel_requested || closed_under(op)) {
    // Handlers run from the loop (run_resumed), never inside resume().
    op->resume_queued = true;
    resumed_.push(op);
    return;
  }
  // The request is still on its way back (pause()'s cancel): its completion
  // goes on from there.
  if (op->inflight_tags == 0) submit_recv(op);
}

void EngineCore::hold_chunk(Op* op, Buffer chunk, std::size_t bytes) noexcept {
  // As many entries as receive buffers fit the reserve; with incremental
  // buffer consumption (several chunks per buffer) a long pause may grow it.
  held_.push_back({op, std::move(chunk), std::uint32_t(bytes)});
  ++op->held_count;
}

void EngineCore::deliver_held(Op* op, bool all) noexcept {
  std::size_t i = 0;
  while (op->held_count > 0 && i < held_.size()) {
    if (!all && op->recv_paused) return;  // paused (again) before this chunk: keep it
    if (held_[i].op != op) {
      ++i;
      continue;
    }
    HeldChunk chunk = std::move(held_[i]);
    held_.erase(held_.begin() + std::ptrdiff_t(i));
    --op->held_count;
    Outcome outcome;
    outcome.bytes = chunk.bytes;
    outcome.buffer = std::move(chunk.buffer);
    op->handler(outcome);
  }
}

std::size_t EngineCore::run_resumed() noexcept {
  std::size_t ran = 0;
  while (Op* op = resumed_.pop()) {
    op->resume_queued = false;
    ++ran;
    if (op->handler_done) continue;
    if (op->cancel_requested || closed_under(op)) {
      if (op->inflight_tags == 0 && !op->deferred_error) finish(op, canceled);  // held chunks first
      continue;
    }
    deliver_held(op, false);
    if (op->recv_paused || op->handler_done) continue;
    if (op->held_count == 0 && op->first_error) {
      std::error_code end = op->first_error;
      finish(op, end);
    } else if (op->inflight_tags == 0) {
      submit_recv(op);
    }
  }
  return ran;
}

// ------------------------------------------ recv_some, recv_exactly (recv_into) --

OpId EngineCore::start_recv_into(Socket socket, std::span<std::byte> into, Handler handler, bool exactly) noexcept {
  Op* op = new_op(OpKind::recv_into, std::move(handler));
  if (op == nullptr) return not_started();
  op->handle = socket;
  op->exactly = exactly;
  op->data = into.data();
  op->length = into.size();
  if (slot_of(socket) == nullptr) {
    fail_soon(op, std::make_error_code(std::errc::bad_file_descriptor));
  } else if (receive_running(socket)) {
    fail_soon(op, make_error_code(error::receive_in_progress));
  } else if (into.empty()) {
    // A 0-byte read could only report 0 bytes, which means "end of stream"
    // everywhere else: refuse it rather than make 0 ambiguous.
    fail_soon(op, std::make_error_code(std::errc::invalid_argument));
  } else {
    submit_recv_into(op);
  }
  return id_of(op);
}

void EngineCore::submit_recv_into(Op* op) noexcept {
  if (op->cancel_requested || closed_under(op)) {
    finish(op, canceled, op->done);
    return;
  }
  Request r;
  r.opcode = Opcode::recv;
  r.fd = target_of(op->handle);
  // The caller's memory, not a pool buffer: the kernel writes straight into it.
  r.addr = const_cast<std::byte*>(op->data + op->done);
  r.len = std::uint32_t(std::min(op->length - op->done, max_request_bytes));
  submit(op, r, tag_main);
}

void EngineCore::on_recv_into(Op* op, const Completion& c) noexcept {
  if (c.result > 0) {
    op->done += std::size_t(c.result);
    stats_.bytes_in += std::uint64_t(c.result);
    if (op->exactly && op->done < op->length) submit_recv_into(op);
    else finish(op, {}, op->done);
    return;
  }
  if (c.result == 0) {
    // The peer closed before the span was full: eof if nothing came at all,
    // else the bytes that did come, flagged as short.
    finish(op, make_error_code(op->done == 0 ? error::eof : error::transfer_incomplete), op->done);
  } else if (c.result == -ECANCELED || op->cancel_requested || closed_under(op)) {
    finish(op, canceled, op->done);
  } else if (c.result == -EINTR || c.result == -EAGAIN) {
    submit_recv_into(op);
  } else {
    finish(op, from_result(c.result), op->done);
  }
}

// ------------------------------------------------------ send, send_zc, write --

OpId EngineCore::start_send(Socket socket, std::span<const std::byte> data, Handler handler,
                            unsigned flags) noexcept {
  Op* op = new_op(OpKind::send, std::move(handler));
  if (op == nullptr) return not_started();
  op->handle = socket;
  op->send_more = flags & send_more;
  op->data = data.data();
  op->length = data.size();
  if (take_write_turn(op, socket)) submit_out_chunk(op);
  return id_of(op);
}

OpId EngineCore::start_sendv(Socket socket, std::span<const std::span<const std::byte>> pieces,
                              Handler handler, unsigned flags) noexcept {
  Op* op = new_op(OpKind::sendv, std::move(handler));
  if (op == nullptr) return not_started();
  op->handle = socket;
  op->send_more = flags & send_more;
  if (pieces.size() > max_gather) {
    fail_soon(op, std::make_error_code(std::errc::invalid_argument));
    return id_of(op);
  }
  for (const auto& piece : pieces) {
    op->pieces[op->piece_count++] = {const_cast<std::byte*>(piece.data()), piece.size()};
    op->length += piece.size();
  }
  if (take_write_turn(op, socket)) submit_out_chunk(op);
  return id_of(op);
}

// The iovecs still to send after `done` bytes, into op->message.
static std::size_t prepare_gather(Op* op) noexcept {
  std::size_t skip = op->done;
  std::size_t n = 0;
  std::size_t bytes = 0;
  for (std::uint32_t i = 0; i < op->piece_count; ++i) {
    iovec piece = op->pieces[i];
    if (skip >= piece.iov_len) {
      skip -= piece.iov_len;
      continue;
    }
    piece.iov_base = static_cast<std::byte*>(piece.iov_base) + skip;
    piece.iov_len -= skip;
    skip = 0;
    op->pending[n++] = piece;
    bytes += piece.iov_len;
  }
  op->message = {};
  op->message.msg_iov = op->pending;
  op->message.msg_iovlen = n;
  return bytes;
}

OpId EngineCore::start_send_zc(Socket socket, Buffer buffer, Handler handler) noexcept {
  Op* op = new_op(OpKind::send_zc, std::move(handler));
  if (op == nullptr) return not_started();  // the lease goes back to the pool with `buffer`
  op->handle = socket;
  // From here until the last notification the buffer is the engine's.
  if (!take_buffer(op, buffer)) return id_of(op);
  if (!caps_.send_zc) ++stats_.fallbacks;
  if (take_write_turn(op, socket)) submit_out_chunk(op);
  return id_of(op);
}

OpId EngineCore::start_write(FdRef handle, std::int64_t offset, Buffer buffer, Handler handler) noexcept {
  Op* op = new_op(OpKind::write, std::move(handler));
  if (op == nullptr) return not_started();
  op->handle = handle;
  op->offset_out = offset;
  if (!take_buffer(op, buffer)) return id_of(op);
  if (!caps_.fixed_buffers) ++stats_.fallbacks;
  if (take_write_turn(op, handle)) submit_out_chunk(op);
  return id_of(op);
}

void EngineCore::submit_out_chunk(Op* op) noexcept {
  if (op->cancel_requested || (op->done > 0 && closed_under(op))) {
    finish(op, canceled, op->done);
    return;
  }
  FdSlot* slot = slot_of(op->handle);
  if (slot == nullptr) {
    // Not from inside the starting call: fail_soon keeps handlers out of it.
    fail_soon(op, std::make_error_code(std::errc::bad_file_descriptor));
    return;
  }
  Request r;
  r.fd = target_of(op->handle);
  r.addr = const_cast<std::byte*>(op->data + op->done);
  r.len = std::uint32_t(std::min(op->length - op->done, max_request_bytes));
  bool fixed = caps_.fixed_buffers && op->buffer >= 0;
  switch (op->kind) {
    case OpKind::send_zc:
      if (caps_.send_zc && !op->zc_by_copy) {
        r.opcode = Opcode::send_zc;
        r.buf_index = fixed ? op->buffer : -1;
        ++stats_.zc_sends;
      } else {
        r.opcode = Opcode::send;
      }
      r.flags = MSG_NOSIGNAL;
      break;
    case OpKind::sendv:
      r.opcode = Opcode::sendmsg;
      r.len = std::uint32_t(std::min(prepare_gather(op), max_request_bytes));
      r.addr = &op->message;
      r.flags = MSG_NOSIGNAL | (op->send_more ? MSG_MORE : 0);
      break;
    case OpKind::write:
      r.opcode = slot->is_socket ? Opcode::send : Opcode::write;
      r.flags = slot->is_socket ? MSG_NOSIGNAL : 0;
      r.offset = op->offset_out >= 0 ? op->offset_out + std::int64_t(op->done) : -1;
      r.buf_index = fixed && !slot->is_socket ? op->buffer : -1;
      r.fifo = slot->is_fifo;
      break;
    default:
      r.opcode = Opcode::send;
      r.flags = MSG_NOSIGNAL | (op->send_more ? MSG_MORE : 0);
      break;
  }
  submit(op, r, tag_main);
}

void EngineCore::on_out(Op* op, const Completion& c) noexcept {
  if (op->kind == OpKind::send_zc && (c.flags & completion_more)) ++op->pending_notifs;
  if (c.result > 0) {
    op->done += std::size_t(c.result);
    stats_.bytes_out += std::uint64_t(c.result);
    if (op->done < op->length) {
      ++stats_.short_sends;
      submit_out_chunk(op);
      return;
    }
    finish(op, {}, op->done);
    return;
  }
  if (c.result == 0 && op->length > 0) {
    finish(op, std::make_error_code(std::errc::io_error), op->done);
  } else if (c.result == -ECANCELED || (op->cancel_requested && c.result < 0)) {
    finish(op, canceled, op->done);
  } else if (c.result == -EINTR || c.result == -EAGAIN) {
    submit_out_chunk(op);
  } else if (op->kind == OpKind::send_zc && !op->zc_by_copy && (c.result == -ENOBUFS || c.result == -ENOMEM)) {
    // The kernel would not pin the pages: over the socket's optmem
    // (MSG_ZEROCOPY) or RLIMIT_MEMLOCK without CAP_IPC_LOCK (MSG_ZEROCOPY, and
    // io_uring's SEND_ZC from unregistered memory). Nothing was sent; a copy
    // needs neither. The rest of this send goes by copy; the next send_zc
    // tries zero-copy again (the pinned pages may be back by then).
    op->zc_by_copy = true;
    ++stats_.fallbacks;
    submit_out_chunk(op);
  } else {
    finish(op, from_result(c.result), op->done);
  }
}

void EngineCore::on_zc_notification(Op* op, const Completion& c) noexcept {
  if (c.flags & completion_zc_copied) ++stats_.zc_copied;
  --op->pending_notifs;
  release_if_idle(op);
}

}  // namespace ringxfer::detail
