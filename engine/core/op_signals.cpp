// signals(): a signalfd watched with poll_in on both backends and read here,
// on the engine's thread. Reading in core (not by the backend's read request)
// keeps the reader the engine's own thread: a signalfd returns the signals
// pending for the thread that reads it (its own and the process's), so a read
// issued by an io_uring worker thread would miss those sent to this thread.
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

#include "core/engine_core.hpp"

namespace ringxfer::detail {

namespace {
const std::error_code canceled = std::make_error_code(std::errc::operation_canceled);
}

OpId EngineCore::start_signals(std::span<const int> signos, Handler handler) noexcept {
  Op* op = new_op(OpKind::signals, std::move(handler));
  if (op == nullptr) return not_started();
  sigset_t set;
  sigemptyset(&set);
  for (int signo : signos) {
    if (signo == SIGKILL || signo == SIGSTOP || sigaddset(&set, signo) != 0) {
      fail_soon(op, std::make_error_code(std::errc::invalid_argument));
      return id_of(op);
    }
  }
  if (signos.empty()) {
    fail_soon(op, std::make_error_code(std::errc::invalid_argument));
    return id_of(op);
  }
  // Only a blocked signal waits in the queue a signalfd reads (engine.hpp).
  ++stats_.syscalls;
  if (int e = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); e != 0) {
    fail_soon(op, std::error_code(e, std::system_category()));
    return id_of(op);
  }
  ++stats_.syscalls;
  int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) {
    fail_soon(op, std::error_code(errno, std::system_category()));
    return id_of(op);
  }
  // Registered as it is (non-blocking on both backends: core reads it until
  // EAGAIN), not through adopt(), which would make it blocking on io_uring.
  FdRef ref;
  if (auto ec = register_fd(fd, false, ref)) {
    ::close(fd);
    fail_soon(op, ec);
    return id_of(op);
  }
  op->handle = ref;
  submit_signal_wait(op);
  return id_of(op);
}

void EngineCore::submit_signal_wait(Op* op) noexcept {
  Request r;
  r.opcode = Opcode::poll_in;
  r.fd = target_of(op->handle);
  submit(op, r, tag_main);
}

void EngineCore::end_signals(Op* op, std::error_code error) noexcept {
  // The signalfd is the engine's: it goes once this op lets go of it.
  if (!closed_under(op)) retire_slot(op->handle.slot, nullptr);
  finish(op, error);
}

void EngineCore::on_signals(Op* op, const Completion& c) noexcept {
  if (op->cancel_requested || closed_under(op) || c.result == -ECANCELED) {
    end_signals(op, canceled);
    return;
  }
  if (c.result < 0 && c.result != -EINTR && c.result != -EAGAIN) {
    end_signals(op, from_result(c.result));
    return;
  }
  const int fd = fds_.at(op->handle.slot).fd;
  // Every signal pending now, one handler call each; a handler may cancel.
  while (!op->cancel_requested) {
    signalfd_siginfo info;
    ++stats_.syscalls;
    ssize_t n = ::read(fd, &info, sizeof info);
    if (n < 0 && errno == EINTR) continue;
    if (n != ssize_t(sizeof info)) break;  // EAGAIN: none left
    Outcome outcome;
    outcome.bytes = info.ssi_signo;
    op->handler(outcome);
  }
  if (op->cancel_requested) end_signals(op, canceled);
  else submit_signal_wait(op);
}

}  // namespace ringxfer::detail
