#include "epoll/sigpipe_shield.hpp"

#include <pthread.h>

#include <cerrno>
#include <ctime>

namespace ringxfer::detail {

SigpipeShield::SigpipeShield(Stats& stats) noexcept : stats_(stats) {
  sigemptyset(&pipe_only_);
  sigaddset(&pipe_only_, SIGPIPE);
}

void SigpipeShield::before() noexcept {
  if (!up_) {
    sigset_t old;
    count();
    ::pthread_sigmask(SIG_BLOCK, &pipe_only_, &old);
    up_ = true;
    blocked_by_program_ = sigismember(&old, SIGPIPE) == 1;
  }
  pending_before_ = false;
  if (blocked_by_program_) {
    // While we hold SIGPIPE blocked ourselves no program code runs, and a
    // signal sent to the process meanwhile waits in the shared queue, which
    // sigtimedwait searches after ours. Only a thread that blocks SIGPIPE
    // itself can have one pending in its own queue before our call.
    sigset_t pending;
    count();
    ::sigpending(&pending);
    pending_before_ = sigismember(&pending, SIGPIPE) == 1;
  }
}

void SigpipeShield::after(long result) noexcept {
  if (result != -EPIPE || pending_before_) return;
  const timespec zero{};
  count();
  while (::sigtimedwait(&pipe_only_, nullptr, &zero) < 0 && errno == EINTR) count();
}

void SigpipeShield::restore() noexcept {
  up_ = false;
  if (blocked_by_program_) return;  // it was blocked before us: leave it so
  count();
  ::pthread_sigmask(SIG_UNBLOCK, &pipe_only_, nullptr);
}

}  // namespace ringxfer::detail
