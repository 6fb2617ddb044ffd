// read, timeout, shutdown, close results.
#include <sys/socket.h>

#include <cerrno>
#include <utility>

#include "core/engine_core.hpp"

namespace ringxfer::detail {

namespace {
const std::error_code canceled = std::make_error_code(std::errc::operation_canceled);
}

OpId EngineCore::start_read(FdRef handle, std::int64_t offset, Buffer buffer, Handler handler) noexcept {
  Op* op = new_op(OpKind::read, std::move(handler));
  if (op == nullptr) return not_started();
  op->handle = handle;
  op->offset = offset;
  if (!take_buffer(op, buffer)) return id_of(op);
  FdSlot* slot = slot_of(handle);
  if (slot == nullptr) {
    fail_soon(op, std::make_error_code(std::errc::bad_file_descriptor));
    return id_of(op);
  }
  if (receive_running(handle)) {
    fail_soon(op, make_error_code(error::receive_in_progress));
    return id_of(op);
  }
  bool fixed = caps_.fixed_buffers;
  if (!fixed) ++stats_.fallbacks;
  Request r;
  r.opcode = slot->is_socket ? Opcode::recv : Opcode::read;
  r.fd = target_of(handle);
  r.offset = offset;
  r.addr = const_cast<std::byte*>(op->data);  // the lease's bytes (a receive chunk: only its own)
  r.len = std::uint32_t(op->buffer_capacity);
  r.buf_index = op->buffer;  // recv: echoed back; read: the fixed-buffer index
  if (r.opcode == Opcode::read && !fixed) r.buf_index = -1;
  submit(op, r, tag_main);
  return id_of(op);
}

void EngineCore::on_read(Op* op, const Completion& c) noexcept {
  if (c.result >= 0) {
    stats_.bytes_in += std::uint64_t(c.result);
    finish(op, {}, std::size_t(c.result));
  } else {
    finish(op, c.result == -ECANCELED ? canceled : from_result(c.result), 0);
  }
}

OpId EngineCore::start_timeout(std::chrono::nanoseconds after, Handler handler) noexcept {
  Op* op = new_op(OpKind::timeout, std::move(handler));
  if (op == nullptr) return not_started();
  if (after.count() < 0) after = std::chrono::nanoseconds::zero();
  op->timespec.tv_sec = after.count() / 1'000'000'000;
  op->timespec.tv_nsec = after.count() % 1'000'000'000;
  Request r;
  r.opcode = Opcode::timeout;
  r.timespec = &op->timespec;
  submit(op, r, tag_main);
  return id_of(op);
}

OpId EngineCore::start_shutdown(Socket socket, int how, Handler handler) noexcept {
  Op* op = new_op(OpKind::shutdown, std::move(handler));
  if (op == nullptr) return not_started();
  op->handle = socket;
  op->offset = how;
  if (slot_of(socket) == nullptr) {
    fail_soon(op, std::make_error_code(std::errc::bad_file_descriptor));
    return id_of(op);
  }
  // Shutting down the write side comes after the writes started before it
  // (invariant 9): a FIN must not overtake bytes still queued.
  if (how != SHUT_RD && !take_write_turn(op, socket)) return id_of(op);
  submit_shutdown(op);
  return id_of(op);
}

OpId EngineCore::start_wait_readable(Socket socket, Handler handler) noexcept {
  Op* op = new_op(OpKind::wait_readable, std::move(handler));
  if (op == nullptr) return not_started();
  op->handle = socket;
  if (slot_of(socket) == nullptr) {
    fail_soon(op, std::make_error_code(std::errc::bad_file_descriptor));
    return id_of(op);
  }
  Request r;
  r.opcode = Opcode::poll_in;
  r.fd = target_of(socket);
  submit(op, r, tag_main);
  return id_of(op);
}

void EngineCore::submit_shutdown(Op* op) noexcept {
  if (slot_of(op->handle) == nullptr) {
    fail_soon(op, canceled);  // closed while it waited for its turn
    return;
  }
  Request r;
  r.opcode = Opcode::shutdown;
  r.fd = target_of(op->handle);
  r.flags = int(op->offset);
  submit(op, r, tag_main);
}

void EngineCore::on_simple(Op* op, const Completion& c) noexcept {
  std::error_code ec;
  if (op->kind == OpKind::timeout) {
    // A timeout "fails" with ETIME when it fires: that is its success.
    if (c.result != -ETIME && c.result < 0) ec = c.result == -ECANCELED ? canceled : from_result(c.result);
  } else {
    ec = c.result == -ECANCELED ? canceled : from_result(c.result);
  }
  // The fd is closed: only now may its slot take another.
  if (op->close_slot != invalid_slot) fds_.free(std::exchange(op->close_slot, invalid_slot));
  finish(op, ec);
}

}  // namespace ringxfer::detail
