// splice: length bytes from a source to a sink, by the best path the backend
// has:
//   - file -> pipe -> socket (or socket -> pipe -> socket) as two linked
//     requests when the backend links (io_uring); a short first half breaks the
//     link, and the bytes already in the pipe are pushed out next round;
//   - one request at a time where it does not (epoll);
//   - sendfile(2) for file -> socket where the backend has it (epoll);
//   - a copy through one pool buffer where splice is missing or disabled.
// Every step continues exactly where the last one stopped (invariant 3).
#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "core/engine_core.hpp"

namespace ringxfer::detail {

namespace {

const std::error_code canceled = std::make_error_code(std::errc::operation_canceled);
constexpr std::size_t max_request_bytes = std::size_t(INT_MAX) & ~std::size_t(4095);

std::int64_t at(std::int64_t base, std::size_t advance) noexcept {
  return base >= 0 ? base + std::int64_t(advance) : -1;
}

}  // namespace

OpId EngineCore::start_splice(FdRef src, std::int64_t src_offset, FdRef dst, std::int64_t dst_offset,
                              std::size_t length, Handler handler, unsigned flags) noexcept {
  Op* op = new_op(OpKind::splice, std::move(handler));
  if (op == nullptr) return not_started();
  op->pipe_only = flags & splice_pipe_only;
  op->until_idle = (flags & splice_until_idle) && length == until_eof;
  op->pipe_no_wait = flags & splice_no_wait;
  op->handle = src;
  op->handle_out = dst;
  op->offset = src_offset;
  op->offset_out = dst_offset;
  op->length = length;
  FdSlot* in = slot_of(src);
  FdSlot* out = slot_of(dst);
  if (in == nullptr || out == nullptr) {
    fail_soon(op, std::make_error_code(std::errc::bad_file_descriptor));
    return id_of(op);
  }
  if (receive_running(src)) {
    fail_soon(op, make_error_code(error::receive_in_progress));
    return id_of(op);
  }
  if (length == 0) {  // nothing to move; still completes from the loop
    fail_soon(op, {});
    return id_of(op);
  }
  if (take_write_turn(op, dst)) begin_splice(op);
  return id_of(op);
}

void EngineCore::begin_splice(Op* op) noexcept {
  FdSlot* in = slot_of(op->handle);
  FdSlot* out = slot_of(op->handle_out);
  if (in == nullptr || out == nullptr) {  // closed while it waited for its turn or a pipe
    fail_soon(op, canceled);
    return;
  }
  bool use_sendfile = caps_.sendfile && !op->pipe_only && !in->is_socket && out->is_socket && op->offset >= 0;
  if (!caps_.splice) {
    ++stats_.fallbacks;
    Buffer b = pool_->acquire();
    if (!b) {
      fail_soon(op, make_error_code(error::no_free_buffer));
      return;
    }
    op->buffer = std::int32_t(pool_->detach(b));
  } else if (!use_sendfile) {
    op->pipe = pipes_->acquire();
    if (op->pipe < 0 && (pipes_->lent() == 0 || op->pipe_no_wait)) {
      // None exists and none will come back, or the caller would rather copy.
      fail_soon(op, make_error_code(error::no_free_pipe));
      return;
    }
    if (op->pipe < 0) {
      // Every pipe is lent out: wait for one (FIFO) rather than fail. A pipe
      // comes back whenever a splice ends, so the wait is bounded by theirs.
      ++stats_.pipe_waits;
      pipe_waiters_.push(op);
      return;
    }
  }
  splice_step(op);
}

void EngineCore::splice_step(Op* op) noexcept {
  std::size_t remaining = op->length == until_eof ? max_request_bytes : op->length - op->done;
  bool want_more = remaining > 0 && !op->source_eof && !op->went_short;
  if (op->first_error || op->cancel_requested) {
    splice_done(op);
    return;
  }
  FdSlot* in = slot_of(op->handle);
  FdSlot* out = slot_of(op->handle_out);
  if (in == nullptr || out == nullptr) {
    if (op->first_error == std::error_code()) op->first_error = canceled;  // closed under us
    splice_done(op);
    return;
  }
  Request r;
  r.fd = target_of(op->handle);
  r.fd_out = target_of(op->handle_out);

  if (op->buffer >= 0) {  // copy fallback through one pool buffer
    std::byte* base = pool_->data(std::uint32_t(op->buffer));
    if (op->chunk_done < op->chunk) {
      r.fd = r.fd_out;
      r.opcode = out->is_socket ? Opcode::send : Opcode::write;
      r.fifo = out->is_fifo;
      r.flags = out->is_socket ? MSG_NOSIGNAL : 0;
      r.addr = base + op->chunk_done;
      r.len = std::uint32_t(op->chunk - op->chunk_done);
      r.offset = at(op->offset_out, op->done);
      submit(op, r, tag_copy_out);
    } else if (want_more) {
      r.opcode = in->is_socket ? Opcode::recv : Opcode::read;
      r.addr = base;
      r.len = std::uint32_t(std::min(remaining, pool_->buffer_size()));
      r.offset = at(op->offset, op->done);
      op->asked_in = r.len;
      submit(op, r, tag_copy_in);
    } else {
      splice_done(op);
    }
    return;
  }

  if (op->pipe < 0) {  // sendfile: file -> socket in one request
    if (!want_more) {
      splice_done(op);
      return;
    }
    r.opcode = Opcode::sendfile;
    r.offset = at(op->offset, op->done);
    r.len = std::uint32_t(std::min(remaining, max_request_bytes));
    submit(op, r, tag_main);
    return;
  }

  const Pipe& pipe = pipes_->at(op->pipe);
  Request drain;
  drain.opcode = Opcode::splice;
  drain.fd = Target{pipe.read_fd, -1};
  drain.fd_out = r.fd_out;
  drain.flags = SPLICE_F_MOVE;
  drain.offset_out = at(op->offset_out, op->done);
  // More of this splice follows the bytes now in the pipe: SPLICE_F_MORE
  // keeps the kernel from pushing a partial segment between chunks.
  auto more_after = [&](std::size_t chunk) {
    return op->length != until_eof && op->done + chunk < op->length ? SPLICE_F_MORE : 0u;
  };
  if (op->in_pipe > 0) {
    drain.flags |= int(more_after(op->in_pipe));
    drain.len = std::uint32_t(op->in_pipe);
    submit(op, drain, tag_splice_out);
    return;
  }
  if (!want_more) {
    splice_done(op);
    return;
  }
  std::size_t chunk = std::min(remaining, pipes_->pipe_size());
  op->asked_in = chunk;
  r.opcode = Opcode::splice;
  r.fd_out = Target{pipe.write_fd, -1};
  r.flags = SPLICE_F_MOVE;
  r.offset = at(op->offset, op->done);
  r.len = std::uint32_t(chunk);
  if (in->is_socket && caps_.poll_first_splice) {
    // Poll first. io_uring runs every splice on an io-wq worker, and a
    // splice from a socket with nothing to read parks that worker in the
    // read until bytes come: with many idle relays, many parked workers, and
    // about 1 run in 8 of 20 000 small request/responses through 32 relays
    // stalled ~5 s (tests/test_relay_stall.cpp). Issued only once the socket
    // is readable, the splice finds its bytes at once. A socket rarely fills
    // the chunk, and a short splice would break a plain link, so the drain
    // hangs on a hard link and does not wait on an empty pipe
    // (SPLICE_F_NONBLOCK: -EAGAIN after an end of stream or an error).
    Request poll;
    poll.opcode = Opcode::poll_in;
    poll.fd = r.fd;
    poll.link = true;
    poll.chain_length = 3;
    submit(op, poll, tag_poll);
    r.hardlink = true;
    submit(op, r, tag_splice_in);
    drain.flags |= int(more_after(chunk)) | SPLICE_F_NONBLOCK;
    drain.len = std::uint32_t(chunk);
    submit(op, drain, tag_splice_out);
    return;
  }
  r.link = caps_.linked_ops;
  submit(op, r, tag_splice_in);
  if (caps_.linked_ops) {
    drain.flags |= int(more_after(chunk));
    drain.len = std::uint32_t(chunk);
    submit(op, drain, tag_splice_out);
  }
}

void EngineCore::on_splice(Op* op, const Completion& c) noexcept {
  int res = c.result;
  bool link_broken = res == -ECANCELED && !op->cancel_requested && c.tag == tag_splice_out;
  if (res < 0 && res != -EINTR && res != -EAGAIN && !link_broken && !op->first_error) {
    op->first_error = res == -ECANCELED ? canceled : from_result(res);
  }
  if (res >= 0) {
    std::size_t n = std::size_t(res);
    switch (c.tag) {
      case tag_main:  // sendfile
      case tag_splice_out:
      case tag_copy_out:
        if (n == 0 && c.tag != tag_main) {
          op->first_error = std::make_error_code(std::errc::io_error);
          break;
        }
        if (n == 0) op->source_eof = true;
        op->done += n;
        stats_.bytes_out += n;
        if (c.tag == tag_splice_out) {
          if (n < op->in_pipe) ++stats_.short_sends;
          op->in_pipe -= std::min(n, op->in_pipe);
        }
        if (c.tag == tag_copy_out) {
          op->chunk_done += n;
          if (op->chunk_done == op->chunk) op->chunk = op->chunk_done = 0;
        }
        break;
      case tag_splice_in:
        if (n == 0) op->source_eof = true;
        if (op->until_idle && n < op->asked_in) op->went_short = true;
        op->in_pipe += n;
        break;
      case tag_copy_in:
        if (n == 0) op->source_eof = true;
        if (op->until_idle && n < op->asked_in) op->went_short = true;
        op->chunk = n;
        op->chunk_done = 0;
        break;
      default:
        break;
    }
  }
  if (op->inflight_tags == 0) splice_step(op);
}

void EngineCore::splice_done(Op* op) noexcept {
  if (op->inflight_tags != 0) return;  // the other half still runs; its completion comes back here
  std::error_code ec = op->first_error;
  if (!ec && op->cancel_requested && op->done < op->length) ec = canceled;
  if (!ec && op->length != until_eof && op->done < op->length) ec = make_error_code(error::transfer_incomplete);
  finish(op, ec, op->done);
}

}  // namespace ringxfer::detail
