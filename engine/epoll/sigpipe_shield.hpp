#pragma once
// SigpipeShield: splice(2) and sendfile(2) into a socket whose write side is
// dead (reset, shut down) fail with EPIPE *and* send SIGPIPE to the calling
// thread; neither takes MSG_NOSIGNAL, and Linux has no SO_NOSIGPIPE. A library
// must not change the process's signal dispositions, so the epoll backend
// blocks SIGPIPE in its own thread around such calls and, when a call fails
// with EPIPE, takes the signal that call raised (a zero-timeout sigtimedwait:
// the thread's private queue is searched first, so a process-wide SIGPIPE
// pending meanwhile is left alone).
//
// Cost: one rt_sigprocmask to block and one to restore per wait() turn that
// makes such calls (submit() leaves them to the next wait(), so every call of
// a turn shares the pair: no program code runs in between), or per call when
// the fd cannot be waited on. One sigtimedwait per EPIPE. A thread that blocks
// SIGPIPE itself pays a sigpending per call instead of the restore: if a
// SIGPIPE was already pending, the one our call raised merged into it, and
// nothing is taken (the program's signal is never lost).
#include <signal.h>

#include "ringxfer/stats.hpp"

namespace ringxfer::detail {

class SigpipeShield {
 public:
  explicit SigpipeShield(Stats& stats) noexcept;
  ~SigpipeShield() { lower(); }
  SigpipeShield(const SigpipeShield&) = delete;
  SigpipeShield& operator=(const SigpipeShield&) = delete;

  // Before a call that may raise SIGPIPE: block it in this thread (unless it
  // is already blocked).
  void before() noexcept;
  // After that call, with its result (or -errno): take the SIGPIPE it raised.
  void after(long result) noexcept;
  // Give the thread its mask back. Cheap when nothing is blocked.
  void lower() noexcept {
    if (up_) restore();
  }

 private:
  void restore() noexcept;
  void count() noexcept {
    ++stats_.syscalls;
    ++stats_.sigpipe_syscalls;
  }

  Stats& stats_;
  sigset_t pipe_only_;
  bool up_ = false;               // before() ran since the last lower()
  bool blocked_by_program_ = false;  // SIGPIPE was blocked already: never unblock it
  bool pending_before_ = false;   // a SIGPIPE was pending before the current call
};

}  // namespace ringxfer::detail
